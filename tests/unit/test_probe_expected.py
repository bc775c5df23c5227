"""The expected matrix follows Docker's rules, derived from what the hosts' Engine API
says (emulated engines on the fake fabric, their API answered in process).

The overlay cases put two engines in one swarm (a SwarmDirectory shared as in a
lab): a swarm network has the same ID on both hosts, so its endpoints share one
segment across hosts, and docker_gwbridge is a bridge with ICC off.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from apistate_helpers import fake_lab_state

from emulator.cnm.engine import Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.lab.dockerhost import DockerHost
from emulator.probes.expected import Expectations, lab_nodes, lab_sources
from emulator.swarm.cluster import SwarmDirectory

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}


class FakeLab:
    def __init__(self) -> None:
        directory = SwarmDirectory()
        addresses = {name: IPv4Address(f"192.0.2.{11 + i}") for i, name in enumerate(("h1", "h2"))}
        self.hosts = {name: DockerHost(name, Engine(name, FakeFabric(name), advertise=address,
                                                    swarm_directory=directory), address)
                      for name, address in addresses.items()}
        self.outside_address = IPv4Address("192.0.2.254")

    def host(self, name: str) -> DockerHost:
        return self.hosts[name]

    def node_pid(self, name: str) -> int:
        return {"h1": 1, "h2": 2, "outside": 3}[name]


def judge(lab: FakeLab, containers: list[str] | None = None):
    state = fake_lab_state(lab)
    sources = {n.name: n for n in lab_sources(state, containers=containers)}
    targets = {n.name: n for n in lab_nodes(state, containers=containers)
               if n.address is not None}
    expectations = Expectations(state)

    def reaches(src: str, dst: str, protocol: str = "icmp") -> bool:
        return expectations.reaches(sources[src], targets[dst], protocol)

    reaches.sources, reaches.targets = sources, targets  # type: ignore[attr-defined]
    return reaches


@pytest.fixture(scope="module")
def verdicts():
    lab = FakeLab()
    h1, h2 = lab.host("h1"), lab.host("h2")
    for name, kwargs in (("front", {}), ("back", {}), ("secret", {"internal": True}),
                         ("quiet", {"options": ICC_OFF})):
        h1.engine.create_network(NetworkRequest(name, **kwargs))
    h2.engine.create_network(NetworkRequest("front", subnet="10.21.0.0/24"))
    for name, network in (("f1", "front"), ("f2", "front"), ("b1", "back"), ("s1", "secret"),
                          ("s2", "secret"), ("q1", "quiet"), ("q2", "quiet"), ("n1", "none"),
                          ("x1", "host"), ("d1", "bridge")):
        h1.containers.run(name, network=network)
    h2.containers.run("g1", network="front")
    return judge(lab)


@pytest.mark.parametrize(("src", "dst", "expected"), [
    ("h1/f1", "h1/f2", True),       # one user bridge
    ("h1/f1", "h1/b1", False),      # two user bridges
    ("h1/b1", "h1/d1", False),      # user bridge vs default bridge
    ("h1/s1", "h1/s2", True),       # inside an internal network
    ("h1/s1", "outside", False),    # internal: no way out
    ("h1/s1", "h1", False),         # internal: no route to the host's underlay address
    ("h1/q1", "h1/q2", False),      # ICC off
    ("h1/q1", "outside", True),     # ICC off still goes out
    ("h1/n1", "h1/f1", False),      # none reaches nothing
    ("h1/x1", "h1/s1", True),       # host mode is the Docker host: reaches its containers
    ("h1", "h1/q1", True),
    ("h1/f1", "h2", True),          # masqueraded to another Docker host
    ("h1/f1", "h2/g1", False),      # another host's containers: no route
    ("h2/g1", "h1/f1", False),
    ("outside", "h1/f1", False),
    ("outside", "h1/x1", True),
])
def test_l3_rules(verdicts, src, dst, expected):
    assert verdicts(src, dst) is expected


@pytest.mark.parametrize(("src", "dst", "expected"), [
    ("h1/q1", "h1/q2", True),       # ICC off blocks IP, not ARP
    ("h1/f1", "h1/b1", False),
    ("h1", "h1/f1", True),          # the host has the gateway address on the bridge
    ("h1/f1", "h1", False),         # the host's underlay address is not on the bridge
    ("h2", "outside", True),
])
def test_arp_rules(verdicts, src, dst, expected):
    assert verdicts(src, dst, "arp") is expected


@pytest.fixture(scope="module")
def overlay_verdicts():
    """h1 manager, h2 worker; overlays ov1, ov2 and an internal one; a local bridge
    `lb` on each host; o1l on h1 on ov1 and lb (which gives it its gateway)."""
    lab = FakeLab()
    h1, h2 = lab.host("h1"), lab.host("h2")
    h1.engine.swarm_init()
    h2.engine.swarm_join(["192.0.2.11:2377"], h1.engine.swarm_join_token("worker"))
    for name, internal in (("ov1", False), ("ov2", False), ("ovi", True)):
        h1.networks.create(name, "overlay", attachable=True, internal=internal)
    for host in (h1, h2):
        host.networks.create("lb", "bridge")
    h1.containers.run("before", network="lb")  # not on an overlay: left out by the filter
    for host, name, networks in (
            (h1, "o1a", ["ov1"]), (h1, "o1c", ["ov1"]), (h2, "o1b", ["ov1"]),
            (h1, "o2a", ["ov2"]), (h2, "o2b", ["ov2"]), (h1, "i1", ["ovi"]),
            (h2, "i2", ["ovi"]), (h1, "o1l", ["ov1", "lb"]), (h2, "l2", ["lb"])):
        host.containers.run(name, networks=networks)
    chosen = [f"{h}/{n}" for h, n in (("h1", "o1a"), ("h1", "o1c"), ("h2", "o1b"),
                                      ("h1", "o2a"), ("h2", "o2b"), ("h1", "i1"), ("h2", "i2"),
                                      ("h1", "o1l"), ("h2", "l2"))]
    return judge(lab, chosen)


def test_overlay_nodes_are_the_chosen_containers_addresses(overlay_verdicts):
    targets = overlay_verdicts.targets
    assert "h1/before" not in overlay_verdicts.sources
    assert {"h1/o1a@ov1", "h1/o1a@docker_gwbridge", "h2/o1b@ov1",
            "h2/o1b@docker_gwbridge", "h1/i1", "h2/i2", "h1/o1l@ov1", "h1/o1l@lb"} <= set(targets)
    assert not any(t.startswith("h1/o1l@docker_gwbridge") for t in targets), (
        "a container with another gateway network gets no docker_gwbridge endpoint")
    assert targets["h1/o1a@ov1"].network.id == targets["h2/o1b@ov1"].network.id
    assert targets["h1/o1l@lb"].network.id != targets["h2/l2"].network.id


@pytest.mark.parametrize(("src", "dst", "expected"), [
    ("h1/o1a", "h2/o1b@ov1", True),             # one overlay across hosts
    ("h2/o1b", "h1/o1a@ov1", True),
    ("h1/o1a", "h1/o1c@ov1", True),             # one overlay on one host
    ("h1/o1a", "h2/o2b@ov2", False),            # two overlays
    ("h1/o1a", "h1/o2a@ov2", False),
    ("h2/o2b", "h1/o1a@ov1", False),
    ("h1/o1a", "h1/o1c@docker_gwbridge", False),  # docker_gwbridge: ICC off
    ("h1/o1a", "h1/o2a@docker_gwbridge", False),
    ("h1/o1a", "h2/o1b@docker_gwbridge", False),  # another host's gwbridge: no route
    ("h1/o1a", "h1", True),                     # out through docker_gwbridge
    ("h1/o1a", "h2", True),
    ("h1/o1a", "outside", True),
    ("h1/i1", "h2/i2", True),                   # internal overlay across hosts
    ("h1/i1", "outside", False),                # ... but no way out
    ("h1/i1", "h1", False),
    ("h1/o1l", "h2/o1b@ov1", True),             # dual-homed: overlay peers
    ("h1/o1l", "outside", True),                # and out through its bridge
    ("h1/o1a", "h1/o1l@lb", False),             # gwbridge to another bridge: dropped
    ("h2/l2", "h1/o1l@lb", False),              # same-named bridges on two hosts: apart
    ("h1", "h1/o1a@docker_gwbridge", True),     # the host is on its gwbridge
    ("h1", "h1/o1l@lb", True),
    ("h1", "h1/o1a@ov1", False),                # no host has an address on an overlay
    ("h2", "h2/o1b@ov1", False),
    ("h2", "h1/o1a@docker_gwbridge", False),
    ("outside", "h1/o1a@ov1", False),
    ("outside", "h2/o1b@docker_gwbridge", False),
])
def test_overlay_l3_rules(overlay_verdicts, src, dst, expected):
    assert overlay_verdicts(src, dst) is expected


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_overlay_rules_are_the_same_for_tcp_and_udp(overlay_verdicts, protocol):
    for src in overlay_verdicts.sources:
        for dst in overlay_verdicts.targets:
            assert overlay_verdicts(src, dst, protocol) is overlay_verdicts(src, dst)


@pytest.mark.parametrize(("src", "dst", "expected"), [
    ("h1/o1a", "h2/o1b@ov1", True),             # one layer-2 segment across hosts
    ("h1/i1", "h2/i2", True),
    ("h1/o1a", "h2/o2b@ov2", False),
    ("h1/o1a", "h1/o2a@ov2", False),
    ("h1/o1a", "h1/o2a@docker_gwbridge", True),  # ICC off blocks IP, not ARP
    ("h1/o1a", "h2/o1b@docker_gwbridge", False),  # gwbridges are per host
    ("h1", "h1/o1a@docker_gwbridge", True),
    ("h1", "h1/o1a@ov1", False),
    ("h2", "h2/o1b@ov1", False),
])
def test_overlay_arp_rules(overlay_verdicts, src, dst, expected):
    assert overlay_verdicts(src, dst, "arp") is expected
