"""Published ports reached, or not, from everywhere a user would try them.

A container publishes ports (`-p 8080:80`, `-p 127.0.0.1:8081:81`, `-p 8082:82/udp`);
inside its network namespace this module listens on the container ports itself
(sockets opened there from this process: the same on an emulated host, whose
containers run the host's binaries, and on a real dockerd, whose image is busybox),
answering every TCP connection and every UDP datagram with a greeting. Then, from
each source namespace (the Docker host itself, containers on the same and on another
network of that host, another Docker host and a container there, the outside host)
a TCP connect or a UDP datagram goes to each binding at the host's underlay address
and at 127.0.0.1; a probe reached the container iff the greeting comes back.

Expected, as Docker does it: a binding on 0.0.0.0 is reached at the host's address
from everywhere that routes to it (other hosts and `outside` through DNAT, the host
itself through DNAT in OUTPUT, its containers through the userland proxy or hairpin
NAT, whatever network they are on), and at 127.0.0.1 from the host alone (the
proxy, or DNAT with route_localnet); a binding on 127.0.0.1 only at 127.0.0.1 from
the host itself. 127.0.0.1 in any other namespace is that namespace's own loopback.
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from emulator.fabric import readiness
from emulator.probes.namespaced import inside

GREETING = b"published\n"
LOOPBACK = IPv4Address("127.0.0.1")
ANY = IPv4Address("0.0.0.0")
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)

# How a source stands to the publishing container's Docker host.
THE_HOST = "the Docker host"
SAME_NETWORK = "container, same network"
OTHER_NETWORK = "container, other network"
OTHER_HOST = "another Docker host"
OTHER_HOST_CONTAINER = "container on another Docker host"
OUTSIDE = "outside"
RELATIONS = (THE_HOST, SAME_NETWORK, OTHER_NETWORK, OTHER_HOST, OTHER_HOST_CONTAINER, OUTSIDE)


@dataclass(frozen=True)
class Binding:
    host_ip: IPv4Address
    host_port: int
    container_port: int
    protocol: str  # tcp or udp

    @property
    def spec(self) -> str:
        where = "" if self.host_ip == ANY else f"{self.host_ip}:"
        return f"{where}{self.host_port}:{self.container_port}/{self.protocol}"


BINDINGS = (
    Binding(ANY, 8080, 80, "tcp"),
    Binding(LOOPBACK, 8081, 81, "tcp"),
    Binding(ANY, 8082, 82, "udp"),
)


@dataclass(frozen=True)
class PortSource:
    name: str
    pid: int
    relation: str  # one of RELATIONS


@dataclass(frozen=True)
class PortProbe:
    source: PortSource
    via: str  # "host address" or "127.0.0.1"
    address: IPv4Address
    binding: Binding

    @property
    def target(self) -> str:
        return f"{self.via}:{self.binding.host_port}/{self.binding.protocol}"


def docker_py_ports(bindings: tuple[Binding, ...] = BINDINGS) -> dict[str, object]:
    """The `ports` argument of docker-py's containers.run for these bindings."""
    return {f"{b.container_port}/{b.protocol}":
            b.host_port if b.host_ip == ANY else (str(b.host_ip), b.host_port)
            for b in bindings}


def expected_reach(relation: str, via: str, binding: Binding) -> bool:
    """Whether Docker lets a source standing in `relation` to the publishing host
    reach `binding` at the host's address (`via` "host address") or at 127.0.0.1."""
    if via == "127.0.0.1":
        return relation == THE_HOST
    return binding.host_ip == ANY


def probes(sources: list[PortSource], host_address: IPv4Address,
           bindings: tuple[Binding, ...] = BINDINGS) -> list[PortProbe]:
    return [PortProbe(s, via, address, b) for s in sources
            for via, address in (("host address", host_address), ("127.0.0.1", LOOPBACK))
            for b in bindings]


@dataclass
class _Flow:
    probe: PortProbe
    sock: socket.socket
    connected: bool = False
    data: bytes = b""
    verdict: str = ""  # "reached" or why not
    rtt_ms: float | None = None
    note: str = ""
    started: float = field(default_factory=time.monotonic)


