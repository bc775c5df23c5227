"""Ping many addresses from one socket: every echo sent first, then one shared wait.

Used to confirm reachability in bulk (a benchmark's "reachable from its
gateway") without a process per target. The socket is opened in the calling
thread's namespace; replies are matched by the echo identifier and sequence.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterable
from ipaddress import IPv4Address

from emulator.fabric import readiness
from emulator.fabric.inet import checksum

ECHO_REQUEST = 8
ECHO_REPLY = 0


def _echo(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    payload = b"cnm-sweep"
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident,
                       seq) + payload


def sweep(targets: Iterable[IPv4Address | str], timeout: float = 1.0) -> dict[str, float | None]:
    """Round-trip time in seconds per target, None where no reply came within `timeout`."""
    addresses = [str(t) for t in targets]
    results: dict[str, float | None] = {a: None for a in addresses}
    if not addresses:
        return results
    ident = os.getpid() & 0xFFFF
    sent: dict[int, tuple[str, float]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        for seq, address in enumerate(addresses):
            sent[seq & 0xFFFF] = (address, time.monotonic())
            sock.sendto(_echo(ident, seq & 0xFFFF), (address, 0))
        pending = len(addresses)
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not readiness.readable(sock, remaining):
                break
            while True:
                try:
                    packet, (source, _) = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                ihl = (packet[0] & 0x0F) * 4
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
                if kind != ECHO_REPLY or rid != ident or rseq not in sent:
                    continue
                address, at = sent[rseq]
                if address == source and results[address] is None:
                    results[address] = time.monotonic() - at
                    pending -= 1
    return results
