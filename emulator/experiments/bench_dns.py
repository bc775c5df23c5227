"""Benchmark `bench-dns`: one Docker host's embedded DNS under load, and what the
per-container files cost a container's start.

On one Docker host (emulated, or a real dockerd with `--param engine=docker`):

1. Start time: on an emulated host, the engine's container start without the
   per-container files (no mount namespace: the files switched off, the path before
   they existed) and with them, alternating start by start (startcost.py), the two
   medians and their ratio side by side; on any host, N starts through the Engine
   API (create + start), the figure to compare with a real dockerd (which always
   mounts its files, so it has no ratio).
2. Throughput: 100 containers on one user-defined network each keep a few A queries
   for the others' names in flight at 127.0.0.11:53, all at once, for a fixed time:
   the answers per second the host's resolver gives.
3. Added latency: from a few containers, a name only the outside host's DNS server
   holds (`example.com`), asked one at a time alternately through the embedded
   resolver (which forwards it to the container's `--dns`, the outside host) and of
   the outside server directly; the difference of the medians. If nothing answers
   on the outside host's port 53, the benchmark answers there itself (a socket in
   its namespace), so the figure is the resolver's, not one server's.

The queries go from sockets opened inside each container's network namespace, as
the isolation experiment's dns section does; only the Engine API and the kernel
are used, except the start-time baseline's switch (emulated hosts only, startcost).
"""

from __future__ import annotations

import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import docker
import docker.types

from emulator.experiments.bench_bringup import bench_topology
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.experiments.startcost import measure_start_cost
from emulator.experiments.stats import Estimate, estimate
from emulator.fabric import readiness
from emulator.lab import Lab
from emulator.probes.dnstable import RESOLVER
from emulator.probes.namespaced import inside

IMAGE, SLEEP = "alpine", ["sleep", "infinity"]
NETWORK, SUBNET = "dnsbench", "10.53.0.0/24"
CONTAINERS = 100
START_N, START_ROUNDS = 20, 5
LOAD_SECONDS, DEPTH = 2.0, 4
LATENCY_SOURCES, LATENCY_QUERIES = 5, 60
EXTERNAL_NAME = "example.com"
TARGET_QPS = 5_000
TARGET_ADDED_MS = 1.0
TARGET_START_RATIO = 1.20



# -- 1. start time --------------------------------------------------------------------


def start_round(client: docker.DockerClient, n: int, tag: str) -> list[float]:
    """Seconds to create and start each of n containers through the Engine API, one
    after the other; then remove them."""
    api = client.api
    seconds, made = [], []
    try:
        for i in range(n):
            started = time.perf_counter()
            created = api.create_container(
                IMAGE, SLEEP, name=f"st{tag}{i}", detach=True,
                host_config=api.create_host_config(network_mode=NETWORK))
            made.append(created["Id"])
            api.start(created["Id"])
            seconds.append(time.perf_counter() - started)
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
    return seconds


def measure_start(lab: Lab, ctx: RunContext, n: int, rounds: int) -> dict[str, object]:
    """On an emulated host, the files' cost (startcost: the engine's start with the
    files switched off and on, alternating, medians) and, on any host, the start
    through the Engine API (create + start, files on), comparable with a real dockerd."""
    host = lab.host("h1")
    api_times: list[float] = []
    for r in range(rounds):
        api_times += start_round(host.client, n, f"r{r}x")
    api = estimate(api_times)
    row: dict[str, object] = {"start_n": n * rounds, "start_api_ms": api.mean * 1000,
                              "start_api_ci_ms": api.half_width * 1000}
    if host.kind == "emulated":
        cost = measure_start_cost(lab, "h1", n * rounds, network=NETWORK)
        row.update({"start_without_files_ms": cost.baseline_s * 1000,
                    "start_with_files_ms": cost.with_files_s * 1000,
                    "start_ratio": cost.ratio})
        ctx.progress(cost.line())
    ctx.progress(f"start through the Engine API: {_ms(api)} per container")
    return row


def _ms(e: Estimate) -> str:
    return f"{e.mean * 1000:.1f} ± {e.half_width * 1000:.1f} ms"


