"""Benchmark `bench-services`: a 100-replica swarm service on 3 hosts, up and scaled
down, against plain containers on the same overlay, measured in one run.

On a swarm of h1 (manager), h2 and h3 formed through docker-py, with an attachable
overlay and a client container on it (on h1):

1. Up: `docker service create --replicas 100 --network OV` until every task has
   answered through the service's virtual IP (the client's connections to the VIP,
   found by asking the embedded DNS for the service name, balance round robin, so
   100 connections reach each task once when all are in). Target: <= 3 s.
2. Scale: `docker service scale NAME=10` until the VIP balances over the 10 left only
   and `docker service ps` shows 10 running. Target: <= 1 s.

Baseline, same run, same overlay, same task program: 100 `docker run -d` through
docker-py (the three hosts in parallel, as three daemons) until each container
answers at its own address; then `docker rm -f` of 90 of them.

The figures are wall-clock seconds from the API call to the condition, seen from
the client's namespace; the ratios are to the targets and to the baseline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import docker
import docker.errors
import docker.types

from emulator.experiments.echoclient import ECHO_PORT, HOSTNAME_COMMAND, EchoClient
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.experiments.swarmlab import form_swarm, running_tasks, swarm_topology
from emulator.lab import Lab
from emulator.probes.dnstable import RESOLVER
from emulator.probes.namespaced import inside

IMAGE = "alpine"
NETWORK, SERVICE, CLIENT = "bsnet", "bs", "bsclient"
REPLICAS, SCALED = 100, 10
TARGET_UP_S, TARGET_SCALE_S = 3.0, 1.0
DEADLINE_S = 120.0
CONNECT_TIMEOUT_S = 0.25
IN_FLIGHT = 8
"""Connections to the VIP under way at once: while it has no backends, a new one
starts every ~30 ms (timeout / in flight); once it answers, they go back to back."""
UP_PACE_S, SCALE_PACE_S = 0.0, 0.001
"""Back to back while the tasks come up (a round of 100 takes ~20 ms once all are
in); one a millisecond at most while they go (a round of 10 every 10 ms), so the
client does not take the cores the removal needs."""
POLL_S = 0.02
"""`docker service ps` every 20 ms: its resolution, without taking a core from the tasks."""
SETTLED = 3
"""Rounds of the balancer (SETTLED x the replicas' connections) answered only by the
tasks left, with none failed, before a scale-down counts as seen by the balancer."""


@dataclass
class Timeline:
    """What the client saw from the moment the API call was made (t = 0)."""

    answers: list[tuple[float, str]] = field(default_factory=list)  # (t, hostname or "")
    errors: dict[float, str] = field(default_factory=dict)  # t -> how a connection failed
    running: list[tuple[float, int]] = field(default_factory=list)  # (t, tasks running)

    def first_all(self, count: int) -> float | None:
        """When the count-th distinct hostname answered."""
        seen: set[str] = set()
        for t, hostname in self.answers:
            if hostname:
                seen.add(hostname)
                if len(seen) >= count:
                    return t
        return None

    def balanced_over(self, survivors: set[str]) -> float | None:
        """The first answered connection after the last one a task other than
        `survivors` answered (failed connections say nothing of where they went)."""
        answered = [(t, h) for t, h in self.answers if h]
        bad = [i for i, (_, h) in enumerate(answered) if h not in survivors]
        start = bad[-1] + 1 if bad else 0
        return answered[start][0] if start < len(answered) else None

    def failed(self) -> list[float]:
        return [t for t, h in self.answers if not h]

    def first_running(self, count: int) -> float | None:
        return next((t for t, n in self.running if n == count), None)


def _resolve(pid: int, name: str) -> list[str]:
    """`name` asked of the embedded DNS (127.0.0.11) from inside a container."""
    with inside(pid):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        reply = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), RESOLVER[0],
                              port=RESOLVER[1], timeout=1.0, sock=sock)
    except dns.exception.Timeout:
        return []
    finally:
        sock.close()
    return sorted(item.address for rrset in reply.answer for item in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def _count_running(tasks: list[dict]) -> int:
    """Tasks meant to run and running: `docker service ps`'s "Running  Running" rows, and
    what `docker service ls` counts (a task draining after a scale-down is meant to go)."""
    return sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "running"
               and t.get("DesiredState") == "running")


class RunningWatcher:
    """`docker service ps` polled on a thread: (t, tasks running) whenever it changes."""

    def __init__(self, count: Callable[[], int], origin: float, timeline: Timeline) -> None:
        self._count, self._origin, self._timeline = count, origin, timeline
        self._stop = threading.Event()
        self.last = -1
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while True:
            try:
                count = self._count()
            except docker.errors.NotFound:
                count = 0
            if count != self.last:
                self._timeline.running.append((time.perf_counter() - self._origin, count))
                self.last = count
            if self._stop.wait(POLL_S):  # pacing the polls, not waiting for a condition
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Action:
    """An API call on a thread of its own, so the client watches while it runs: its
    start is t = 0 of the timeline; `wait()` gives its result or raises its error."""

    def __init__(self, call) -> None:
        self._call = call
        self.started = time.perf_counter()
        self.took: float | None = None
        self._result: list = []
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result.append(self._call())
        except BaseException as exc:  # noqa: BLE001 - re-raised by wait()
            self._result.append(exc)
        self.took = time.perf_counter() - self.started

    @property
    def done(self) -> bool:
        return self.took is not None

    def wait(self):
        self._thread.join()
        if isinstance(self._result[0], BaseException):
            raise self._result[0]
        return self._result[0]


def _watch_vip(pid: int, vip: str, origin: float, timeline: Timeline, more,
               pace: float) -> None:
    """Connections to the VIP, one every `pace` seconds at most, IN_FLIGHT at most under
    way (so an unanswered one holds up nothing), into the timeline as they end, while
    `more()`."""
    ended: list = []
    watched = _Answers(ended, origin, timeline)
    with EchoClient(pid, timeout=CONNECT_TIMEOUT_S) as echo:
        echo.paced([(vip, ECHO_PORT)], pace, lambda now: watched.sync() and more(),
                   results=ended, max_pending=IN_FLIGHT)
    watched.sync()
    timeline.answers.sort()


class _Answers:
    """Moves the client's finished connections into the timeline (t from origin)."""

    def __init__(self, ended: list, origin: float, timeline: Timeline) -> None:
        self._ended, self._origin, self._timeline = ended, origin, timeline
        self._moved = 0

    def sync(self) -> bool:
        for started, _, reply in self._ended[self._moved:]:
            self._timeline.answers.append((started - self._origin, reply.hostname))
            if not reply.ok:
                self._timeline.errors[started - self._origin] = reply.error
        self._moved = len(self._ended)
        return True


def service_up(client: docker.DockerClient, pid: int, replicas: int,
               ctx: RunContext) -> tuple[object, str, Timeline]:
    """Create the service (t = 0); from the client, ask the embedded DNS for its name
    until it answers, then connect to that VIP until `replicas` distinct tasks answered."""
    timeline = Timeline()
    create = Action(lambda: client.services.create(
        IMAGE, HOSTNAME_COMMAND, name=SERVICE, networks=[NETWORK],
        mode=docker.types.ServiceMode("replicated", replicas=replicas)))
    origin = create.started
    vip: list[str] = []
    while not vip and time.perf_counter() - origin < DEADLINE_S:
        vip = _resolve(pid, SERVICE)
        if not vip and create.done:
            create.wait()  # raises the create's error, if it failed
    if len(vip) != 1:
        raise RuntimeError(f"{SERVICE} resolves to {vip or 'nothing'}, not one VIP")
    resolved = time.perf_counter() - origin
    seen: set[str] = set()

    def more() -> bool:
        seen.update(h for _, h in timeline.answers if h)
        return len(seen) < replicas and time.perf_counter() - origin < DEADLINE_S

    watcher = RunningWatcher(lambda: _count_running(client.api.tasks({"service": SERVICE})),
                             origin, timeline)
    try:
        _watch_vip(pid, vip[0], origin, timeline, more, UP_PACE_S)
    finally:
        watcher.stop()
    service = create.wait()
    ctx.progress(f"service create returned after {create.took:.3f} s; {SERVICE} resolved to "
                 f"{vip[0]} at {resolved:.3f} s; {len(seen)} tasks answered through it by "
                 f"{timeline.first_all(replicas) or float('nan'):.3f} s")
    return service, vip[0], timeline


def service_scale(service, pid: int, vip: str, scaled: int, ctx: RunContext) -> Timeline:
    """Scale down (t = 0) while connecting to the VIP and polling ps, until ps shows
    `scaled` running, the call returned, and the last SETTLED rounds of the balancer
    were answered by at most `scaled` tasks with none failed."""
    timeline = Timeline()
    window = SETTLED * scaled
    scale = Action(lambda: service.scale(scaled))
    origin = scale.started
    watcher = RunningWatcher(lambda: _count_running(service.tasks()), origin, timeline)

    def more() -> bool:
        recent = [h for _, h in timeline.answers[-window:]]
        settled = (scale.done and watcher.last == scaled and len(recent) == window
                   and all(recent) and len(set(recent)) <= scaled)
        return not settled and time.perf_counter() - origin < DEADLINE_S

    try:
        _watch_vip(pid, vip, origin, timeline, more, SCALE_PACE_S)
    finally:
        watcher.stop()
    scale.wait()
    ctx.progress(f"service scale returned after {scale.took:.3f} s")
    return timeline


# -- baseline: plain containers --------------------------------------------------------------


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def baseline(lab: Lab, pid: int, count: int, keep: int) -> dict[str, float]:
    """`docker run -d` of `count` containers on the overlay (hosts in parallel) until
    each answers at its address; then `docker rm -f` of all but `keep`."""
    hosts = [lab.host(name) for name in sorted(lab.hosts)]
    shares = _split(count, len(hosts))

    def run_on(job: tuple[int, object]) -> list[tuple[object, str]]:
        index, host = job
        made = []
        for i in range(shares[index]):
            c = host.client.containers.run(IMAGE, HOSTNAME_COMMAND, name=f"bb{index}x{i}",
                                           network=NETWORK, detach=True)
            made.append((host, c.id))
        return made

    origin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        made = [m for part in pool.map(run_on, enumerate(hosts)) for m in part]
    started = time.perf_counter() - origin
    addresses = {}
    for host, cid in made:
        networks = host.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
        addresses[cid] = networks[NETWORK]["IPAddress"]
    pending = dict(addresses)
    with EchoClient(pid, timeout=0.2) as echo:
        while pending and time.perf_counter() - origin < DEADLINE_S:
            for cid, address in list(pending.items()):
                if echo.ask(address, ECHO_PORT).ok:
                    del pending[cid]
    up = time.perf_counter() - origin
    if pending:
        raise RuntimeError(f"baseline: {len(pending)} of {count} containers never answered")
    doomed, kept = made[keep:], made[:keep]
    origin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda hc: hc[0].client.api.remove_container(hc[1], force=True), doomed))
    removed = time.perf_counter() - origin
    for host, cid in kept:
        host.client.api.remove_container(cid, force=True)
    return {"baseline_run_calls_s": started, "baseline_up_s": up, "baseline_remove_s": removed}


