"""IPv6 probe packets: Scapy agrees with the patched bytes (ICMPv6 echo, TCP, UDP, and
neighbour solicitations), replies and advertisements map back to what was asked."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from emulator.probes import ProbeTarget, ndp
from emulator.probes.model import IPV4, IPV6, applies
from emulator.probes.ndp import (
    NA,
    NS,
    Address6,
    find_on_link6,
    multicast_mac,
    on_link_prefixes,
    parse_if_inet6,
    parse_ndp,
    parse_ndp_frame,
    solicitation,
    solicitation_frame,
    solicited_node,
)
from emulator.probes.packets import SEQ_BASE, SOURCE_PORT, build, parse_reply
from emulator.probes.rfc4862 import Timings6, conflict_kind6, probe_schedule6

SRC, DST = IPv6Address("fd00:1::2"), IPv6Address("fd00:1::3")
MAC = bytes.fromhex("02420a000002")


CHECKSUM_FIELD = {"icmp": "cksum", "tcp": "chksum", "udp": "chksum"}  # Scapy's names


@pytest.mark.parametrize("protocol", ["icmp", "tcp", "udp"])
@pytest.mark.parametrize("k", [0, 1, 4242, 65535])
def test_patched_ipv6_probe_is_a_valid_packet(protocol, k):
    raw = build(protocol, SRC, DST, k, tag=5)
    parsed = IPv6(raw)
    assert (parsed.src, parsed.dst, parsed.fl, parsed.hlim) == (str(SRC), str(DST), k, 64)
    assert parsed.plen == len(raw) - 40
    layer = parsed.payload
    field = CHECKSUM_FIELD[protocol]
    sent = getattr(layer, field)
    delattr(layer, field)
    assert getattr(IPv6(bytes(parsed)).payload, field) == sent, "the checksum Scapy computes"
    if protocol == "icmp":
        assert (layer.type, layer.id, layer.seq) == (128, 0xC000 + 5, k)
    elif protocol == "tcp":
        assert (layer.seq, layer.sport, str(layer.flags)) == (SEQ_BASE + k, SOURCE_PORT + 5, "S")
    else:
        assert isinstance(layer, UDP) and layer.sport == SOURCE_PORT + 5
    assert isinstance(layer, {"icmp": ICMPv6EchoRequest, "tcp": TCP, "udp": UDP}[protocol])


def test_ipv6_replies_map_to_their_probe():
    echo = IPv6(src=str(DST), dst=str(SRC)) / ICMPv6EchoReply(id=0xC000 + 3, seq=77)
    assert parse_reply(bytes(echo)) == ("icmp", str(DST), 3, 77, "echo-reply")
    rst = IPv6(src=str(DST), dst=str(SRC)) / TCP(sport=9, dport=SOURCE_PORT + 2, flags="RA",
                                                 ack=SEQ_BASE + 12 + 1)
    assert parse_reply(bytes(rst)) == ("tcp", str(DST), 2, 12, "rst")


def test_icmpv6_errors_quote_the_probe_back():
    probe = build("udp", SRC, DST, 321, tag=4)
    refused = IPv6(src=str(DST), dst=str(SRC)) / ICMPv6DestUnreach(code=4) / IPv6(probe)
    # port unreachable comes from the target's own kernel: it names the target
    assert parse_reply(bytes(refused)) == ("udp", str(DST), 4, 321, "icmp6-1/4")
    router = IPv6Address("fd00:1::1")
    prohibited = IPv6(src=str(router), dst=str(SRC)) / ICMPv6DestUnreach(code=1) / IPv6(
        build("tcp", SRC, DST, 9, tag=4))
    assert parse_reply(bytes(prohibited)) == ("tcp", str(router), 4, 9,
                                              f"icmp6-1/1 from {router}")
    foreign = IPv6(src=str(DST), dst=str(SRC)) / ICMPv6EchoReply(id=7, seq=1)
    assert parse_reply(bytes(foreign)) is None


def test_a_target_address_names_its_family():
    assert ProbeTarget("a", 1, "fd00:1::3").address == DST
    assert ProbeTarget("a", 1, "fd00:1::3").family == IPV6
    assert ProbeTarget("a", 1, "10.0.0.3").family == IPV4
    assert applies("ndp", IPV6) and not applies("ndp", IPV4)
    assert applies("arp", IPV4) and not applies("arp", IPV6)
    assert applies("icmp", IPV6) and applies("icmp", IPV4)


def test_ordinary_solicitation_is_what_scapy_builds():
    frame = Ether(solicitation_frame(DST, MAC, SRC))
    assert frame.dst == "33:33:ff:00:00:03" and frame.src == "02:42:0a:00:00:02"
    assert (frame[IPv6].src, frame[IPv6].dst, frame[IPv6].hlim) == (
        str(SRC), "ff02::1:ff00:3", 255)
    ns = frame[ICMPv6ND_NS]
    assert ns.tgt == str(DST)
    assert frame[ICMPv6NDOptSrcLLAddr].lladdr == "02:42:0a:00:00:02"
    sent = ns.cksum
    del ns.cksum
    assert Ether(bytes(frame))[ICMPv6ND_NS].cksum == sent


def test_dad_solicitation_comes_from_nowhere_without_a_link_layer_option():
    packet = IPv6(solicitation(DST, MAC))
    assert packet.src == "::" and packet.dst == "ff02::1:ff00:3"
    assert ICMPv6NDOptSrcLLAddr not in packet
    sent = packet[ICMPv6ND_NS].cksum
    del packet[ICMPv6ND_NS].cksum
    assert IPv6(bytes(packet))[ICMPv6ND_NS].cksum == sent
    parsed = parse_ndp(solicitation(DST, MAC), "02:42:0a:00:00:02")
    assert parsed is not None and parsed.is_dad and parsed.kind == NS and parsed.target == DST


def test_solicited_node_group_and_its_mac():
    address = IPv6Address("fd00:1::ab:cdef")
    assert solicited_node(address) == IPv6Address("ff02::1:ffab:cdef")
    assert multicast_mac(solicited_node(address)) == bytes.fromhex("3333ffabcdef")


def test_advertisements_are_read_with_their_owner():
    owner = "02:42:0a:00:00:09"
    na = (Ether(src="02:00:00:00:00:01", dst="33:33:00:00:00:01")
          / IPv6(src=str(DST), dst="ff02::1", hlim=255)
          / ICMPv6ND_NA(tgt=str(DST), S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=owner))
    parsed = parse_ndp_frame(bytes(na))
    assert parsed is not None
    assert (parsed.kind, parsed.target, parsed.mac, parsed.solicited) == (NA, DST, owner, False)
    bare = Ether(src=owner) / IPv6(src=str(DST), dst=str(SRC), hlim=255) / ICMPv6ND_NA(
        tgt=str(DST), S=1)
    assert parse_ndp_frame(bytes(bare)).mac == owner  # no option: the frame's source
    forwarded = IPv6(src=str(DST), dst=str(SRC), hlim=254) / ICMPv6ND_NA(tgt=str(DST))
    assert parse_ndp(bytes(forwarded)) is None  # RFC 4861: hop limit 255 or not NDP


def test_if_inet6_and_on_link_prefixes(monkeypatch):
    text = ("fd000001000000000000000000000002 02 40 00 80     eth0\n"
            "fe80000000000000004200fffe0a0002 02 40 20 80     eth0\n"
            "fd000002000000000000000000000005 03 40 00 c0     eth1\n"
            "00000000000000000000000000000001 01 80 10 80       lo\n")
    found = parse_if_inet6(text)
    assert found[0] == Address6(2, "eth0", IPv6Interface("fd00:1::2/64"), 0x00, 0x80)
    assert not found[2].usable  # tentative: DAD still running
    assert found[1].scope == 0x20
    macs = {2: MAC, 3: MAC}
    monkeypatch.setattr(ndp, "addresses6", lambda pid: found)
    prefixes = on_link_prefixes(1, macs)
    assert [(o.ifname, str(o.address), n) for o, n in prefixes] == [
        ("eth0", "fd00:1::2", IPv6Network("fd00:1::/64"))]
    assert find_on_link6(prefixes, DST).ifname == "eth0"
    assert find_on_link6(prefixes, IPv6Address("fd00:2::5")) is None


def test_rfc4862_schedule_and_what_counts_as_a_duplicate():
    sends, end = probe_schedule6(Timings6(max_delay=1.0, transmits=3, retrans=1.0),
                                 random.Random(7))
    assert len(sends) == 3 and 0 <= sends[0] <= 1.0
    assert [round(b - a, 6) for a, b in zip(sends, sends[1:], strict=False)] == [1.0, 1.0]
    assert end == pytest.approx(sends[-1] + 1.0)
    ours, theirs = "02:42:0a:00:00:02", "02:42:0a:00:00:09"
    advert = parse_ndp(bytes(IPv6(src=str(DST), dst="ff02::1", hlim=255)
                             / ICMPv6ND_NA(tgt=str(DST)) / ICMPv6NDOptDstLLAddr(lladdr=theirs)))
    assert conflict_kind6(advert, DST, ours) == "na"
    assert conflict_kind6(advert, SRC, ours) is None  # about another address
    assert conflict_kind6(advert, DST, theirs) is None  # our own
    rival = parse_ndp(solicitation(DST, MAC), theirs)
    assert conflict_kind6(rival, DST, ours) == "dad-ns"
    resolving = parse_ndp(solicitation(DST, MAC, SRC))  # address resolution, not DAD
    assert conflict_kind6(resolving, DST, theirs) is None
    with pytest.raises(ValueError):
        Timings6(transmits=0)


def test_a_scan_takes_one_family():
    from emulator.probes.conflicts import scan_conflicts

    with pytest.raises(ValueError, match="one address family"):
        scan_conflicts(1, "eth0", [IPv4Address("10.0.0.1"), "fd00:1::1"])
