"""Probe packets: built once with Scapy as templates, then patched as bytes.

Scapy takes about a millisecond to build a packet; patching addresses, ports,
identifiers and checksums of a prebuilt template takes microseconds. Each probe
carries its index `k` in the IPv4 ID (the IPv6 flow label: IPv6 has no ID), which
an ICMP error quotes back, and also where a reply echoes it: the ICMP (ICMPv6)
echo sequence, the TCP sequence number (acknowledged as seq + 1). Each
source gets its own tag, carried as the ICMP echo identifier and the TCP/UDP
source port, so that sources sharing a namespace or a masquerading host never
take each other's replies.
"""

from __future__ import annotations

import struct
from functools import cache
from ipaddress import IPv4Address, IPv6Address

from emulator.fabric.inet import checksum

TCP_PORT = 9
UDP_PORT = 9
SOURCE_PORT = 47001
ICMP_ID_BASE = 0xC000
MAX_TAGS = 0x3FFF
SEQ_BASE = 0x5EED0000
IPV6_HEADER = 40
ICMP6, TCP6, UDP6 = 58, 6, 17  # IPv6 next-header numbers
ECHO6_REQUEST, ECHO6_REPLY = 128, 129
ICMP6_ERRORS = (1, 2, 3, 4)  # unreachable, too big, time exceeded, parameter problem
PORT_UNREACHABLE = ("icmp-3/3", "icmp6-1/4")  # an answer from the target's own kernel


@cache
def template(protocol: str) -> bytes:
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    layer = {
        "icmp": lambda: ICMP(type=8, id=ICMP_ID_BASE) / b"cnm-probe",
        "tcp": lambda: TCP(sport=SOURCE_PORT, dport=TCP_PORT, flags="S", window=1024),
        "udp": lambda: UDP(sport=SOURCE_PORT, dport=UDP_PORT) / b"cnm-probe",
    }[protocol]()
    return bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64) / layer)


@cache
def template6(protocol: str) -> bytes:
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

    layer = {
        "icmp": lambda: ICMPv6EchoRequest(id=ICMP_ID_BASE, data=b"cnm-probe"),
        "tcp": lambda: TCP(sport=SOURCE_PORT, dport=TCP_PORT, flags="S", window=1024),
        "udp": lambda: UDP(sport=SOURCE_PORT, dport=UDP_PORT) / b"cnm-probe",
    }[protocol]()
    return bytes(IPv6(src="::", dst="::", hlim=64) / layer)


def build(protocol: str, src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address,
          k: int, tag: int = 0) -> bytes:
    """The probe with index k of the source tagged `tag`, from src to dst, checksums set
    (an IPv6 packet when the addresses are IPv6)."""
    if src.version == 6:
        return _build6(protocol, src, dst, k, tag)  # type: ignore[arg-type]
    packet = bytearray(template(protocol))
    struct.pack_into("!H", packet, 4, k & 0xFFFF)
    packet[12:16] = src.packed
    packet[16:20] = dst.packed
    struct.pack_into("!H", packet, 10, 0)
    struct.pack_into("!H", packet, 10, checksum(bytes(packet[:20])))
    body = packet[20:]
    if protocol == "icmp":
        struct.pack_into("!HH", body, 4, ICMP_ID_BASE + tag, k & 0xFFFF)
        struct.pack_into("!H", body, 2, 0)
        struct.pack_into("!H", body, 2, checksum(bytes(body)))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6 if protocol == "tcp" else 17,
                                                       len(body))
        struct.pack_into("!H", body, 0, SOURCE_PORT + tag)
        if protocol == "tcp":
            struct.pack_into("!I", body, 4, SEQ_BASE + k)
            offset = 16
        else:
            offset = 6
        struct.pack_into("!H", body, offset, 0)
        struct.pack_into("!H", body, offset, checksum(pseudo + bytes(body)) or 0xFFFF)
    packet[20:] = body
    return bytes(packet)


def _build6(protocol: str, src: IPv6Address, dst: IPv6Address, k: int, tag: int) -> bytes:
    packet = bytearray(template6(protocol))
    struct.pack_into("!I", packet, 0, 6 << 28 | k & 0xFFFF)  # the flow label carries k
    packet[8:24] = src.packed
    packet[24:40] = dst.packed
    body = packet[IPV6_HEADER:]
    if protocol == "icmp":
        struct.pack_into("!HH", body, 4, ICMP_ID_BASE + tag, k & 0xFFFF)
        offset, next_header = 2, ICMP6
    else:
        struct.pack_into("!H", body, 0, SOURCE_PORT + tag)
        if protocol == "tcp":
            struct.pack_into("!I", body, 4, SEQ_BASE + k)
            offset, next_header = 16, TCP6
        else:
            offset, next_header = 6, UDP6
    struct.pack_into("!H", body, offset, 0)
    struct.pack_into("!H", body, offset, checksum6(src, dst, next_header, bytes(body)) or 0xFFFF)
    packet[IPV6_HEADER:] = body
    return bytes(packet)


