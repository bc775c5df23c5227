"""A host's state as its Engine API tells it: parsed from answers recorded on a lab.

tests/unit/data/apistate/emulated/ holds what the emulated API of the isolation lab
answered (with the isolation experiment's overlay section up) to the reads of
`read_host`, and each container's /proc/PID/net/route; .../docker/ the same from
the lab's main part on real dockerd 20.10 (`engine: docker`). `RecordedAPI` plays
them back. A last test reads an engine on the fake fabric through a real socket with
docker-py at API 1.41 (what Debian's dockerd 20.10 speaks).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import docker
import pytest
from apistate_helpers import fabric_routes
from served import served

from emulator.cnm.engine import NetworkRequest
from emulator.lab.dockerhost import DockerHost
from emulator.probes.apistate import (
    API_VERSION,
    DefaultRoute,
    EndpointState,
    HostState,
    LabState,
    parse_container,
    parse_route_table,
    read_host,
)
from emulator.probes.expected import Expectations, lab_nodes, lab_sources

DATA = Path(__file__).parent / "data" / "apistate"
ADDRESSES = {"h1": IPv4Address("192.0.2.11"), "h2": IPv4Address("192.0.2.12")}
PIDS = {"h1": 1, "h2": 2, "outside": 3}


class RecordedAPI:
    """docker-py's four read calls answered from a recording."""

    def __init__(self, recording: dict[str, Any]) -> None:
        self._recording = recording
        self.calls: list[str] = []

    def containers(self) -> list[dict[str, Any]]:
        self.calls.append("containers")
        return self._recording["containers"]

    def inspect_container(self, container: str) -> dict[str, Any]:
        self.calls.append("inspect_container")
        return next(c for c in self._recording["inspects"] if c["Id"] == container)

    def networks(self) -> list[dict[str, Any]]:
        self.calls.append("networks")
        return self._recording["networks"]

    def inspect_network(self, net_id: str) -> dict[str, Any]:
        self.calls.append("inspect_network")
        return next(n for n in self._recording["network_inspects"] if n["Id"] == net_id)


def recorded_host(engine: str, name: str) -> tuple[HostState, RecordedAPI]:
    recording = json.loads((DATA / engine / f"{name}.json").read_text())
    api = RecordedAPI(recording)
    tables = recording["routes"]

    def route_of(pid: int) -> DefaultRoute | None:
        return parse_route_table(tables[str(pid)]) if str(pid) in tables else None

    return read_host(name, ADDRESSES[name], PIDS[name], api, route_of), api


@pytest.fixture(scope="module")
def emulated() -> dict[str, HostState]:
    return {name: recorded_host("emulated", name)[0] for name in ("h1", "h2")}


def containers_of(host: HostState):
    return {c.name: c for c in host.containers}


def network_named(host: HostState, name: str):
    return next(n for n in host.networks.values() if n.name == name)


def test_one_list_and_one_inspect_per_running_container_and_only_gwbridge_inspected():
    host, api = recorded_host("emulated", "h1")
    assert api.calls.count("containers") == 1 and api.calls.count("networks") == 1
    assert api.calls.count("inspect_container") == len(host.containers) == 15
    assert api.calls.count("inspect_network") == 1  # docker_gwbridge


def test_containers_oldest_first_with_their_pids(emulated):
    names = [c.name for c in emulated["h1"].containers]
    assert names[:12] == ["d1", "d2", "f1", "f2", "b1", "s1", "s2", "q1", "q2", "m1", "n1",
                          "x1"]
    assert names[12:] == ["o1a", "o2a", "o1l"]
    pids = [c.pid for c in emulated["h1"].containers]
    assert all(pid > 0 for pid in pids) and len(set(pids)) == len(pids)


def test_networks_from_the_list(emulated):
    h1 = emulated["h1"]
    quiet, secret, bridge = (network_named(h1, n) for n in ("quiet", "secret", "bridge"))
    assert quiet.driver == "bridge" and quiet.scope == "local" and not quiet.internal
    assert quiet.flag("com.docker.network.bridge.enable_icc", True) is False
    assert secret.internal and secret.subnets == (IPv4Network("10.13.0.0/24"),)
    assert bridge.gateways == (IPv4Address("172.17.0.1"),)
    assert bridge.flag("com.docker.network.bridge.enable_icc", False) is True
    assert network_named(h1, "host").subnets == () and network_named(h1, "none").subnets == ()
    assert network_named(h1, "ov1").scope == "swarm"
    assert network_named(h1, "ov1").id == network_named(emulated["h2"], "ov1").id