# -- the run -------------------------------------------------------------------------------


def measure(lab: Lab, ctx: RunContext, replicas: int, scaled: int) -> tuple[dict, Timeline,
                                                                               Timeline]:
    h1 = lab.host("h1")
    nodes = form_swarm(lab)
    h1.client.networks.create(NETWORK, driver="overlay", attachable=True)
    client = h1.client.containers.run(IMAGE, ["sleep", "infinity"], name=CLIENT,
                                      network=NETWORK, detach=True)
    pid = int(h1.client.api.inspect_container(client.id)["State"]["Pid"])
    ctx.progress(f"baseline: {replicas} docker run -d (docker-py, 3 hosts in parallel) on "
                 f"{NETWORK}, then rm -f of {replicas - scaled}")
    row: dict[str, object] = {"replicas": replicas, "scaled_to": scaled}
    row.update(baseline(lab, pid, replicas, scaled))
    ctx.progress(f"baseline: all answer after {row['baseline_up_s']:.3f} s; rm -f "
                 f"{replicas - scaled} took {row['baseline_remove_s']:.3f} s")
    ctx.progress(f"service: {SERVICE} with {replicas} replicas on {NETWORK}")
    service, vip, up = service_up(h1.client, pid, replicas, ctx)
    all_up = up.first_all(replicas)
    row.update({"vip": vip, "up_s": all_up, "up_connections": len(up.answers),
                "up_ps_running_s": up.first_running(replicas)})
    answered = {h for _, h in up.answers if h}
    service.reload()
    tasks = running_tasks(lab, service, nodes)
    row["answered_are_tasks"] = answered == {t.hostname for t in tasks}
    row["tasks_per_node"] = " ".join(
        f"{n}:{sum(1 for t in tasks if t.node == n)}" for n in sorted(lab.hosts))
    ctx.progress(f"scale: {SERVICE} {replicas} -> {scaled}")
    down = service_scale(service, pid, vip, scaled, ctx)
    service.reload()
    survivors = {t.hostname for t in running_tasks(lab, service, nodes)}
    vip_s, ps_s = down.balanced_over(survivors), down.first_running(scaled)
    row.update({"scale_vip_s": vip_s, "scale_ps_s": ps_s,
                "scale_s": None if vip_s is None or ps_s is None else max(vip_s, ps_s),
                "scale_connections": len(down.answers),
                "scale_failed": len(down.failed()),
                "scale_failed_at_s": " ".join(f"{t:.3f}" for t in down.failed()),
                "survivors": len(survivors)})
    service.remove()
    client.remove(force=True)
    return row, up, down