def checksum6(src: IPv6Address, dst: IPv6Address, next_header: int, upper: bytes) -> int:
    """The upper-layer checksum over RFC 8200's pseudo-header (ICMPv6, TCP, UDP)."""
    pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(upper), next_header)
    return checksum(pseudo + upper)


def _tag_of_port(port: int) -> int | None:
    tag = port - SOURCE_PORT
    return tag if 0 <= tag <= MAX_TAGS else None


def _tag_of_ident(ident: int) -> int | None:
    tag = ident - ICMP_ID_BASE
    return tag if 0 <= tag <= MAX_TAGS else None


def parse_reply(packet: bytes) -> tuple[str, str, int, int, str] | None:
    """(protocol of the probe, replying address, source tag, probe index k, what it was).

    Understands echo replies, TCP answers to our SYNs (RST or SYN-ACK), and ICMP
    errors quoting one of our probes, over IPv4 or IPv6; anything else is None. An
    ICMPv6 error reads `icmp6-TYPE/CODE` where an ICMP one reads `icmp-TYPE/CODE`.
    """
    if len(packet) >= IPV6_HEADER and packet[0] >> 4 == 6:
        return _parse_reply6(packet)
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    proto = packet[9]
    source = str(IPv4Address(packet[12:16]))
    body = packet[ihl:]
    if proto == 1 and len(body) >= 8:
        kind, code = body[0], body[1]
        if kind == 0:
            ident, seq = struct.unpack_from("!HH", body, 4)
            tag = _tag_of_ident(ident)
            return None if tag is None else ("icmp", source, tag, seq, "echo-reply")
        if kind in (3, 11) and len(body) >= 8 + 20 + 8:
            quoted = body[8:]
            qihl = (quoted[0] & 0x0F) * 4
            qproto = {1: "icmp", 6: "tcp", 17: "udp"}.get(quoted[9])
            if qproto is None or len(quoted) < qihl + 8:
                return None
            (k,) = struct.unpack_from("!H", quoted, 4)
            if qproto == "icmp":
                tag = _tag_of_ident(struct.unpack_from("!H", quoted, qihl + 4)[0])
            else:
                tag = _tag_of_port(struct.unpack_from("!H", quoted, qihl)[0])
            if tag is None:
                return None
            qdst = str(IPv4Address(quoted[16:20]))
            what = f"icmp-{kind}/{code}" + ("" if qdst == source else f" from {source}")
            return qproto, qdst if kind == 3 and code == 3 else source, tag, k, what
        return None
    if proto == 6 and len(body) >= 20:
        return _tcp_answer(body, source)
    return None


def _tcp_answer(body: bytes, source: str) -> tuple[str, str, int, int, str] | None:
    _, dport, _, ack = struct.unpack_from("!HHII", body, 0)
    flags = body[13]
    tag = _tag_of_port(dport)
    if tag is None or not flags & 0x14:
        return None
    k = (ack - 1 - SEQ_BASE) & 0xFFFFFFFF
    if k > 0xFFFF:
        return None
    return "tcp", source, tag, k, "syn-ack" if flags & 0x12 == 0x12 else "rst"


def _parse_reply6(packet: bytes) -> tuple[str, str, int, int, str] | None:
    """parse_reply for an IPv6 packet without extension headers (as probes and the
    answers of Linux kernels are)."""
    next_header = packet[6]
    source = str(IPv6Address(packet[8:24]))
    body = packet[IPV6_HEADER:]
    if next_header == ICMP6 and len(body) >= 8:
        kind, code = body[0], body[1]
        if kind == ECHO6_REPLY:
            ident, seq = struct.unpack_from("!HH", body, 4)
            tag = _tag_of_ident(ident)
            return None if tag is None else ("icmp", source, tag, seq, "echo-reply")
        if kind in ICMP6_ERRORS and len(body) >= 8 + IPV6_HEADER + 8:
            quoted = body[8:]
            if quoted[0] >> 4 != 6:
                return None
            qproto = {ICMP6: "icmp", TCP6: "tcp", UDP6: "udp"}.get(quoted[6])
            if qproto is None:
                return None
            k = struct.unpack_from("!I", quoted, 0)[0] & 0xFFFF
            upper = quoted[IPV6_HEADER:]
            if qproto == "icmp":
                if upper[0] != ECHO6_REQUEST:
                    return None
                tag = _tag_of_ident(struct.unpack_from("!H", upper, 4)[0])
            else:
                tag = _tag_of_port(struct.unpack_from("!H", upper, 0)[0])
            if tag is None:
                return None
            qdst = str(IPv6Address(quoted[24:40]))
            what = f"icmp6-{kind}/{code}" + ("" if qdst == source else f" from {source}")
            return qproto, qdst if (kind, code) == (1, 4) else source, tag, k, what
        return None
    if next_header == TCP6 and len(body) >= 20:
        return _tcp_answer(body, source)
    return None
