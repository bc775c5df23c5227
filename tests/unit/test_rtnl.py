"""The rtnetlink client (emulator/fabric/rtnl.py), without a kernel: each request's bytes
against encodings computed by hand from <linux/netlink.h>, <linux/rtnetlink.h>,
<linux/if_link.h>, <linux/if_addr.h> and <linux/neighbour.h>, and replies built here
(acks, errors, dumps, attributes) decoded into what the fabric reads.

Netlink is in the host's byte order; the hand encodings are little-endian.
"""

from __future__ import annotations

import errno
import struct
import sys
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

import pytest

from emulator.fabric.rtnl import Link, NetlinkError, Rtnl

pytestmark = pytest.mark.skipif(sys.byteorder != "little",
                                reason="the hand encodings are little-endian")

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWNEIGH = 16, 20, 28
NLM_F_MULTI = 0x2


class FakeKernel:
    """Stands in for a NETLINK_ROUTE socket: records what is sent, and answers each
    recv with the next datagram queued."""

    def __init__(self, *datagrams: bytes) -> None:
        self.sent: list[bytes] = []
        self.datagrams = list(datagrams)
        self.closed = False

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.datagrams.pop(0)

    def close(self) -> None:
        self.closed = True


def rtnl(*datagrams: bytes) -> tuple[Rtnl, FakeKernel]:
    kernel = FakeKernel(*datagrams)
    return Rtnl(kernel), kernel  # type: ignore[arg-type]


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


# -- replies, built here ---------------------------------------------------------------


