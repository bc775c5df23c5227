"""What a duplicate address does to a client that talks to it.

A LAN client resolves the address by ARP before each TCP connection, as it does
whenever its entry has expired. Both owners answer; the kernel keeps the first
answer and ignores a different one within its lock time, so which owner the
connection reaches is a race. Each round forgets the entry, connects, and then reads
which MAC the kernel kept: the rounds show how often the entry flips between owners
and how many connections fail (they fail when the owner without a listener wins).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.fabric.netns import Namespace
from emulator.fabric.rtnl import Rtnl
from emulator.probes.engine import refuse_machine_namespace


@dataclass(frozen=True)
class Round:
    index: int
    mac: str | None
    connected: bool
    error: str


@dataclass(frozen=True)
class Impact:
    address: IPv4Address
    rounds: tuple[Round, ...]

    @property
    def flips(self) -> int:
        """How many times the client's ARP entry changed MAC from one round to the next."""
        macs = [r.mac for r in self.rounds if r.mac is not None]
        return sum(1 for a, b in zip(macs, macs[1:], strict=False) if a != b)

    @property
    def failures(self) -> int:
        return sum(1 for r in self.rounds if not r.connected)

    def macs(self) -> set[str]:
        return {r.mac for r in self.rounds if r.mac is not None}


@contextmanager
def listening(pid: int, port: int, ipv6: bool = False) -> Iterator[None]:
    """A TCP listener (on 0.0.0.0, or [::] with `ipv6`) in the namespace of pid,
    accepting and closing connections."""
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            server = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET,
                                   socket.SOCK_STREAM)
    finally:
        ns.close()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("::" if ipv6 else "0.0.0.0", port))
    server.listen(128)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)


def measure(client_pid: int, address: IPv4Address, port: int, rounds: int,
            timeout: float = 0.5) -> Impact:
    """`rounds` fresh resolutions and TCP connections from the client to `address`."""
    ns = Namespace.of_pid(client_pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered():
            rtnl = Rtnl()
            sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(rounds)]
    finally:
        ns.close()
    results = []
    try:
        for index, sock in enumerate(sockets):
            for ifindex, dst, _, _ in rtnl.neighbours():
                if dst == address:
                    rtnl.delete_neighbour(ifindex, dst)
            sock.settimeout(timeout)
            try:
                sock.connect((str(address), port))
                connected, error = True, ""
            except OSError as exc:
                connected, error = False, exc.strerror or type(exc).__name__
            finally:
                sock.close()
            mac = next((m for _, dst, m, _ in rtnl.neighbours() if dst == address), None)
            results.append(Round(index, mac, connected, error))
    finally:
        rtnl.close()
    return Impact(address, tuple(results))
