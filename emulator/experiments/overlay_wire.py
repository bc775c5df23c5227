"""What an overlay does to one packet, measured from captures: sizes, MTU, oversize fate.

UDP datagrams of a chosen payload go from a container on h1 to one on h2 over an
overlay, and between two containers on one bridge. Frames are captured inside the
sending container (the inner frame) and on h1's underlay NIC (the VXLAN-encapsulated
frame), so the overhead is a difference of captured byte counts, not a formula.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from dataclasses import dataclass

from emulator.experiments.nsproc import socket_in
from emulator.probes.capture import Capture, Frame

PORT = 9999
VXLAN_PORT = 4789
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2
ETH, IPV4, UDP, VXLAN = 14, 20, 8, 8


@dataclass(frozen=True)
class Endpoint:
    """Where a datagram is sent from or to: a process in the namespace, an address."""

    pid: int
    address: str


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


class Sender:
    """A UDP socket in the sending namespace, and a receiver in the target's."""

    def __init__(self, src: Endpoint, dst: Endpoint) -> None:
        self.dst = dst
        self.tx = socket_in(src.pid)
        self.rx = socket_in(dst.pid)
        self.rx.bind(("0.0.0.0", PORT))
        self.rx.setblocking(False)

    def send(self, payload: int, dont_fragment: bool, wait: float = 0.3) -> tuple[str, int]:
        """('delivered'|'lost'|'refused: ...', bytes received) for one datagram."""
        self.tx.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER,
                           IP_PMTUDISC_DO if dont_fragment else IP_PMTUDISC_DONT)
        try:
            self.tx.sendto(b"\xa5" * payload, (self.dst.address, PORT))
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                return f"refused by the sender: {exc.strerror}", 0
            raise
        if select.select([self.rx], [], [], wait)[0]:
            return "delivered", len(self.rx.recv(65535))
        return "lost", 0

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


def frames_after(capture: Capture, settle: float = 0.05) -> list[Frame]:
    """The frames captured so far (waiting `settle` for any still in flight)."""
    deadline = time.monotonic() + settle
    frames = capture.drain()
    while time.monotonic() < deadline:
        time.sleep(0.005)
        frames += capture.drain()
    return frames


def find_mtu(sender: Sender, high: int = 65507) -> int:
    """The largest IP packet that is delivered with don't-fragment set (binary search)."""
    low, best = 0, -1
    while low <= high:
        mid = (low + high) // 2
        outcome, _ = sender.send(mid, dont_fragment=True, wait=0.2)
        if outcome == "delivered":
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return best + IPV4 + UDP
