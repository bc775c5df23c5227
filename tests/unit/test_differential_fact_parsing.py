"""The differential's container facts without a kernel: routes decoded from rtnetlink
replies built here, facts flattened into the strings rows compare, MACs told apart by
how they were made, rows side by side, the scenarios and the LAN block they use."""

from __future__ import annotations

import socket
import struct
import sys
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from types import SimpleNamespace

import pytest

from emulator.experiments.differential import facts
from emulator.experiments.differential.facts import (
    MAC_FROM_IP,
    MAC_NONE,
    MAC_OTHER,
    MAC_RANDOM,
    ContainerFacts,
    InterfaceFacts,
    RouteFacts,
)
from emulator.fabric.rtnl import Link, Route, Rtnl
from emulator.topology import topology_from_data

RTM_NEWROUTE, NLMSG_DONE = 24, 3


class FakeKernel:
    def __init__(self, *datagrams: bytes) -> None:
        self.sent: list[bytes] = []
        self.datagrams = list(datagrams)

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.datagrams.pop(0)

    def close(self) -> None:
        pass


def rta(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(-length % 4)


def message(kind: int, payload: bytes) -> bytes:
    length = 16 + len(payload)
    return struct.pack("=IHHII", length, kind, 2, 1, 0) + payload + bytes(-length % 4)


def route(dst_len: int, table: int, *attrs: bytes) -> bytes:
    header = struct.pack("=BBBBBBBBI", socket.AF_INET, dst_len, 0, 0, table, 3, 0, 1, 0)
    return message(RTM_NEWROUTE, header + b"".join(attrs))


@pytest.mark.skipif(sys.byteorder != "little", reason="replies built little-endian")
def test_routes_are_the_main_tables_with_gateway_and_device() -> None:
    default = route(0, 254, rta(5, IPv4Address("172.17.0.1").packed), rta(4, struct.pack("=I", 7)))
    connected = route(16, 254, rta(1, IPv4Address("172.17.0.0").packed),
                      rta(4, struct.pack("=I", 7)))
    local = route(32, 255, rta(1, IPv4Address("172.17.0.2").packed), rta(4, struct.pack("=I", 7)))
    in_table_1000 = route(0, 252, rta(15, struct.pack("=I", 1000)), rta(4, struct.pack("=I", 7)))
    kernel = FakeKernel(default + connected, local + in_table_1000,
                        message(NLMSG_DONE, struct.pack("=i", 0)))
    routes = Rtnl(kernel).routes()  # type: ignore[arg-type]
    assert routes == [Route(IPv4Network("0.0.0.0/0"), IPv4Address("172.17.0.1"), 7),
                      Route(IPv4Network("172.17.0.0/16"), None, 7)]
    kind, flags = struct.unpack_from("=HH", kernel.sent[0], 4)
    assert kind == 26 and flags & 0x300 == 0x300  # RTM_GETROUTE, a dump


def test_a_bridge_made_with_a_mac_carries_it_in_the_request() -> None:
    ack = message(2, struct.pack("=i", 0) + bytes(16))
    with_mac, plain = FakeKernel(ack), FakeKernel(ack)
    Rtnl(with_mac).add_bridge("docker0", 1500, "02:42:ac:11:00:01")  # type: ignore[arg-type]
    Rtnl(plain).add_bridge("docker0", 1500)  # type: ignore[arg-type]
    address = rta(1, bytes.fromhex("0242ac110001"))  # IFLA_ADDRESS
    assert address in with_mac.sent[0] and address not in plain.sent[0]
    assert len(with_mac.sent[0]) == len(plain.sent[0]) + len(address)


def test_kernel_facts_name_each_routes_device_and_sort_interfaces_by_name() -> None:
    links = [Link(9, "eth0", True, "UP", None, 1450, "02:42:0a:00:01:02"),
             Link(1, "lo", True, "UNKNOWN", None, 65536, "00:00:00:00:00:00")]
    addresses = [(1, IPv4Interface("127.0.0.1/8")), (9, IPv4Interface("10.0.1.2/24"))]
    routes = [Route(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.1.1"), 9)]
    interfaces, route_facts = facts.kernel_facts(links, addresses, routes)
    assert [i.name for i in interfaces] == ["eth0", "lo"]
    assert interfaces[0] == InterfaceFacts("eth0", "02:42:0a:00:01:02", 1450,
                                           (IPv4Interface("10.0.1.2/24"),))
    assert route_facts == (RouteFacts(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.1.1"),
                                      "eth0"),)


@pytest.mark.parametrize(("mac", "addresses", "kind"), [
    ("02:42:ac:11:00:02", [IPv4Interface("172.17.0.2/16")], MAC_FROM_IP),
    ("02:42:ac:11:00:02", ["172.17.0.2"], MAC_FROM_IP),
    ("02:42:ac:11:00:03", ["172.17.0.2"], MAC_RANDOM),  # 20.10's random: 02:42 + 4 random
    ("ee:49:b3:9d:ad:8d", [], MAC_RANDOM),
    ("00:00:00:00:00:00", [], MAC_OTHER),
    ("01:00:5e:00:00:01", [], MAC_OTHER),  # multicast
    ("", ["172.17.0.2"], MAC_NONE),
    (None, [], MAC_NONE),
])
def test_mac_kind_tells_how_a_mac_was_made(mac, addresses, kind) -> None:
    assert facts.mac_kind(mac, addresses) == kind


def test_inspect_networks_keep_the_four_fields_per_network() -> None:
    attrs = {"NetworkSettings": {"Networks": {
        "bridge": {"IPAddress": "172.17.0.2", "IPPrefixLen": 16, "Gateway": "172.17.0.1",
                   "MacAddress": "02:42:ac:11:00:02", "NetworkID": "abc", "Aliases": None}}}}
    assert facts.inspect_networks(attrs) == {"bridge": {
        "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "Gateway": "172.17.0.1",
        "MacAddress": "02:42:ac:11:00:02"}}
    assert facts.inspect_networks({"NetworkSettings": {"Networks": None}}) == {}


def container_on_two_networks() -> ContainerFacts:
    return ContainerFacts(
        "front", False,
        (InterfaceFacts("eth0", "02:42:0a:4f:00:02", 1500, (IPv4Interface("10.79.0.2/24"),)),
         InterfaceFacts("eth1", "7a:e4:d9:a6:89:43", 1400, (IPv4Interface("172.18.0.2/16"),)),
         InterfaceFacts("lo", "00:00:00:00:00:00", 65536, (IPv4Interface("127.0.0.1/8"),))),
        (RouteFacts(IPv4Network("0.0.0.0/0"), IPv4Address("10.79.0.1"), "eth0"),
         RouteFacts(IPv4Network("10.79.0.0/24"), None, "eth0"),
         RouteFacts(IPv4Network("172.18.0.0/16"), None, "eth1")),
        {"front": {"IPAddress": "10.79.0.2", "IPPrefixLen": 24, "Gateway": "10.79.0.1",
                   "MacAddress": "02:42:0a:4f:00:02"},
         "back": {"IPAddress": "172.18.0.2", "IPPrefixLen": 16, "Gateway": "",
                  "MacAddress": "7a:e4:d9:a6:89:43"}})


def test_flatten_gives_one_string_per_fact() -> None:
    flat = facts.flatten(container_on_two_networks())
    assert flat["network mode"] == "front" and flat["namespace"] == "its own"
    assert flat["interfaces"] == "eth0 eth1 lo"
    assert flat["eth0 mac kind"] == MAC_FROM_IP and flat["eth1 mac kind"] == MAC_RANDOM
    assert flat["eth1 mtu"] == "1400" and flat["eth1 ipv4"] == "172.18.0.2/16"
    assert flat["route default"] == "via 10.79.0.1 dev eth0"
    assert flat["routes on eth1"] == "172.18.0.0/16"
    assert flat["routes on eth0"] == "10.79.0.0/24"
    assert flat["inspect back Gateway"] == "" and flat["inspect back IPPrefixLen"] == "16"
    assert flat["inspect front MacAddress kind"] == MAC_FROM_IP


def test_in_host_mode_the_hosts_own_nics_give_only_their_mtu() -> None:
    host_mode = ContainerFacts(
        "host", True,
        (InterfaceFacts("docker0", "02:42:11:22:33:44", 1500, (IPv4Interface("172.17.0.1/16"),)),
         InterfaceFacts("eth0", "66:6f:68:91:7d:2b", 1500, (IPv4Interface("192.0.2.11/24"),))),
        (), {"host": {"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": ""}})
    flat = facts.flatten(host_mode)
    assert flat["namespace"] == "the host's" and flat["eth0 mtu"] == "1500"
    assert "eth0 mac" not in flat and "eth0 ipv4" not in flat
    assert flat["docker0 ipv4"] == "172.17.0.1/16"
    assert flat["inspect host MacAddress kind"] == MAC_NONE


def test_compare_lines_up_facts_and_marks_what_one_side_lacks() -> None:
    rows = facts.compare("s", {"c1": {"eth0 mtu": "1500", "eth1 mtu": "1500"}},
                         {"c1": {"eth0 mtu": "1500"}, "c2": {"eth0 mtu": "1450"}})
    assert [(r.container, r.fact, r.emulated, r.real, r.agree) for r in rows] == [
        ("c1", "eth0 mtu", "1500", "1500", True),
        ("c1", "eth1 mtu", "1500", None, False),
        ("c2", "eth0 mtu", None, "1450", False)]
    assert rows[0].as_dict() == {"scenario": "s", "container": "c1", "fact": "eth0 mtu",
                                 "emulated": "1500", "real": "1500", "agree": True}


def lab_of(data: dict) -> SimpleNamespace:
    return SimpleNamespace(topology=topology_from_data(data))


def test_the_macvlan_block_is_clear_of_router_hosts_and_dhcp_pool() -> None:
    lan = facts.lan_of(lab_of({"name": "x", "hosts": {"h1": {}, "h2": {}}, "lan": {}}))
    assert lan == facts.Lan("eth1", "198.51.100.0/24", "198.51.100.1", "198.51.100.224/28")
    assert facts.lan_of(lab_of({"name": "x", "hosts": {"h1": {}}})) is None


def test_scenarios_cover_the_issue_and_macvlan_only_with_a_lan() -> None:
    lan = facts.Lan("eth1", "198.51.100.0/24", "198.51.100.1", "198.51.100.224/28")
    with_lan = facts.scenarios("fx", lan)
    without = facts.scenarios("fx", None)
    assert {s.name for s in with_lan} - {s.name for s in without} == {"macvlan on the LAN"}
    modes = {c.network for s in without for c in s.containers}
    assert {None, "none", "host"} <= modes
    assert any(c.ip for s in without for c in s.containers)
    assert any(c.also for s in without for c in s.containers)
    assert any(n.internal for s in without for n in s.networks)
    assert any(facts.MTU_OPTION in n.options for s in without for n in s.networks)
    assert any(n.subnet is None and not n.internal for s in without for n in s.networks)
    names = [c.name for s in with_lan for c in s.containers]
    names += [n.name for s in with_lan for n in (*s.networks, *s.gone)]
    assert all(name.startswith("fx") for name in names)
    assert len(names) == len(set(names))