def test_endpoints_and_the_network_of_the_default_route(emulated):
    h1 = emulated["h1"]
    c = containers_of(h1)
    front, back, secret = (network_named(h1, n).id for n in ("front", "back", "secret"))
    m1 = c["m1"]
    assert [ep.network_name for ep in m1.endpoints] == ["front", "back"]  # the engine's order
    assert m1.endpoints[0].address == IPv4Interface("10.11.0.4/24")
    assert all(len(ep.mac) == 17 for ep in m1.endpoints)
    assert m1.gateway_network == back  # the route goes via 10.12.0.1: `back` sorts first
    assert c["f1"].gateway_network == front
    assert c["s1"].gateway_network is None and c["s1"].endpoints[0].network_id == secret
    assert c["x1"].shares_host and c["x1"].network_mode == "host"
    assert c["n1"].network_mode == "none"
    assert all(ep.address is None for ep in c["x1"].endpoints + c["n1"].endpoints)


def test_a_docker_gwbridge_endpoint_comes_from_the_network_and_holds_the_route(emulated):
    h1 = emulated["h1"]
    c = containers_of(h1)
    gwbridge = network_named(h1, "docker_gwbridge")
    o1a = c["o1a"]
    assert [ep.network_name for ep in o1a.endpoints] == ["ov1", "docker_gwbridge"]
    assert o1a.endpoints[1].address.network == IPv4Network("10.18.0.0/24")
    assert o1a.gateway_network == gwbridge.id
    o1l = c["o1l"]  # a bridge of its own gives it its way out: no gwbridge endpoint
    assert [ep.network_name for ep in o1l.endpoints] == ["ov1", "obr"]
    assert o1l.gateway_network == network_named(h1, "obr").id


def test_the_recorded_state_gives_the_isolation_rules(emulated):
    state = LabState((emulated["h1"], emulated["h2"]), PIDS["outside"],
                     IPv4Address("192.0.2.254"))
    sources = {n.name: n for n in lab_sources(state)}
    targets = {n.name: n for n in lab_nodes(state) if n.address is not None}
    assert {"h1/m1@front", "h1/m1@back", "h1/o1a@docker_gwbridge", "h1/x1", "h2"} <= set(targets)
    assert "h1/n1" in sources and "h1/n1" not in targets
    expect = Expectations(state)
    verdicts = {
        ("h1/f1", "h1/m1@front"): True, ("h1/f1", "h1/b1"): False, ("h1/q1", "h1/q2"): False,
        ("h1/s1", "outside"): False, ("h1/m1", "outside"): True, ("h1/o1a", "h2/o1b@ov1"): True,
        ("h1/o1a", "outside"): True, ("h1", "h1/o1a@ov1"): False, ("h1/x1", "h1/s1"): True,
        ("outside", "h1/f1"): False, ("h1/f1", "h2"): True,
    }
    for (src, dst), expected in verdicts.items():
        assert expect.reaches(sources[src], targets[dst]) is expected, (src, dst)


ROUTES = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
          "eth1\t00000000\t01000C0A\t0003\t0\t0\t{m1}\t00000000\t0\t0\t0\n"
          "eth0\t00000000\t00000000\t0001\t0\t0\t{m0}\t00000000\t0\t0\t0\n"
          "eth0\t00000B0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")


def test_route_table_lowest_metric_default_route_wins():
    assert parse_route_table(ROUTES.format(m1=0, m0=100)) == DefaultRoute(
        IPv4Address("10.12.0.1"), "eth1")
    assert parse_route_table(ROUTES.format(m1=100, m0=0)) == DefaultRoute(None, "eth0")
    assert parse_route_table(ROUTES.splitlines()[0] + "\n" + ROUTES.splitlines()[3]) is None


