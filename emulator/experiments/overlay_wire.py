"""What an overlay does to one packet, measured from captures: sizes, MTU, oversize fate.

UDP datagrams of a chosen payload go from a container on h1 to one on h2 over an
overlay, and between two containers on one bridge. Frames are captured inside the
sending container (the inner frame) and on h1's underlay NIC (the VXLAN-encapsulated
frame, its outer headers IPv4 or IPv6 as the underlay's VTEPs are), so the overhead
is a difference of captured byte counts, not a formula.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from emulator.probes.capture import Capture, Frame
from emulator.probes.datagrams import IPV4, UDP

VXLAN_PORT = 4789
ETH, VXLAN = 14, 8  # header bytes
IPV6 = 40
ETH_IPV4, ETH_IPV6 = b"\x08\x00", b"\x86\xdd"
IPV6_FRAGMENT, ICMPV6 = 44, 58


def outer_overhead(ip_header: int) -> int:
    """What VXLAN adds to a frame: outer Ethernet, IP, UDP and VXLAN headers."""
    return ETH + ip_header + UDP + VXLAN


@dataclass(frozen=True)
class _Layer4:
    """Where an Ethernet frame's transport header starts, and what it is."""

    offset: int
    protocol: int
    fragment: bool  # part of a fragmented packet
    first: bool  # carries the transport header (not a later fragment)


def _layer4(frame: bytes) -> _Layer4 | None:
    """The transport layer of an IPv4- or IPv6-in-Ethernet frame (IPv6: with at most
    a fragment header between the fixed header and it, as the kernel sends)."""
    if len(frame) >= ETH + IPV4 and frame[12:14] == ETH_IPV4:
        ihl = (frame[ETH] & 0x0F) * 4
        flags = struct.unpack_from("!H", frame, ETH + 6)[0]
        return _Layer4(ETH + ihl, frame[ETH + 9], bool(flags & 0x3FFF), not flags & 0x1FFF)
    if len(frame) >= ETH + IPV6 and frame[12:14] == ETH_IPV6:
        offset, protocol = ETH + IPV6, frame[ETH + 6]
        if protocol != IPV6_FRAGMENT:
            return _Layer4(offset, protocol, False, True)
        if len(frame) < offset + 8:
            return None
        fragment_offset = struct.unpack_from("!H", frame, offset + 2)[0] >> 3
        return _Layer4(offset + 8, frame[offset], True, fragment_offset == 0)
    return None


def ip_version(frame: bytes) -> int | None:
    """4 or 6 for an IP-in-Ethernet frame, else None."""
    return {ETH_IPV4: 4, ETH_IPV6: 6}.get(frame[12:14])


def udp_dport(frame: bytes) -> int | None:
    layer = _layer4(frame)
    if layer is None or layer.protocol != socket.IPPROTO_UDP or not layer.first:
        return None
    return struct.unpack_from("!H", frame, layer.offset + 2)[0]


def is_fragment(frame: bytes) -> bool:
    layer = _layer4(frame)
    return layer is not None and layer.fragment


def vni_of(frame: bytes) -> int | None:
    """The VNI of a VXLAN frame (outer Ethernet + IPv4 or IPv6 + UDP to the VXLAN port)."""
    layer = _layer4(frame)
    if layer is None or not layer.first:
        return None
    start = layer.offset + UDP
    if len(frame) < start + VXLAN:
        return None
    return int.from_bytes(frame[start + 4:start + 7], "big")


def is_frag_needed(frame: bytes) -> int | None:
    """The MTU an ICMP 'fragmentation needed' (IPv4) or ICMPv6 'packet too big' frame
    announces, else None."""
    layer = _layer4(frame)
    if layer is None or len(frame) < layer.offset + 8:
        return None
    kind, code = frame[layer.offset], frame[layer.offset + 1]
    if layer.protocol == socket.IPPROTO_ICMP and (kind, code) == (3, 4):
        return struct.unpack_from("!H", frame, layer.offset + 6)[0]
    if layer.protocol == ICMPV6 and kind == 2:
        return struct.unpack_from("!I", frame, layer.offset + 4)[0]
    return None


def frames_after(capture: Capture, settle: float = 0.05) -> list[Frame]:
    """The frames captured so far (waiting `settle` for any still in flight)."""
    deadline = time.monotonic() + settle
    frames = capture.drain()
    while time.monotonic() < deadline:
        time.sleep(0.005)
        frames += capture.drain()
    return frames