def _ratio(a: object, b: object) -> float | None:
    if a is None or b is None or not float(b):  # type: ignore[arg-type]
        return None
    return float(a) / float(b)  # type: ignore[arg-type]


def _s(value: object) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def checks_of(row: dict) -> list[Check]:
    replicas, scaled = row["replicas"], row["scaled_to"]
    up, scale = row["up_s"], row["scale_s"]
    return [
        Check("up", f"{replicas} replicas all answering through the VIP (s)",
              f"<= {TARGET_UP_S}", _s(up), up is not None and up <= TARGET_UP_S),
        Check("up", "the hostnames that answered are the service's tasks", "True",
              str(row["answered_are_tasks"]), bool(row["answered_are_tasks"])),
        Check("scale", f"{replicas} -> {scaled}: VIP over {scaled} only and ps shows {scaled} "
              "running (s)", f"<= {TARGET_SCALE_S}", _s(scale),
              scale is not None and scale <= TARGET_SCALE_S),
        Check("scale", "tasks left running", str(scaled), str(row["survivors"]),
              row["survivors"] == scaled),
    ]


def table_md(row: dict) -> str:
    lines = ["| figure | measured s | target s | ratio to target | baseline | baseline s | "
             "ratio to baseline |", "|---|---|---|---|---|---|---|",
             f"| {row['replicas']} replicas up, all answering through the VIP | "
             f"{_s(row['up_s'])} | {TARGET_UP_S} | {_x(_ratio(row['up_s'], TARGET_UP_S))} | "
             f"{row['replicas']} x docker run -d, all answering at their address | "
             f"{_s(row['baseline_up_s'])} | "
             f"{_x(_ratio(row['up_s'], row['baseline_up_s']))} |",
             f"| scale {row['replicas']} -> {row['scaled_to']} (VIP and ps) | "
             f"{_s(row['scale_s'])} | {TARGET_SCALE_S} | "
             f"{_x(_ratio(row['scale_s'], TARGET_SCALE_S))} | "
             f"docker rm -f of {row['replicas'] - row['scaled_to']} | "
             f"{_s(row['baseline_remove_s'])} | "
             f"{_x(_ratio(row['scale_s'], row['baseline_remove_s']))} |"]
    return "\n".join(lines) + "\n"


