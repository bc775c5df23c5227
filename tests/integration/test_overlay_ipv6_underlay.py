"""An overlay over an IPv6 underlay, on the real kernel, judged by packets.

The lab's underlay is dual stack (underlay.subnet6) and its hosts advertise IPv6 to
the swarm (underlay.advertise: ipv6), so each host's VTEP is its IPv6 address: the
VXLAN frames on the underlay carry IPv6 outer headers, 70 bytes in all where IPv4's
are 50 (Docker 25+, libnetwork drivers/overlay isIPv6Transport).
"""

from __future__ import annotations

import secrets
from ipaddress import IPv6Address

import pytest
from conftest import ping, tcp_reaches

from emulator import Lab
from emulator.experiments import overlay_wire as wire
from emulator.probes import datagrams
from emulator.probes.capture import Capture
from emulator.swarm.cluster import host_port
from emulator.topology import topology_from_data

PAYLOAD = 100


@pytest.fixture(scope="module")
def lab6():
    topology = topology_from_data({
        "name": "o6" + secrets.token_hex(2),
        "underlay": {"subnet6": "2001:db8:6::/64", "advertise": "ipv6"},
        "hosts": {"h1": {}, "h2": {}}})
    with Lab(topology) as lab:
        h1, h2 = lab.host("h1").engine, lab.host("h2").engine
        h1.swarm_init()
        h2.swarm_join([host_port(lab.host("h1").address6, 2377)], h1.swarm_join_token("worker"))
        yield lab


@pytest.fixture(scope="module")
def pair(lab6):
    """Containers on h1 and h2, on one overlay made on the manager."""
    h1, h2 = lab6.host("h1"), lab6.host("h2")
    h1.networks.create("ov6", "overlay", attachable=True)
    return h1.containers.run("a6", "ov6"), h2.containers.run("b6", "ov6")


def test_hosts_carry_ipv6_on_the_underlay_and_advertise_it(lab6) -> None:
    h1, h2 = lab6.host("h1"), lab6.host("h2")
    assert (h1.address6, h2.address6) == (IPv6Address("2001:db8:6::b"),
                                           IPv6Address("2001:db8:6::c"))
    assert h1.engine.swarm_node.addr == h1.address6
    assert h2.engine.swarm_node.addr == h2.address6


def test_containers_on_two_hosts_reach_each_other_over_the_overlay(pair) -> None:
    a, b = pair
    assert ping(a, b.ip()) and ping(b, a.ip())
    assert tcp_reaches(a, b.ip())


def test_the_wire_carries_vxlan_in_ipv6_with_70_bytes_of_overhead(lab6, pair) -> None:
    a, b = pair
    h1, h2 = lab6.host("h1"), lab6.host("h2")
    sender = datagrams.Sender(datagrams.Endpoint(a.pid, str(a.ip())),
                              datagrams.Endpoint(b.pid, str(b.ip())))
    try:
        with Capture(a.pid, "eth0") as inner, Capture(lab6.node_pid("h1"), "eth0") as outer:
            outcome, _ = sender.send(PAYLOAD, dont_fragment=True)
            sent = [f for f in wire.frames_after(inner)
                    if f.outgoing and wire.udp_dport(f.data) == datagrams.PORT]
            tunnelled = [f for f in wire.frames_after(outer)
                         if f.outgoing and wire.udp_dport(f.data) == wire.VXLAN_PORT]
    finally:
        sender.close()
    assert outcome == "delivered"
    assert len(sent) == 1 and len(tunnelled) == 1
    frame = tunnelled[0].data
    assert wire.ip_version(frame) == 6
    assert (IPv6Address(frame[22:38]), IPv6Address(frame[38:54])) == (h1.address6, h2.address6)
    assert len(frame) - len(sent[0].data) == 70
    assert frame[-len(sent[0].data):] == sent[0].data  # the inner frame, whole
    vni = int(lab6.host("h1").engine.get_network("ov6").options[
        "com.docker.network.driver.overlay.vxlanid_list"])
    assert wire.vni_of(frame) == vni


def test_docker_mtu_leaves_20_bytes_the_ipv6_path_cannot_carry(lab6, pair) -> None:
    """Docker gives the overlay underlay - 50 = 1450 over IPv6 too; the path carries
    1500 - 70 = 1430, found by don't-fragment probing."""
    a, b = pair
    assert a.exec(["cat", "/sys/class/net/eth0/mtu"]).stdout.strip() == "1450"
    sender = datagrams.Sender(datagrams.Endpoint(a.pid, str(a.ip())),
                              datagrams.Endpoint(b.pid, str(b.ip())))
    try:
        assert datagrams.find_mtu(sender, high=1500) == 1430
    finally:
        sender.close()