# -- 2. throughput ----------------------------------------------------------------------


def _wires(names: list[str]) -> list[bytes]:
    return [dns.message.make_query(name, dns.rdatatype.A).to_wire() for name in names]


def _with_id(wire: bytes, qid: int) -> bytes:
    return struct.pack("!H", qid) + wire[2:]


@dataclass
class _Stream:
    sock: socket.socket
    next_id: int = 0
    next_name: int = 0
    in_flight: dict[int, float] = field(default_factory=dict)


@dataclass
class LoadResult:
    sent: int
    answered: int
    seconds: float
    latencies_ms: list[float]
    failed: int = 0  # answered without an address (an error rcode, or empty)

    @property
    def qps(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def _open(pid: int, server: tuple[str, int]) -> socket.socket:
    with inside(pid):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.connect(server)
    sock.setblocking(False)
    return sock


def load(pids: list[int], names: list[str], seconds: float = LOAD_SECONDS,
         depth: int = DEPTH, server: tuple[str, int] = RESOLVER) -> LoadResult:
    """From every namespace at once, keep `depth` queries in flight (a new one for
    each answer) for `seconds`; answers that come later are not counted, nor those
    without an address (counted apart). A query lost stays in flight: the stream
    runs with one fewer."""
    wires = _wires(names)
    streams = [_Stream(_open(pid, server)) for pid in pids]
    by_fd = {s.sock.fileno(): s for s in streams}
    sent = answered = failed = 0
    latencies: list[float] = []

    def send(stream: _Stream) -> None:
        nonlocal sent
        qid = stream.next_id
        stream.next_id = (qid + 1) & 0xFFFF
        wire = wires[stream.next_name % len(wires)]
        stream.next_name += 1
        try:
            stream.sock.send(_with_id(wire, qid))
        except (BlockingIOError, ConnectionRefusedError):
            return
        stream.in_flight[qid] = time.perf_counter()
        sent += 1

    try:
        started = time.perf_counter()
        for stream in streams:
            for _ in range(depth):
                send(stream)
        deadline = started + seconds
        while (now := time.perf_counter()) < deadline:
            readable, _ = readiness.ready(list(by_fd), timeout=deadline - now)
            for fd in readable:
                stream = by_fd[fd]
                while True:
                    try:
                        wire = stream.sock.recv(4096)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    if len(wire) < 12:
                        continue
                    qid, flags, _, answers = struct.unpack("!HHHH", wire[:8])
                    sent_at = stream.in_flight.pop(qid, None)
                    if sent_at is None:
                        continue
                    if flags & 0xF == 0 and answers:  # NOERROR with an address
                        answered += 1
                        latencies.append((time.perf_counter() - sent_at) * 1000)
                    else:
                        failed += 1
                    send(stream)
        took = time.perf_counter() - started
    finally:
        for stream in streams:
            stream.sock.close()
    return LoadResult(sent, answered, took, latencies, failed)


# -- 3. added latency ---------------------------------------------------------------------


def _ask_once(sock: socket.socket, wire: bytes, timeout: float = 1.0) -> float | None:
    """One query, its answer waited for: the round trip in ms, None if none came."""
    while True:  # drop what a timed-out query left behind
        try:
            sock.recv(4096)
        except (BlockingIOError, ConnectionRefusedError):
            break
    started = time.perf_counter()
    sock.send(wire)
    deadline = started + timeout
    while (now := time.perf_counter()) < deadline:
        readable = readiness.ready([sock], timeout=deadline - now)[0]
        if not readable:
            break
        try:
            reply = sock.recv(4096)
        except (BlockingIOError, ConnectionRefusedError):
            return None
        if reply[:2] == wire[:2]:
            return (time.perf_counter() - started) * 1000
    return None


def latencies(pids: list[int], outside: IPv4Address, queries: int,
              name: str = EXTERNAL_NAME) -> tuple[list[float], list[float], int]:
    """Per source, `queries` rounds of: the name through 127.0.0.11, then the same of
    the outside server directly. Returns (embedded ms, direct ms, unanswered)."""
    wire = _wires([name])[0]
    embedded, direct, lost = [], [], 0
    for pid in pids:
        via_resolver = _open(pid, RESOLVER)
        straight = _open(pid, (str(outside), 53))
        try:
            for k in range(queries):
                for sock, into in ((via_resolver, embedded), (straight, direct)):
                    rtt = _ask_once(sock, _with_id(wire, k))
                    if rtt is None:
                        lost += 1
                    else:
                        into.append(rtt)
        finally:
            via_resolver.close()
            straight.close()
    return embedded, direct, lost


class OutsideResponder:
    """An answer for `example.com` on the outside host's port 53, when nothing there
    answers: a socket in its namespace, served by a thread of this process."""

    def __init__(self, pid: int, address: IPv4Address, name: str = EXTERNAL_NAME) -> None:
        self.address = address
        self.name = dns.name.from_text(name)
        with inside(pid):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((str(address), 53))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            readable = readiness.ready([self.sock], timeout=0.2)[0]
            if not readable:
                continue
            try:
                wire, peer = self.sock.recvfrom(4096)
                query = dns.message.from_wire(wire)
            except Exception:  # noqa: BLE001 - not a DNS query: ignored
                continue
            reply = dns.message.make_response(query)
            question = query.question[0] if query.question else None
            if question is not None and question.name == self.name and \
                    question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(self.name, 300, "IN", "A",
                                                        str(self.address)))
            elif question is None or question.name != self.name:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def outside_answers(pid: int, outside: IPv4Address) -> bool:
    """Whether something on the outside host answers `example.com` (asked from `pid`)."""
    sock = _open(pid, (str(outside), 53))
    try:
        return _ask_once(sock, _with_id(_wires([EXTERNAL_NAME])[0], 7), timeout=1.0) is not None
    finally:
        sock.close()