def _plot(ctx: RunContext, up: Timeline, down: Timeline, row: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    seen: set[str] = set()
    xs, ys = [0.0], [0]
    for t, h in up.answers:
        if h and h not in seen:
            seen.add(h)
            xs.append(t)
            ys.append(len(seen))
    axes[0].step(xs, ys, where="post", color="#0072B2", label="distinct tasks answered (VIP)")
    if up.running:
        axes[0].step([t for t, _ in up.running], [n for _, n in up.running], where="post",
                     color="#E69F00", ls="--", label="tasks running (service ps)")
    axes[0].axvline(TARGET_UP_S, color="black", lw=1, ls=":", label=f"target {TARGET_UP_S} s")
    if row.get("baseline_up_s"):
        axes[0].axvline(float(row["baseline_up_s"]), color="#009E73", lw=1, ls="-.",
                        label="baseline: docker run x100, all answer")
    axes[0].set(xlabel="seconds since docker service create", ylabel="tasks",
                title=f"Up: {row['replicas']} replicas")
    axes[0].legend(fontsize=7)
    if down.running:
        axes[1].step([t for t, _ in down.running], [n for _, n in down.running], where="post",
                     color="#E69F00", ls="--", label="tasks running (service ps)")
    fails = [t for t, h in down.answers if not h]
    if fails:
        axes[1].plot(fails, [0] * len(fails), "x", color="black", label="failed connections")
    if row.get("scale_vip_s") is not None:
        axes[1].axvline(float(row["scale_vip_s"]), color="#0072B2", lw=1,
                        label=f"VIP over the {row['scaled_to']} left only")
    axes[1].axvline(TARGET_SCALE_S, color="black", lw=1, ls=":", label=f"target {TARGET_SCALE_S} s")
    axes[1].set(xlabel="seconds since docker service scale", ylabel="tasks",
                title=f"Scale {row['replicas']} -> {row['scaled_to']}")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ctx.path("bench_services.png"), dpi=110)
    plt.close(fig)


