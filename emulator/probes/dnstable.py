"""Who resolves whom through Docker's embedded DNS: expected from the Engine API
state, observed by real queries to 127.0.0.11:53 from inside each container.

Expected (Docker's rules, read from `apistate` only): a container has the embedded
resolver iff it has an endpoint on a user-defined network (not the default bridge,
`host` or `none`). From such a container a name resolves iff a container sharing a
network with it has that name on its endpoint there (`DNSNames`, or the container
name and `Aliases` where the engine is older than API 1.44); the answer is the
addresses of those endpoints on one shared network. Every other name gets no
address: Docker forwards it to the host's resolvers, which do not know a lab's
container names. From a container without the resolver nothing listens on
127.0.0.11:53: the query is refused (ICMP port unreachable on loopback).

Observed: one UDP socket per source namespace, connected to 127.0.0.11:53 while the
thread is inside that namespace; every query sent at once, then one shared window
for the answers (dnspython for the wire format). A refused socket ends its source.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import dns.message
import dns.rcode
import dns.rdatatype

from emulator.fabric import readiness
from emulator.probes.apistate import ContainerState, HostState, LabState, NetworkState
from emulator.probes.matrix import DIFF_LEGEND, grid
from emulator.probes.namespaced import inside

RESOLVER = ("127.0.0.11", 53)
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
NO_DNS_DRIVERS = ("host", "null")
GWBRIDGE = "docker_gwbridge"


@dataclass(frozen=True)
class Source:
    """A container that sends queries: `host/name`, the pid of its namespace."""

    name: str
    pid: int
    has_resolver: bool


@dataclass(frozen=True)
class Expectation:
    source: str
    name: str  # the name asked
    owners: tuple[str, ...]  # `host/container`s that carry this name somewhere on the lab
    answers: tuple[frozenset[str], ...]  # acceptable answers: endpoint sets, one per network
    asked: str = ""  # the name, or what it is where it differs from lab to lab (name_kinds)

    @property
    def resolves(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class DnsCell:
    source: str
    name: str
    asked: str  # the name, or `<short id of h1/f1>` and the like (name_kinds)
    owners: str
    expected: str  # the first acceptable answer (endpoints `host/c@net`), "" for none
    observed: str  # the answer's endpoints, or the addresses not naming one; "" for none
    ok: bool
    evidence: str  # rcode, "refused", "no answer within ..."
    rtt_ms: float | None

    @property
    def wrong(self) -> bool:
        return not self.ok


def has_dns(network: NetworkState) -> bool:
    """A network whose endpoints the embedded DNS serves: user-defined, not the default
    bridge (names there only through legacy links), not host or none, nor the swarm's
    `docker_gwbridge` (overlay containers' way out, which publishes no names)."""
    if network.driver in NO_DNS_DRIVERS or network.name == GWBRIDGE:
        return False
    return not network.flag(DEFAULT_BRIDGE, network.name == "bridge" and
                            network.driver == "bridge")


def _dns_endpoints(host: HostState, container: ContainerState):
    for ep in container.endpoints:
        network = host.networks.get(ep.network_id)
        if network is not None and has_dns(network) and ep.address is not None:
            yield ep


def sources(state: LabState) -> list[Source]:
    """Every running container of the lab, with whether Docker gives it the resolver."""
    return [Source(f"{host.name}/{c.name}", c.pid, any(True for _ in _dns_endpoints(host, c)))
            for host in state.hosts for c in host.containers if c.pid]


def name_kinds(state: LabState) -> dict[str, str]:
    """What each name of the lab is to its first owner: `name`, `alias`, or, for the
    names that differ from lab to lab, `<short id of h1/f1>` / `<hostname of h1/f1>`
    (a label to compare two labs by)."""
    kinds: dict[str, str] = {}
    for host in state.hosts:
        for c in host.containers:
            owner = f"{host.name}/{c.name}"
            for name in lab_names_of(host, c):
                if name in kinds:
                    continue
                if name == c.name:
                    kinds[name] = name
                elif name == c.id[:12]:
                    kinds[name] = f"<short id of {owner}>"
                elif name == c.hostname:
                    kinds[name] = f"<hostname of {owner}>"
                else:
                    kinds[name] = name
    return kinds


def lab_names_of(host: HostState, c: ContainerState) -> list[str]:
    """The names a container carries: its name, its hostname (not a host-mode one's:
    that is the Docker host's), the names of its endpoints."""
    carried = [c.name]
    if c.hostname and not c.shares_host:
        carried.append(c.hostname)
    for ep in _dns_endpoints(host, c):
        carried += ep.names(c.name)
    return list(dict.fromkeys(carried))


def lab_names(state: LabState) -> dict[str, tuple[str, ...]]:
    """Every name a container of the lab carries (its name, hostname, and the names of
    its endpoints), each with the containers that carry it, in lab order."""
    names: dict[str, list[str]] = {}
    for host in state.hosts:
        for c in host.containers:
            for name in lab_names_of(host, c):
                names.setdefault(name, []).append(f"{host.name}/{c.name}")
    return {name: tuple(owners) for name, owners in names.items()}


def expectations(state: LabState) -> list[Expectation]:
    """What Docker answers, for every container asking every name of the lab."""
    names = lab_names(state)
    kinds = name_kinds(state)
    out = []
    for host in state.hosts:
        for source in host.containers:
            if not source.pid:
                continue
            label = f"{host.name}/{source.name}"
            for name, owners in names.items():
                out.append(Expectation(label, name, owners, _answers(state, host, source, name),
                                       kinds.get(name, name)))
    return out


def _answers(state: LabState, host: HostState, source: ContainerState,
             name: str) -> tuple[frozenset[str], ...]:
    """Per network the source has the resolver on (in its endpoints' order), the
    endpoints there that carry `name`; networks where none does are left out. A
    network is one ID: a local one's is its host's alone, a swarm one's is the same
    on every host, so its containers elsewhere answer too."""
    answers = []
    for ep in _dns_endpoints(host, source):
        found = frozenset(
            f"{other_host.name}/{c.name}@{other.network_name}"
            for other_host in state.hosts
            for c in other_host.containers
            for other in _dns_endpoints(other_host, c)
            if other.network_id == ep.network_id and name in other.names(c.name))
        if found and found not in answers:
            answers.append(found)
    return tuple(answers)


def answer_labels(state: LabState, host: HostState,
                  source: ContainerState) -> dict[IPv4Address, str]:
    """`host/container@network` by address, as seen from `source`: the endpoints on
    the networks it is on first (wherever they are), then any other of its host's."""
    mine = {ep.network_id for ep in source.endpoints}
    labels: dict[IPv4Address, str] = {}
    for other_host in state.hosts:
        for c in other_host.containers:
            for ep in c.endpoints:
                if ep.address is not None and (ep.network_id in mine or other_host is host):
                    label = f"{other_host.name}/{c.name}@{ep.network_name}"
                    if ep.network_id in mine or ep.address.ip not in labels:
                        labels[ep.address.ip] = label
    return labels


def judge(expectation: Expectation, observed: frozenset[str], evidence: str,
          rtt_ms: float | None) -> DnsCell:
    """A cell is as Docker when the answer is one of the acceptable endpoint sets, or
    when no answer was expected and no address came."""
    ok = observed in expectation.answers if expectation.answers else not observed
    first = sorted(expectation.answers[0]) if expectation.answers else []
    return DnsCell(expectation.source, expectation.name, expectation.asked or expectation.name,
                   " ".join(expectation.owners),
                   " ".join(first), " ".join(sorted(observed)), ok, evidence, rtt_ms)


# -- observing ---------------------------------------------------------------------


@dataclass
class _Asker:
    source: Source
    sock: socket.socket
    queries: list[tuple[str, float]] = field(default_factory=list)  # by message id
    answers: dict[int, tuple[list[IPv4Address], str, float]] = field(default_factory=dict)
    failed: str = ""


class DnsProber:
    """A batch of A queries from many namespaces to their 127.0.0.11:53, one window."""

    def __init__(self, window: float = 1.0, server: tuple[str, int] = RESOLVER) -> None:
        self.window = window
        self.server = server
        self.sent = 0
        self.answered = 0
        self.seconds = 0.0

    def ask(self, questions: Iterable[tuple[Source, str]]
            ) -> dict[tuple[str, str], tuple[list[IPv4Address], str, float | None]]:
        """Ask every (source, name); per (source name, name): the A addresses, the
        evidence (rcode, refused, no answer) and the round trip in ms."""
        askers: dict[str, _Asker] = {}
        try:
            for source, name in questions:
                asker = askers.get(source.name)
                if asker is None:
                    asker = askers[source.name] = _Asker(source, self._open(source.pid))
                if len(asker.queries) >= 0x10000:
                    raise ValueError(f"more than 65536 queries from {source.name}")
                asker.queries.append((name, 0.0))
            started = time.perf_counter()
            for asker in askers.values():
                self._send(asker)
            self._collect(list(askers.values()))
            self.seconds += time.perf_counter() - started
        finally:
            for asker in askers.values():
                asker.sock.close()
        out: dict[tuple[str, str], tuple[list[IPv4Address], str, float | None]] = {}
        for asker in askers.values():
            for k, (name, _) in enumerate(asker.queries):
                if k in asker.answers:
                    addresses, evidence, rtt = asker.answers[k]
                    out[(asker.source.name, name)] = (addresses, evidence, rtt)
                else:
                    out[(asker.source.name, name)] = (
                        [], asker.failed or f"no answer within {self.window:.2f} s", None)
        return out

    def _open(self, pid: int) -> socket.socket:
        with inside(pid):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            sock.connect(self.server)
        sock.setblocking(False)
        return sock

    def _send(self, asker: _Asker) -> None:
        for k, (name, _) in enumerate(asker.queries):
            query = dns.message.make_query(name, dns.rdatatype.A)
            query.id = k
            wire = query.to_wire()
            asker.queries[k] = (name, time.monotonic())
            while True:
                try:
                    asker.sock.send(wire)
                    self.sent += 1
                    break
                except BlockingIOError:
                    readiness.ready(write=[asker.sock], timeout=1.0)
                except ConnectionRefusedError:
                    asker.failed = "refused (nothing listens on 127.0.0.11:53)"
                    return

    def _collect(self, askers: list[_Asker]) -> None:
        by_fd = {a.sock.fileno(): a for a in askers if not a.failed}
        pending = sum(len(a.queries) - len(a.answers) for a in by_fd.values())
        deadline = time.monotonic() + self.window
        while pending > 0 and by_fd:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _ = readiness.ready(list(by_fd), timeout=remaining)
            for fd in readable:
                asker = by_fd[fd]
                got = self._drain(asker)
                pending -= got
                if asker.failed:
                    pending -= len(asker.queries) - len(asker.answers)
                    del by_fd[fd]

    def _drain(self, asker: _Asker) -> int:
        matched = 0
        while True:
            try:
                wire = asker.sock.recv(65535)
            except BlockingIOError:
                return matched
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    asker.failed = "refused (nothing listens on 127.0.0.11:53)"
                    return matched
                raise
            try:
                reply = dns.message.from_wire(wire)
            except Exception:  # noqa: BLE001 - a malformed answer is no answer
                continue
            k = reply.id
            if not 0 <= k < len(asker.queries) or k in asker.answers:
                continue
            name, sent_at = asker.queries[k]
            addresses = [IPv4Address(r.address) for rrset in reply.answer
                         if rrset.rdtype == dns.rdatatype.A for r in rrset]
            asker.answers[k] = (addresses, dns.rcode.to_text(reply.rcode()),
                                round((time.monotonic() - sent_at) * 1000, 3))
            self.answered += 1
            matched += 1


def measure(state: LabState, window: float = 1.0) -> tuple[list[DnsCell], DnsProber]:
    """Every container asks every name of the lab; each answer judged against Docker's."""
    expected = expectations(state)
    by_name = {s.name: s for s in sources(state)}
    prober = DnsProber(window)
    answers = prober.ask((by_name[e.source], e.name) for e in expected)
    labels = {f"{h.name}/{c.name}": answer_labels(state, h, c)
              for h in state.hosts for c in h.containers}
    cells = []
    for e in expected:
        addresses, evidence, rtt = answers[(e.source, e.name)]
        observed = frozenset(labels[e.source].get(a, str(a)) for a in addresses)
        cells.append(judge(e, observed, evidence, rtt))
    return cells, prober


def truth_table(cells: list[DnsCell], which: str) -> str:
    """Sources by names: `.` resolves, `X` does not; `which` is expected, observed or
    diff (`=` Docker's answer, `!` where the answer is not Docker's); a legend under it."""
    sources = list(dict.fromkeys(c.source for c in cells))
    names = list(dict.fromkeys(c.asked for c in cells))
    index = {(c.source, c.asked): c for c in cells}

    def mark(cell: DnsCell) -> str:
        if which == "diff":
            return "!" if cell.wrong else "="
        return "." if (cell.expected if which == "expected" else cell.observed) else "X"

    legend = (DIFF_LEGEND if which == "diff"
              else "legend: '.' resolves  'X' no address  '-' not asked")
    return grid(f"dns {which}", sources, names, index, mark, legend)