# -- the run ---------------------------------------------------------------------------


def _containers(client: docker.DockerClient, n: int, dns_server: IPv4Address) -> list[dict]:
    """n containers on the benchmark network, `--dns` the outside host: their
    inspects. Run in parallel (a real dockerd takes a while for each)."""
    from concurrent.futures import ThreadPoolExecutor

    api = client.api

    def run_one(i: int) -> dict:
        created = api.create_container(
            IMAGE, SLEEP, name=f"q{i}", detach=True,
            host_config=api.create_host_config(network_mode=NETWORK, dns=[str(dns_server)]))
        api.start(created["Id"])
        return api.inspect_container(created["Id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(run_one, range(n)))


def measure(lab: Lab, ctx: RunContext, n: int, start_n: int, rounds: int,
            seconds: float) -> dict[str, object]:
    host = lab.host("h1")
    client = host.client
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET)])
    client.networks.create(NETWORK, driver="bridge", ipam=ipam)
    row: dict[str, object] = {"engine": host.kind, "containers": n}
    row.update(measure_start(lab, ctx, start_n, rounds))
    ctx.progress(f"starting {n} containers on {NETWORK}")
    docs = _containers(client, n, lab.outside_address)
    pids = [int(d["State"]["Pid"]) for d in docs]
    names = [d["Name"].lstrip("/") for d in docs]
    ctx.progress(f"throughput: {n} namespaces, {DEPTH} queries in flight each, {seconds:.0f} s")
    result = load(pids, names, seconds)
    row.update({"queries_sent": result.sent, "answers": result.answered,
                "answers_without_address": result.failed,
                "load_seconds": round(result.seconds, 3), "qps": round(result.qps),
                "load_median_ms": _median(result.latencies_ms),
                "load_p99_ms": _quantile(result.latencies_ms, 0.99)})
    ctx.progress(f"throughput: {result.qps:,.0f} answers/s ({result.answered} of "
                 f"{result.sent} queries), median {row['load_median_ms']} ms under load")
    responder = None
    if not outside_answers(pids[0], lab.outside_address):
        responder = OutsideResponder(lab.node_pid("outside"), lab.outside_address)
    try:
        embedded, direct, lost = latencies(pids[:LATENCY_SOURCES], lab.outside_address,
                                           LATENCY_QUERIES)
    finally:
        if responder is not None:
            responder.close()
    row.update({"outside_server": "benchmark's responder" if responder else "outside's own",
                "embedded_median_ms": _median(embedded), "direct_median_ms": _median(direct),
                "latency_queries": len(embedded) + len(direct) + lost, "latency_lost": lost})
    if embedded and direct:
        row["added_median_ms"] = round(statistics.median(embedded) - statistics.median(direct), 3)
    ctx.progress(f"latency: {EXTERNAL_NAME} via 127.0.0.11 median {row['embedded_median_ms']} "
                 f"ms, of outside directly {row['direct_median_ms']} ms, {lost} lost")
    for d in docs:
        client.api.remove_container(d["Id"], force=True)
    client.api.remove_network(NETWORK)
    return row


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def checks_of(row: dict[str, object]) -> list[Check]:
    qps = float(row.get("qps") or 0)
    added = row.get("added_median_ms")
    checks = [
        Check("throughput", f"answers/s, {row['containers']} containers at once",
              f">= {TARGET_QPS:,}", f"{qps:,.0f}", qps >= TARGET_QPS),
        Check("latency", "median added by the embedded resolver (vs outside directly)",
              f"<= {TARGET_ADDED_MS} ms", "no answers" if added is None else f"{added:.3f} ms",
              added is not None and float(added) <= TARGET_ADDED_MS),
    ]
    if "start_ratio" in row:
        r = float(row["start_ratio"])  # type: ignore[arg-type]
        checks.append(Check(
            "start", "start time with files / without",
            f"<= {TARGET_START_RATIO:.2f}",
            f"{r:.2f} ({float(row['start_with_files_ms']):.2f} vs "  # type: ignore[arg-type]
            f"{float(row['start_without_files_ms']):.2f} ms)",  # type: ignore[arg-type]
            r <= TARGET_START_RATIO))
    return checks