class Listeners:
    """The container ports, listened on inside the container's namespace."""

    def __init__(self, pid: int, bindings: tuple[Binding, ...] = BINDINGS) -> None:
        self.socks: list[socket.socket] = []
        with inside(pid):
            for b in bindings:
                kind = socket.SOCK_STREAM if b.protocol == "tcp" else socket.SOCK_DGRAM
                sock = socket.socket(socket.AF_INET, kind)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", b.container_port))
                if kind == socket.SOCK_STREAM:
                    sock.listen(128)
                sock.setblocking(False)
                self.socks.append(sock)
        self.served = 0

    def serve(self, sock: socket.socket) -> None:
        try:
            if sock.type == socket.SOCK_STREAM:
                conn, _ = sock.accept()
                with conn:
                    conn.setblocking(True)
                    conn.settimeout(1.0)
                    conn.sendall(GREETING)
            else:
                _, peer = sock.recvfrom(2048)
                sock.sendto(GREETING, peer)
            self.served += 1
        except (BlockingIOError, ConnectionError, TimeoutError):
            pass

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def observe(listeners: Listeners, plan: list[PortProbe],
            window: float = 1.5) -> list[tuple[PortProbe, str, str, float | None]]:
    """Send every probe at once and serve the listeners in the same loop until every
    probe has an outcome or the window ends: (probe, "reached" or why not, a note on
    the answer, rtt ms). A UDP answer counts from whatever address it comes."""
    flows: list[_Flow] = []
    try:
        for probe in plan:
            flows.append(_start(probe))
        _loop(listeners, flows, window)
    finally:
        for flow in flows:
            flow.sock.close()
    return [(f.probe, f.verdict or f"no greeting within {window:.1f} s", f.note, f.rtt_ms)
            for f in flows]


def _start(probe: PortProbe) -> _Flow:
    b = probe.binding
    with inside(probe.source.pid):
        kind = socket.SOCK_STREAM if b.protocol == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
    sock.setblocking(False)
    flow = _Flow(probe, sock)
    target = (str(probe.address), b.host_port)
    try:
        if kind == socket.SOCK_STREAM:
            sock.connect(target)
            flow.connected = True
        else:
            # Unconnected, so an answer from another address is seen (a userland
            # proxy's reply to a container leaves from the bridge's address); ICMP
            # errors still come back (IP_RECVERR).
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.sendto(b"hello\n", target)
            flow.connected = True
    except BlockingIOError:
        pass  # a TCP connect under way
    except OSError as exc:
        flow.verdict = f"connect: {exc.strerror}"
    return flow


def _loop(listeners: Listeners, flows: list[_Flow], window: float) -> None:
    deadline = time.monotonic() + window
    servers = {s.fileno(): s for s in listeners.socks}
    while True:
        open_flows = {f.sock.fileno(): f for f in flows if not f.verdict}
        if not open_flows:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        readable, writable = readiness.ready(
            list(servers) + list(open_flows),
            [fd for fd, f in open_flows.items() if not f.connected], remaining)
        for fd in readable:
            if fd in servers:
                listeners.serve(servers[fd])
            elif fd in open_flows:
                _read(open_flows[fd])
        for fd in writable:
            flow = open_flows[fd]
            error = flow.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                flow.verdict = f"connect: {errno.errorcode.get(error, error)}"
            else:
                flow.connected = True


def _read(flow: _Flow) -> None:
    try:
        chunk, peer = flow.sock.recvfrom(2048)
    except BlockingIOError:
        return
    except OSError as exc:
        flow.verdict = f"recv: {errno.errorcode.get(exc.errno or 0, exc.strerror)}"
        return
    flow.data += chunk
    udp = flow.probe.binding.protocol == "udp"
    if GREETING in flow.data or (udp and flow.data):
        flow.verdict = "reached" if GREETING in flow.data else f"other answer {flow.data[:20]!r}"
        flow.rtt_ms = round((time.monotonic() - flow.started) * 1000, 3)
        asked = (str(flow.probe.address), flow.probe.binding.host_port)
        if udp and peer and tuple(peer) != asked:
            flow.note = f"answer from {peer[0]}:{peer[1]}, not the address asked"
    elif not chunk:
        flow.verdict = "closed without the greeting"
