"""Probe packets: Scapy agrees with the patched bytes, and replies map back to probes."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror

from emulator.probes.packets import SEQ_BASE, SOURCE_PORT, build, parse_reply

SRC, DST = IPv4Address("10.1.0.2"), IPv4Address("10.1.0.3")


@pytest.mark.parametrize("protocol", ["icmp", "tcp", "udp"])
@pytest.mark.parametrize("k", [0, 1, 4242, 65535])
def test_patched_probe_is_a_valid_packet(protocol, k):
    raw = build(protocol, SRC, DST, k)
    parsed = IP(raw)
    assert (parsed.src, parsed.dst, parsed.id) == (str(SRC), str(DST), k)
    rebuilt = IP(raw)
    del rebuilt.chksum
    layer = rebuilt.payload
    del layer.chksum
    assert bytes(IP(bytes(rebuilt))) == raw, "checksums are what Scapy computes"
    if protocol == "tcp":
        assert parsed[TCP].seq == SEQ_BASE + k and parsed[TCP].flags == "S"


def test_echo_reply_maps_to_its_probe():
    reply = bytes(IP(src=str(DST), dst=str(SRC)) / ICMP(type=0, id=0xC000 + 3, seq=77) / b"x")
    assert parse_reply(reply) == ("icmp", str(DST), 3, 77, "echo-reply")


def test_tcp_rst_and_syn_ack_map_to_their_probe():
    rst = IP(src=str(DST), dst=str(SRC)) / TCP(sport=9, dport=SOURCE_PORT + 2, flags="RA",
                                               ack=SEQ_BASE + 12 + 1)
    synack = IP(src=str(DST), dst=str(SRC)) / TCP(sport=9, dport=SOURCE_PORT, flags="SA",
                                                  ack=SEQ_BASE + 13 + 1)
    assert parse_reply(bytes(rst)) == ("tcp", str(DST), 2, 12, "rst")
    assert parse_reply(bytes(synack)) == ("tcp", str(DST), 0, 13, "syn-ack")


def test_port_unreachable_quotes_the_udp_probe():
    probe = IP(build("udp", SRC, DST, 99, tag=7))
    error = IP(src=str(DST), dst=str(SRC)) / ICMP(type=3, code=3) / IPerror(bytes(probe)[:28])
    assert parse_reply(bytes(error)) == ("udp", str(DST), 7, 99, "icmp-3/3")


def test_unreachable_from_a_router_names_the_router():
    probe = IP(build("tcp", SRC, DST, 5, tag=1))
    router = "10.1.0.1"
    error = IP(src=router, dst=str(SRC)) / ICMP(type=3, code=1) / IPerror(bytes(probe)[:28])
    assert parse_reply(bytes(error)) == ("tcp", router, 1, 5, f"icmp-3/1 from {router}")


def test_unrelated_packets_are_ignored():
    assert parse_reply(bytes(IP() / TCP(dport=80))) is None
    assert parse_reply(bytes(IP() / ICMP(type=0, id=1))) is None
    assert parse_reply(b"\x60" + b"\0" * 39) is None
