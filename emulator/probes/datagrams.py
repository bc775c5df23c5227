"""UDP datagrams from one lab namespace to another: delivered, lost or refused, and
the largest IP packet that crosses with don't-fragment set.

The sending socket lives in the source's namespace and the receiving one in the
target's; the outcome of each datagram is what the receiver got, so the path MTU
is found by sending, not computed from interface MTUs.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from emulator.fabric import readiness
from emulator.probes.namespaced import socket_in

PORT = 9999
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2
IPV4, UDP = 20, 8  # header bytes


@dataclass(frozen=True)
class Endpoint:
    """Where a datagram is sent from or to: a process in the namespace, an address."""

    pid: int
    address: str


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
        if readiness.readable(self.rx, wait):
            return "delivered", len(self.rx.recv(65535))
        return "lost", 0

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


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