def rta(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(-length % 4)


def message(kind: int, payload: bytes, seq: int = 1, flags: int = 0) -> bytes:
    length = 16 + len(payload)
    return struct.pack("=IHHII", length, kind, flags, seq, 0) + payload + bytes(-length % 4)


def ack(seq: int = 1, error: int = 0) -> bytes:
    """NLMSG_ERROR: the negated errno (0: an ack), then the request's header."""
    return message(NLMSG_ERROR, struct.pack("=i", -error) + bytes(16), seq)


def done(seq: int = 1) -> bytes:
    return message(NLMSG_DONE, struct.pack("=i", 0), seq, NLM_F_MULTI)


def ifinfo(index: int, flags: int, *attrs: bytes) -> bytes:
    return struct.pack("=BxHiII", 0, 1, index, flags, 0) + b"".join(attrs)


def veth1_on_bridge() -> bytes:
    """veth1 (index 5), up, a port of bridge 4 that forwards."""
    port = rta(0x8000 | 18, rta(4, b"bridge\0") + rta(0x8000 | 5, rta(1, b"\x03")))
    return ifinfo(5, 0x1 | 0x10000, rta(3, b"veth1\0"), rta(4, struct.pack("=I", 1500)),
                  rta(1, bytes.fromhex("0242ac110002")), rta(10, struct.pack("=I", 4)),
                  rta(16, b"\x06"), port)


# -- requests: the bytes sent ------------------------------------------------------------


def test_set_up_sends_newlink_with_the_up_flag_and_the_name() -> None:
    client, kernel = rtnl(ack())
    client.set_up("eth0")
    assert kernel.sent == [hexbytes("""
        2c000000 1000 0500 01000000 00000000
        00 00 0000 00000000 01000000 01000000
        0900 0300 65746830 00 000000""")]


def test_add_bridge_nests_its_kind_and_data() -> None:
    client, kernel = rtnl(ack())
    client.add_bridge("br0", 1500)
    assert kernel.sent == [hexbytes("""
        54000000 1000 0506 01000000 00000000
        00 00 0000 00000000 01000000 01000000
        0800 0300 62723000
        0800 0400 dc050000
        2400 1280
          0b00 0100 62726964676500 00
          1400 0280
            0800 0100 00000000
            0800 0500 00000000""")]


def test_add_vxlan_gives_the_port_in_network_order_and_is_born_in_another_namespace() -> None:
    client, kernel = rtnl(ack())
    client.add_vxlan("vx0", 42, 4789, 1450, ns_fd=9)
    assert kernel.sent == [hexbytes("""
        6c000000 1000 0506 01000000 00000000
        00 00 0000 00000000 00000000 00000000
        0800 0300 76783000
        0800 0400 aa050000
        0800 1c00 09000000
        3400 1280
          0a00 0100 7678 6c61 6e00 0000
          2400 0280
            0800 0100 2a000000
            0600 0f00 12b5 0000
            0500 0700 00 000000
            0500 0b00 01 000000""")]


def test_add_veth_nests_the_peer_as_a_whole_ifinfo_message() -> None:
    client, kernel = rtnl(ack())
    client.add_veth("vh0", master=4, mtu=1500, peer_name="eth0", peer_ns_fd=9,
                    peer_mac="02:42:0a:00:00:02")
    assert kernel.sent == [hexbytes("""
        88000000 1000 0506 01000000 00000000
        00 00 0000 00000000 01000000 01000000
        0800 0300 76683000
        0800 0400 dc050000
        0800 0a00 04000000
        5000 1280
          0900 0100 76657468 00 000000
          4000 0280
            3c00 0100
              00 00 0000 00000000 00000000 00000000
              0900 0300 65746830 00 000000
              0800 0400 dc050000
              0800 1c00 09000000
              0a00 0100 02420a000002 0000""")]


def test_add_macvlan_names_its_parent_and_mode() -> None:
    client, kernel = rtnl(ack())
    client.add_macvlan("mv0", parent=2, mode="bridge", ns_fd=9, mac=None, mtu=None)
    assert kernel.sent == [hexbytes("""
        54000000 1000 0506 01000000 00000000
        00 00 0000 00000000 00000000 00000000
        0800 0300 6d763000
        0800 0500 02000000
        0800 1c00 09000000
        1c00 1280
          0c00 0100 6d6163766c616e00
          0c00 0280
            0800 0100 04000000""")]


def test_add_address_sends_local_and_address() -> None:
    client, kernel = rtnl(ack())
    client.add_address(3, IPv4Interface("10.0.0.1/24"))
    assert kernel.sent == [hexbytes("""
        28000000 1400 0506 01000000 00000000
        02 18 00 00 03000000
        0800 0200 0a000001
        0800 0100 0a000001""")]


def test_routes_via_a_gateway_out_of_an_interface_and_by_default() -> None:
    client, kernel = rtnl(ack(1), ack(2), ack(3))
    client.add_route(IPv4Network("10.1.0.0/16"), IPv4Address("10.0.0.254"), None)
    client.add_route(IPv4Network("10.2.0.0/24"), None, 7)
    client.set_default_route(IPv4Address("10.0.0.1"))
    assert kernel.sent == [
        hexbytes("""
            2c000000 1800 0505 01000000 00000000
            02 10 00 00 fe 03 00 01 00000000
            0800 0100 0a010000
            0800 0500 0a0000fe"""),
        hexbytes("""
            2c000000 1800 0505 02000000 00000000
            02 18 00 00 fe 03 fd 01 00000000
            0800 0100 0a020000
            0800 0400 07000000"""),
        hexbytes("""
            24000000 1800 0505 03000000 00000000
            02 00 00 00 fe 03 00 01 00000000
            0800 0500 0a000001"""),
    ]


def test_fdb_adds_a_permanent_self_entry_and_a_missing_one_is_no_error_to_delete() -> None:
    client, kernel = rtnl(ack(1), ack(2, errno.ENOENT))
    client.fdb(5, "02:42:0a:00:00:02", IPv4Address("192.0.2.1"), add=True)
    client.fdb(5, "02:42:0a:00:00:02", IPv4Address("192.0.2.1"), add=False)
    entry = "07 000000 05000000 8000 02 00  0a00 0200 02420a000002 0000  0800 0100 c0000201"
    assert kernel.sent == [hexbytes("30000000 1c00 0505 01000000 00000000 " + entry),
                           hexbytes("30000000 1d00 0500 02000000 00000000 " + entry)]


def test_pin_neighbour_is_a_permanent_arp_entry() -> None:
    client, kernel = rtnl(ack())
    client.pin_neighbour(2, IPv4Address("10.0.0.2"), "02:42:0a:00:00:02")
    assert kernel.sent == [hexbytes("""
        30000000 1c00 0505 01000000 00000000
        02 000000 02000000 8000 00 00
        0800 0100 0a000002
        0a00 0200 02420a000002 0000""")]


def test_rename_and_move_and_set_master_and_mac() -> None:
    client, kernel = rtnl(ack(1), ack(2), ack(3), ack(4))
    client.rename(7, "eth1")
    client.move_link("eth1", 9)
    client.set_master("eth1", 4)
    client.set_mac("eth1", "02:00:00:00:00:01")
    head = "1000 0500 {seq:02x}000000 00000000 00 00 0000 "
    name = "0900 0300 65746831 00 000000"
    assert kernel.sent == [
        hexbytes("2c000000 " + head.format(seq=1) + "07000000 00000000 00000000 " + name),
        hexbytes("34000000 " + head.format(seq=2) + "00000000 00000000 00000000 " + name
                 + " 0800 1c00 09000000"),
        hexbytes("34000000 " + head.format(seq=3) + "00000000 01000000 01000000 " + name
                 + " 0800 0a00 04000000"),
        hexbytes("38000000 " + head.format(seq=4) + "00000000 00000000 00000000 " + name
                 + " 0a00 0100 020000000001 0000"),
    ]


# -- replies: what is decoded -------------------------------------------------------------


def test_link_decodes_name_state_master_mtu_mac_and_bridge_port_state() -> None:
    client, kernel = rtnl(message(RTM_NEWLINK, veth1_on_bridge()))
    assert client.link("veth1") == Link(index=5, name="veth1", up=True, operstate="UP",
                                        master=4, mtu=1500, mac="02:42:ac:11:00:02",
                                        port_state=3, lower_up=True)
    assert kernel.sent == [hexbytes("""
        2c000000 1200 0100 01000000 00000000
        00 00 0000 00000000 00000000 00000000
        0a00 0300 7665746831 00 0000""")]


def test_a_link_without_attributes_has_none_and_an_unknown_operstate() -> None:
    odd = ifinfo(9, 0, rta(3, b"x\0"), rta(16, b"\x63"),
                 rta(0x8000 | 18, rta(4, b"bond\0") + rta(0x8000 | 5, rta(1, b"\x03"))))
    client, _ = rtnl(message(RTM_NEWLINK, odd))
    assert client.link("x") == Link(index=9, name="x", up=False, operstate="UNKNOWN",
                                    master=None, mtu=None, mac=None, port_state=None)


def test_a_missing_link_is_none_and_other_errors_are_raised_with_their_errno() -> None:
    client, _ = rtnl(ack(1, errno.ENODEV), ack(2, errno.EPERM))
    assert client.link("nope") is None
    with pytest.raises(NetlinkError) as caught:
        client.link("nope")
    assert caught.value.errno == errno.EPERM
    assert caught.value.strerror == "Operation not permitted"


def test_a_refused_request_raises_and_delete_tells_whether_the_link_was_there() -> None:
    client, _ = rtnl(ack(1, errno.EEXIST), ack(2), ack(3, errno.ENODEV))
    with pytest.raises(NetlinkError) as caught:
        client.add_bridge("br0", 1500)
    assert caught.value.errno == errno.EEXIST and str(caught.value) == "[Errno 17] File exists"
    assert client.delete("br0") is True
    assert client.delete("br0") is False


def test_a_dump_spans_datagrams_ends_at_done_and_skips_other_sequence_numbers() -> None:
    lo = ifinfo(1, 0x1, rta(3, b"lo\0"), rta(16, b"\x00"))
    client, kernel = rtnl(
        message(RTM_NEWLINK, lo, 1, NLM_F_MULTI) + message(RTM_NEWLINK, lo, 99, NLM_F_MULTI),
        message(RTM_NEWLINK, veth1_on_bridge(), 1, NLM_F_MULTI) + done(1))
    assert [(link.index, link.name, link.operstate) for link in client.links()] == [
        (1, "lo", "UNKNOWN"), (5, "veth1", "UP")]
    assert kernel.sent == [hexbytes("""
        20000000 1200 0103 01000000 00000000
        00 00 0000 00000000 00000000 00000000""")]
    assert not kernel.datagrams


def test_addresses_are_the_ipv4_locals_with_their_prefix() -> None:
    def address(index: int, prefix: int, *attrs: bytes) -> bytes:
        return message(RTM_NEWADDR, struct.pack("=BBBBI", 2, prefix, 0, 0, index)
                       + b"".join(attrs), 1, NLM_F_MULTI)

    client, kernel = rtnl(
        address(3, 24, rta(1, bytes([10, 0, 0, 1])), rta(2, bytes([10, 0, 0, 1])))
        + address(4, 32, rta(1, bytes([10, 9, 9, 9])))  # no IFA_LOCAL: not ours
        + address(5, 8, rta(2, bytes([127, 0, 0, 1]))) + done())
    assert client.addresses() == [(3, IPv4Interface("10.0.0.1/24")),
                                  (5, IPv4Interface("127.0.0.1/8"))]
    assert kernel.sent == [hexbytes("18000000 1600 0103 01000000 00000000 02 00 00 00 00000000")]


def neighbour(index: int, state: int, dst: bytes, mac: bytes | None, seq: int = 1) -> bytes:
    attrs = rta(1, dst) + (rta(2, mac) if mac else b"")
    return message(RTM_NEWNEIGH, struct.pack("=BxxxiHBB", 2, index, state, 0, 0) + attrs, seq,
                   NLM_F_MULTI)


def neighbour_table() -> bytes:
    return (neighbour(2, 0x02, bytes([10, 0, 0, 2]), bytes.fromhex("02420a000002"))  # reachable
            + neighbour(2, 0x80, bytes([10, 0, 0, 3]), bytes.fromhex("02420a000003"))  # pinned
            + neighbour(3, 0x01, bytes([10, 0, 1, 9]), None)  # incomplete: no MAC yet
            + neighbour(3, 0x02, bytes(16), bytes(6))  # an IPv6 address: not ours
            + done())


def test_neighbours_decode_address_mac_and_state() -> None:
    client, kernel = rtnl(neighbour_table())
    assert client.neighbours() == [(2, IPv4Address("10.0.0.2"), "02:42:0a:00:00:02", 0x02),
                                   (2, IPv4Address("10.0.0.3"), "02:42:0a:00:00:03", 0x80),
                                   (3, IPv4Address("10.0.1.9"), None, 0x01)]
    assert kernel.sent == [hexbytes("""
        1c000000 1e00 0103 01000000 00000000
        02 000000 00000000 0000 00 00""")]


def test_flush_deletes_the_dynamic_entries_and_counts_those_that_were_there() -> None:
    client, kernel = rtnl(neighbour_table(), ack(2), ack(3, errno.ENOENT))
    assert client.flush_neighbours() == 1
    assert kernel.sent[1:] == [
        hexbytes("24000000 1d00 0500 02000000 00000000 02 000000 02000000 0000 00 00 "
                 "0800 0100 0a000002"),
        hexbytes("24000000 1d00 0500 03000000 00000000 02 000000 03000000 0000 00 00 "
                 "0800 0100 0a000109"),
    ]


def test_the_socket_passed_in_is_the_one_closed() -> None:
    with Rtnl(FakeKernel()) as client:  # type: ignore[arg-type]
        kernel = client._sock
    assert kernel.closed


# -- IPv6 (issue 19) ----------------------------------------------------------------------


def test_an_ipv6_address_without_dad_carries_ifa_f_nodad() -> None:
    client, kernel = rtnl(ack())
    client.add_address(3, IPv6Interface("fd00:1::2/64"), nodad=True)
    address = IPv6Address("fd00:1::2").packed.hex()
    assert kernel.sent == [hexbytes(f"""
        40000000 1400 0506 01000000 00000000
        0a 40 02 00 03000000
        1400 0200 {address}
        1400 0100 {address}""")]


def test_an_ipv6_default_route_and_route_are_of_the_ipv6_family() -> None:
    client, kernel = rtnl(ack(1), ack(2))
    client.set_default_route(IPv6Address("fd00:1::1"))
    client.add_route(IPv6Network("fd00:9::/48"), IPv6Address("fd00:1::1"), None)
    gateway = IPv6Address("fd00:1::1").packed.hex()
    assert kernel.sent == [
        hexbytes(f"""
            30000000 1800 0505 01000000 00000000
            0a 00 00 00 fe 03 00 01 00000000
            1400 0500 {gateway}"""),
        hexbytes(f"""
            44000000 1800 0505 02000000 00000000
            0a 30 00 00 fe 03 00 01 00000000
            1400 0100 {IPv6Address("fd00:9::").packed.hex()}
            1400 0500 {gateway}"""),
    ]


def test_ipv6_addresses_come_with_their_flags_the_long_ones_first() -> None:
    def address(index: int, prefix: int, flags: int, *attrs: bytes) -> bytes:
        return message(RTM_NEWADDR, struct.pack("=BBBBI", 10, prefix, flags, 0, index)
                       + b"".join(attrs), 1, NLM_F_MULTI)

    link_local = IPv6Address("fe80::1").packed
    client, kernel = rtnl(
        address(3, 64, 0x40, rta(1, link_local))  # tentative
        + address(3, 64, 0x00, rta(1, IPv6Address("fd00:1::1").packed),
                  rta(8, struct.pack("=I", 0x202)))  # IFA_FLAGS: nodad | 0x200
        + done())
    assert client.addresses6() == [(3, IPv6Interface("fe80::1/64"), 0x40),
                                   (3, IPv6Interface("fd00:1::1/64"), 0x202)]
    assert kernel.sent == [hexbytes("18000000 1600 0103 01000000 00000000 0a 00 00 00 00000000")]
