"""The expected matrix follows Docker's rules, derived from CNM state (fake fabric)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from emulator.cnm.engine import Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.lab.dockerhost import DockerHost
from emulator.probes.expected import Expectations, lab_nodes, lab_sources

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}


class FakeLab:
    def __init__(self) -> None:
        self.hosts = {name: DockerHost(name, Engine(name, FakeFabric(name)),
                                       IPv4Address(f"192.0.2.{11 + i}"))
                      for i, name in enumerate(("h1", "h2"))}
        self.outside_address = IPv4Address("192.0.2.254")

    def host(self, name: str) -> DockerHost:
        return self.hosts[name]

    def node_pid(self, name: str) -> int:
        return {"h1": 1, "h2": 2, "outside": 3}[name]


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
    sources = {n.name: n for n in lab_sources(lab)}
    targets = {n.name: n for n in lab_nodes(lab) if n.address is not None}
    expectations = Expectations(lab)

    def reaches(src: str, dst: str, protocol: str = "icmp") -> bool:
        return expectations.reaches(sources[src], targets[dst], protocol)

    return reaches


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
