"""What an overlay does to one packet, measured from captures: sizes, MTU, oversize fate.

UDP datagrams of a chosen payload go from a container on h1 to one on h2 over an
overlay, and between two containers on one bridge. Frames are captured inside the
sending container (the inner frame) and on h1's underlay NIC (the VXLAN-encapsulated
frame), so the overhead is a difference of captured byte counts, not a formula.
"""

from __future__ import annotations

import socket
import struct
import time

from emulator.probes.capture import Capture, Frame
from emulator.probes.datagrams import IPV4, UDP

VXLAN_PORT = 4789
ETH, VXLAN = 14, 8  # header bytes


def _ipv4(frame: bytes) -> tuple[int, int, int] | None:
    """(IP header length, protocol, total length) of an IPv4-in-Ethernet frame."""
    if len(frame) < ETH + IPV4 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[ETH] & 0x0F) * 4
    return ihl, frame[ETH + 9], struct.unpack_from("!H", frame, ETH + 2)[0]


def udp_dport(frame: bytes) -> int | None:
    parsed = _ipv4(frame)
    if parsed is None or parsed[1] != socket.IPPROTO_UDP:
        return None
    ihl = parsed[0]
    flags = struct.unpack_from("!H", frame, ETH + 6)[0]
    if flags & 0x1FFF:  # a non-first fragment has no UDP header
        return None
    return struct.unpack_from("!H", frame, ETH + ihl + 2)[0]


def is_fragment(frame: bytes) -> bool:
    parsed = _ipv4(frame)
    return parsed is not None and bool(struct.unpack_from("!H", frame, ETH + 6)[0] & 0x3FFF)


def vni_of(frame: bytes) -> int | None:
    """The VNI of a VXLAN frame (outer Ethernet + IPv4 + UDP to the VXLAN port)."""
    parsed = _ipv4(frame)
    if parsed is None:
        return None
    start = ETH + parsed[0] + UDP
    if len(frame) < start + VXLAN:
        return None
    return int.from_bytes(frame[start + 4:start + 7], "big")


def is_frag_needed(frame: bytes) -> int | None:
    """The next-hop MTU of an ICMP 'fragmentation needed' frame, else None."""
    parsed = _ipv4(frame)
    if parsed is None or parsed[1] != socket.IPPROTO_ICMP:
        return None
    icmp = ETH + parsed[0]
    if frame[icmp] == 3 and frame[icmp + 1] == 4:
        return struct.unpack_from("!H", frame, icmp + 6)[0]
    return None


def frames_after(capture: Capture, settle: float = 0.05) -> list[Frame]:
    """The frames captured so far (waiting `settle` for any still in flight)."""
    deadline = time.monotonic() + settle
    frames = capture.drain()
    while time.monotonic() < deadline:
        time.sleep(0.005)
        frames += capture.drain()
    return frames