@register("bench-dns", "embedded DNS: answers/s for 100 containers, latency added vs the "
          "outside server, container start with per-container files vs without",
          kind="benchmark",
          params=("engine", "containers", "start_n", "rounds", "seconds", "lab"))
def run(ctx: RunContext) -> Outcome:
    engine = str(ctx.params.get("engine") or "emulated")
    n = int(ctx.params.get("containers") or CONTAINERS)
    start_n = int(ctx.params.get("start_n") or START_N)
    rounds = int(ctx.params.get("rounds") or START_ROUNDS)
    seconds = float(ctx.params.get("seconds") or LOAD_SECONDS)
    name = str(ctx.params.get("lab") or f"bd{ctx.run_id[-4:]}")
    with Lab(bench_topology(name, 1), name, engine=engine) as lab:
        row = measure(lab, ctx, n, start_n, rounds, seconds)
    ctx.write_rows("dns.csv", [row])
    checks = checks_of(row)
    ok = all(c.ok for c in checks)
    start = (f"start {row['start_ratio']:.2f}x with files ({row['start_with_files_ms']:.2f} vs "
             f"{row['start_without_files_ms']:.2f} ms), {row['start_api_ms']:.1f} ms through "
             "the API" if "start_ratio" in row else
             f"start {row['start_api_ms']:.1f} ms per container through the API")
    added = row.get("added_median_ms")
    headline = (f"{engine}: {row['qps']:,} answers/s from {n} containers; median added "
                f"latency {'n/a' if added is None else f'{added:.3f} ms'}; {start}")
    summary = ("# bench-dns\n\n" + headline + ".\n\n" + "\n".join(
        f"- {c.step} {c.what}: {c.observed} (target {c.expected}) — "
        f"{'ok' if c.ok else 'MISSED'}" for c in checks) + "\n\n| figure | value |\n|---|---|\n"
        + "\n".join(f"| {k} | {v} |" for k, v in row.items()) + "\n\nCommand: `cnm run bench-dns"
        + (f" --param engine={engine}" if engine != "emulated" else "") + "`\n")
    ctx.detail(summary)  # already in summary.md
    figures = {k: float(v) for k, v in row.items()  # type: ignore[arg-type]
               if isinstance(v, int | float) and not isinstance(v, bool)}
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, summary)
    return outcome