@register("bench-services", "100-replica service on 3 hosts: up through the VIP (<= 3 s), "
          "scale 100 -> 10 (<= 1 s), vs 100 docker run -d", kind="benchmark",
          params=("replicas", "scaled", "lab"))
def run(ctx: RunContext) -> Outcome:
    replicas = int(ctx.params.get("replicas") or REPLICAS)
    scaled = int(ctx.params.get("scaled") or SCALED)
    if not 1 <= scaled < replicas:
        raise ValueError("bench-services: 1 <= scaled < replicas")
    ctx.params.update({"replicas": replicas, "scaled": scaled})
    name = str(ctx.params.get("lab") or f"bs{ctx.run_id[-4:]}")
    with Lab(swarm_topology(name), name) as lab:
        row, up, down = measure(lab, ctx, replicas, scaled)
    ctx.write_rows("services.csv", [row])
    for file, timeline in (("up_timeline.csv", up), ("scale_timeline.csv", down)):
        ctx.write_rows(file, [{"t_s": round(t, 6), "hostname": h,
                               "error": timeline.errors.get(t, "")}
                              for t, h in timeline.answers])
    _plot(ctx, up, down, row)
    checks = checks_of(row)
    ctx.write_checks(checks, "targets.csv")
    ok = all(c.ok for c in checks)
    headline = (f"{replicas} replicas answering through the VIP in {_s(row['up_s'])} s "
                f"(target {TARGET_UP_S}, baseline {_s(row['baseline_up_s'])} s); scale to "
                f"{scaled} in {_s(row['scale_s'])} s (VIP over {scaled} only at "
                f"{_s(row['scale_vip_s'])} s, ps {scaled} running at {_s(row['scale_ps_s'])} s; "
                f"target {TARGET_SCALE_S}, rm -f baseline {_s(row['baseline_remove_s'])} s)")
    summary = ("# bench-services\n\n" + headline + ".\n\n" + table_md(row) + "\n"
               + "\n".join(f"- {c.step}: {c.what}: {c.observed} (target {c.expected}) — "
                           f"{'ok' if c.ok else 'MISSED'}" for c in checks)
               + "\n\n| figure | value |\n|---|---|\n"
               + "\n".join(f"| {k} | {v} |" for k, v in row.items())
               + "\n\n![up and scale](bench_services.png)\n\nCommand: `cnm run bench-services`\n")
    ctx.detail(summary)  # already in summary.md
    figures = {k: float(v) for k, v in row.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, summary)
    return outcome
