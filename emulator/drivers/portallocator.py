"""Host ports of one Docker host: which are taken, and which a new binding gets.

libnetwork's portallocator, as Docker 28 has it: ports are held per host address
and protocol; a port held on 0.0.0.0 is held on every IPv4 address of the host
(and one on [::] on every IPv6 address; the families are apart, as Docker 28
binds 0.0.0.0 and [::] separately, to the same port) and one held on a specific
address blocks 0.0.0.0 (or [::]), so `-p 8080:80` and
`-p 127.0.0.1:8080:80` exclude each other while `-p 127.0.0.1:8080:80` and
`-p 10.0.0.1:8080:80` do not. A request for a range (or for any port: the
kernel's local port range, read from the Docker host's
/proc/sys/net/ipv4/ip_local_port_range) takes the first free port after the one
the same range gave last, wrapping around, as dockerd does.

Pure bookkeeping: the caller reads the kernel's range and makes the rules.
"""

from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv6Address

from emulator import errdefs as err

PROTOCOLS = ("tcp", "udp", "sctp")
DEFAULT_RANGE = (49153, 65535)
"""dockerd's fallback when the kernel's range cannot be read."""
ANY = IPv4Address("0.0.0.0")
ANY6 = IPv6Address("::")
HostIp = IPv4Address | IPv6Address


def any_of(ip: HostIp) -> HostIp:
    """Every address of the host in `ip`'s family."""
    return ANY6 if ip.version == 6 else ANY


class PortAllocator:
    def __init__(self, local_range: tuple[int, int] = DEFAULT_RANGE) -> None:
        self.local_range = local_range
        self._held: dict[tuple[HostIp, str], set[int]] = {}
        self._last: dict[tuple[HostIp, str, int, int], int] = {}
        self._lock = threading.Lock()

    def request(self, ip: HostIp, proto: str, start: int = 0, end: int = 0) -> int:
        """Take a port on `ip` for `proto`: exactly `start` when start == end != 0, the
        next free one of start-end, or of the local range when both are 0."""
        if proto not in PROTOCOLS:
            raise err.InvalidParameter("unknown protocol")
        if (start or end) and (not start or not end or end < start):
            raise err.InvalidParameter(f"invalid port range: {start}-{end}")
        with self._lock:
            blocking = self._blocking(ip, proto)
            if start and start == end:
                for address, held in blocking:
                    if start in held:
                        shown = f"[{address}]" if address.version == 6 else str(address)
                        raise err.Forbidden(
                            f"Bind for {shown}:{start} failed: port is already allocated")
                self._held.setdefault((ip, proto), set()).add(start)
                return start
            begin, finish = (start, end) if start else self.local_range
            key = (ip, proto, begin, finish)
            port = self._last.get(key, finish)
            for _ in range(finish - begin + 1):
                port = begin if port >= finish else port + 1
                if not any(port in held for _, held in blocking):
                    self._held.setdefault((ip, proto), set()).add(port)
                    self._last[key] = port
                    return port
            raise err.Forbidden("all ports are allocated")

    def release(self, ip: HostIp, proto: str, port: int) -> None:
        with self._lock:
            self._held.get((ip, proto), set()).discard(port)

    def held(self) -> list[tuple[str, str, int]]:
        """Every port held: (address, protocol, port), sorted."""
        with self._lock:
            return sorted((str(ip), proto, port) for (ip, proto), ports in self._held.items()
                          for port in ports)

    def _blocking(self, ip: HostIp, proto: str) -> list[tuple[HostIp, set[int]]]:
        """The ports a request on `ip` must not collide with, and whose they are."""
        every = any_of(ip)
        if ip == every:
            pairs = [(a, h) for (a, p), h in self._held.items()
                     if p == proto and a.version == ip.version]
        else:
            pairs = [(a, h) for (a, p), h in self._held.items()
                     if p == proto and a in (ip, every)]
        return sorted(pairs, key=lambda pair: pair[0] != ip)