def test_a_route_without_gateway_is_matched_by_the_device_mac():
    doc = {"Id": "c" * 64, "Name": "/c", "State": {"Running": True, "Pid": 7},
           "HostConfig": {"NetworkMode": "a"},
           "NetworkSettings": {"Networks": {
               "a": {"NetworkID": "na", "IPAddress": "10.1.0.2", "IPPrefixLen": 24,
                     "MacAddress": "02:00:00:00:00:0A", "Gateway": "10.1.0.1"},
               "b": {"NetworkID": "nb", "IPAddress": "10.2.0.2", "IPPrefixLen": 24,
                     "MacAddress": "02:00:00:00:00:0b", "Gateway": ""}}}}
    assert parse_container(doc, route=DefaultRoute(None, "eth1", "02:00:00:00:00:0B")
                           ).gateway_network == "nb"
    assert parse_container(doc, route=DefaultRoute(IPv4Address("10.2.0.9"), "eth1")
                           ).gateway_network == "nb"  # no endpoint names it: the subnet does
    assert parse_container(doc, route=DefaultRoute(IPv4Address("10.1.0.1"), "eth0")
                           ).gateway_network == "na"
    assert parse_container(doc, route=None).gateway_network is None
    extra = EndpointState("na", "a", IPv4Interface("10.9.0.2/24"), "", None)
    assert [ep.network_id for ep in parse_container(doc, [extra]).endpoints] == ["na", "nb"]


def test_docker_py_at_api_1_41_reads_an_emulated_host_over_its_socket(tmp_path):
    with served(tmp_path) as served_host:
        engine = served_host.engine
        engine.create_network(NetworkRequest("front", subnet="10.31.0.0/24"))
        engine.create_network(NetworkRequest("inside", subnet="10.32.0.0/24", internal=True))
        host = DockerHost("h1", engine, IPv4Address("192.0.2.11"))
        for name, network in (("c1", "front"), ("c2", "inside"), ("c3", "none"), ("c4", "host")):
            host.containers.run(name, network=network)
        host.containers.run("c5", networks=["front", "inside"])
        host.containers.run("gone", network="front").stop()
        client = docker.APIClient(base_url=f"unix://{served_host.socket_path}",
                                  version=API_VERSION, timeout=10)
        try:
            state = read_host("h1", host.address, 1, client, fabric_routes(engine))
        finally:
            client.close()
    assert {n.name for n in state.networks.values()} == {"bridge", "host", "none", "front",
                                                          "inside"}
    c = containers_of(state)
    assert list(c) == ["c1", "c2", "c3", "c4", "c5"]  # running ones, oldest first
    front, inside = (network_named(state, n).id for n in ("front", "inside"))
    assert c["c1"].gateway_network == front
    assert c["c1"].endpoints[0].address.ip in IPv4Network("10.31.0.0/24")
    assert c["c2"].gateway_network is None
    assert c["c5"].gateway_network == front
    assert [ep.network_id for ep in c["c5"].endpoints] == [front, inside]
    assert c["c4"].shares_host and c["c3"].network_mode == "none"


@pytest.fixture(scope="module")
def real() -> dict[str, HostState]:
    """The isolation lab's main part on real dockerd 20.10 (`engine: docker`)."""
    return {name: recorded_host("docker", name)[0] for name in ("h1", "h2")}


def test_real_dockerd_answers_parse_the_same_way(real):
    h1 = real["h1"]
    c = containers_of(h1)
    assert [x.name for x in h1.containers] == ["d1", "d2", "f1", "f2", "b1", "s1", "s2", "q1",
                                               "q2", "m1", "n1", "x1"]
    assert network_named(h1, "front").gateways == ()  # 20.10 keeps no IPAM gateway here
    # dockerd sorts a container's networks by name; the route goes via back's gateway
    assert [ep.network_name for ep in c["m1"].endpoints] == ["back", "front"]
    assert c["m1"].gateway_network == network_named(h1, "back").id
    assert c["m1"].endpoints[0].mac == "02:42:0a:0c:00:03"  # 20.10: the MAC from the IP
    assert c["x1"].shares_host and c["n1"].network_mode == "none"


def test_real_dockerd_routes_an_internal_network_to_its_host_and_no_further(real):
    """Docker 20.10 gives a container on an internal network a default route (28 does
    not): by it the container reaches its own host's addresses, nothing beyond."""
    h1 = real["h1"]
    s1 = containers_of(h1)["s1"]
    assert s1.gateway_network == network_named(h1, "secret").id
    state = LabState((h1, real["h2"]), PIDS["outside"], IPv4Address("192.0.2.254"))
    sources = {n.name: n for n in lab_sources(state)}
    targets = {n.name: n for n in lab_nodes(state) if n.address is not None}
    expect = Expectations(state)
    assert expect.reaches(sources["h1/s1"], targets["h1"]) is True
    assert expect.reaches(sources["h1/s1"], targets["h1/x1"]) is True
    for dst in ("h2", "outside", "h1/f1"):
        assert expect.reaches(sources["h1/s1"], targets[dst]) is False, dst
    assert expect.reaches(sources["h1/s1"], targets["h1/s2"]) is True
