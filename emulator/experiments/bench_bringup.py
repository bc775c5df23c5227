"""Benchmark `bench-bringup`: containers brought up on emulated Docker hosts vs
the same built the plain Mininet way, and vs a real dockerd, measured side by
side in one run.

Figures: time until N containers are addressed and answer their gateway,
teardown time, and the helper processes the build started besides the
containers' own (counted from Python's audit events for every spawn). Then
(bringup_engines.py) N containers through the Engine API and through the docker
CLI on a real dockerd vs on an emulated host, with the ratios; parameters
`api_count` and `cli_count` (`cnm run bench-bringup --param api_count=100`).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network

from emulator.experiments.bringup_engines import EngineComparison, compare_engines, summary_section
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab
from emulator.lab.baseline import plain_mininet
from emulator.topology import HostSpec, OutsideSpec, Topology, UnderlaySpec

TARGET_100_S = 1.2
TARGET_SPEEDUP = 5.0
TARGET_1000_S = 15.0
TARGET_TEARDOWN_S = 0.5
WAVE = 200
API_COUNT = 100  # containers through the Engine API, real dockerd vs emulated host
CLI_COUNT = 50  # `docker run -d` each; ~0.3-0.5 s apiece on a real dockerd here


_SPAWN_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.system"}
_spawned = [0]


def _count_spawns(event: str, args: object) -> None:
    if event in _SPAWN_EVENTS:
        _spawned[0] += 1


sys.addaudithook(_count_spawns)


def processes_spawned() -> int:
    """Processes this Python process has started so far (every spawn raises an audit event)."""
    return _spawned[0]


def bench_topology(name: str, hosts: int) -> Topology:
    underlay = IPv4Network("192.0.2.0/24")
    return Topology(
        name=name,
        underlay=UnderlaySpec(underlay),
        outside=OutsideSpec(IPv4Address("192.0.2.254")),
        hosts=tuple(HostSpec(f"h{i + 1}", underlay[11 + i]) for i in range(hosts)),
    )


def populate(host, count: int) -> list:
    host.networks.create("bench")
    return [host.containers.run(f"c{i}", network="bench") for i in range(count)]


def parallel(hosts: list, work) -> list:
    """Run `work` on every Docker host at once, as separate daemons would."""
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return list(pool.map(work, hosts))


def sweep_in_waves(host, containers: list) -> int:
    """Ping every container from its host, at most WAVE at a time.

    Each answer costs two entries in the kernel's neighbour table (the host's
    for the container, the container's for its gateway), and that table is one
    for the whole machine: 1,024 entries by default. Between waves the entries
    are flushed, so a thousand containers can be checked without raising a
    machine-wide limit.
    """
    reachable = 0
    for start in range(0, len(containers), WAVE):
        wave = containers[start : start + WAVE]
        answers = host.ping_sweep([c.ip() for c in wave], timeout=1.0)
        reachable += sum(1 for rtt in answers.values() if rtt is not None)
        host.flush_neighbours(wave)
    return reachable


def measure_lab(name: str, hosts: int, containers: int, ctx: RunContext) -> dict[str, float]:
    per_host = containers // hosts
    with Lab(bench_topology(name, hosts)) as lab:
        docker_hosts = list(lab.hosts.values())
        spawned_before = processes_spawned()
        started = time.perf_counter()
        made = dict(zip([h.name for h in docker_hosts],
                        parallel(docker_hosts, lambda host: populate(host, per_host)),
                        strict=True))
        built = time.perf_counter()
        reachable = 0
        for host in docker_hosts:
            reachable += sweep_in_waves(host, made[host.name])
        verified = time.perf_counter()
        helpers = processes_spawned() - spawned_before - containers
        torn = time.perf_counter()
        parallel(docker_hosts, lambda host: host.engine.remove_containers(
            [c.id for c in made[host.name]], force=True))
        teardown = time.perf_counter() - torn
        ctx.progress(f"{containers} containers on {hosts} hosts: built {built - started:.3f} s, "
                     f"reachable {reachable}/{containers} at {verified - started:.3f} s, "
                     f"teardown {teardown:.3f} s, helper processes {helpers}")
    return {
        "containers": containers, "hosts": hosts, "build_s": built - started,
        "verified_s": verified - started, "teardown_s": teardown, "reachable": reachable,
        "helper_processes": helpers,
    }


def count_param(params: dict[str, object], name: str, default: int) -> int:
    """A container count from the run's parameters (`--param NAME=N`), at least 1."""
    raw = params.get(name, default)
    try:
        count = int(str(raw))
    except ValueError:
        raise ValueError(f"bench-bringup: {name}={raw!r} is not a number") from None
    if count < 1:
        raise ValueError(f"bench-bringup: {name}={count}: at least 1 container")
    return count


def engine_checks(engines: EngineComparison) -> list[Check]:
    """Every container of every pass ran in a namespace of its own and answered a ping."""
    return [Check(p.interface, f"{p.engine}: running and reachable", str(p.containers),
                  f"{min(p.running, p.reachable)}",
                  p.running == p.reachable == p.addressed == p.containers)
            for p in engines.passes]


def tidy(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same columns in every row (blank where a method has no such figure)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key, "") for key in columns} for row in rows]


def _plot(ctx: RunContext, rows: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['method']}\n{r['containers']} on {r['hosts']} hosts" for r in rows]
    values = [float(r["verified_s"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bars = ax.bar(labels, values, color=["#4c72b0", "#dd8452", "#4c72b0"][: len(rows)])
    ax.bar_label(bars, fmt="%.2f s")
    ax.set_ylabel("seconds until all answer their gateway")
    ax.set_title("Bring-up: cnm-emulator vs plain Mininet")
    fig.tight_layout()
    fig.savefig(ctx.path("bringup.png"), dpi=120)
    plt.close(fig)


@register("bench-bringup", "100 containers on 4 hosts (and 1,000 on 10) vs plain Mininet",
          kind="benchmark", params=("api_count", "cli_count"))
def run(ctx: RunContext) -> Outcome:
    tag = ctx.run_id[-4:]
    api_count = count_param(ctx.params, "api_count", API_COUNT)
    cli_count = count_param(ctx.params, "cli_count", CLI_COUNT)
    ctx.params.update({"api_count": api_count, "cli_count": cli_count})
    ctx.progress("emulator: 100 containers over 4 Docker hosts")
    small = measure_lab(f"bb{tag}", 4, 100, ctx)
    ctx.progress("plain Mininet: 100 hosts over 4 LinuxBridge switches")
    base = plain_mininet(4, 25)
    ctx.progress(f"plain Mininet: built {base.build_s:.3f} s, reachable {base.reachable}/100 at "
                 f"{base.verified_s:.3f} s, teardown {base.teardown_s:.3f} s")
    ctx.progress("emulator: 1,000 containers over 10 Docker hosts")
    large = measure_lab(f"bl{tag}", 10, 1000, ctx)
    ctx.progress(f"real dockerd vs emulated host: {api_count} containers through the Engine "
                 f"API, {cli_count} through the docker CLI")
    engines = compare_engines(f"bb{tag}d", api_count, cli_count, ctx)
    speedup = base.verified_s / small["verified_s"]
    rows = [
        {"method": "emulator", **small},
        {"method": "plain-mininet", "containers": 100, "hosts": 4, "build_s": base.build_s,
         "verified_s": base.verified_s, "teardown_s": base.teardown_s,
         "reachable": base.reachable, "helper_processes": ""},
        {"method": "emulator", **large},
    ]
    ctx.write_rows("bringup.csv", tidy(rows + [p.row() for p in engines.passes]))
    _plot(ctx, rows)
    checks = [
        Check("100", "seconds until 100 answer their gateway", f"<= {TARGET_100_S}",
              f"{small['verified_s']:.3f}", small["verified_s"] <= TARGET_100_S),
        Check("100", "all 100 reachable", "100", str(small["reachable"]),
              small["reachable"] == 100),
        Check("100", "speed-up over plain Mininet", f">= {TARGET_SPEEDUP}x", f"{speedup:.1f}x",
              speedup >= TARGET_SPEEDUP),
        Check("100", "teardown seconds", f"<= {TARGET_TEARDOWN_S}", f"{small['teardown_s']:.3f}",
              small["teardown_s"] <= TARGET_TEARDOWN_S),
        Check("1000", "seconds until 1,000 answer their gateway", f"<= {TARGET_1000_S}",
              f"{large['verified_s']:.3f}", large["verified_s"] <= TARGET_1000_S),
        Check("1000", "all 1,000 reachable", "1000", str(large["reachable"]),
              large["reachable"] == 1000),
        Check("helpers", "helper processes per Docker host, 100 vs 1,000 containers",
              "the same (no growth with containers)",
              f"{small['helper_processes'] / 4:g} vs {large['helper_processes'] / 10:g}",
              large["helper_processes"] / 10 <= small["helper_processes"] / 4),
        *engine_checks(engines),
    ]
    ok = all(c.ok for c in checks)
    ctx.write_checks(checks, "targets.csv")
    table = "\n".join(
        f"| {r['method']} | {r['containers']} | {r['hosts']} | {float(r['build_s']):.3f} | "
        f"{float(r['verified_s']):.3f} | {float(r['teardown_s']):.3f} | {r['reachable']} | "
        f"{r['helper_processes']} |" for r in rows)
    headline = (f"100 up in {small['verified_s']:.2f} s ({speedup:.1f}x plain Mininet's "
                f"{base.verified_s:.2f} s); 1,000 in {large['verified_s']:.2f} s; teardown of 100 "
                f"{small['teardown_s']:.2f} s; " + engines_headline(engines))
    summary = (
        "# bench-bringup\n\n" + headline + ".\n\n"
        "| method | containers | hosts | build s | until all answer s | teardown s | reachable |"
        " helper processes |\n|---|---|---|---|---|---|---|---|\n" + table + "\n\n"
        + "\n".join(f"- {c.what}: expected {c.expected}, observed {c.observed} — "
                    f"{'ok' if c.ok else 'MISSED'}" for c in checks)
        + "\n\n![bring-up](bringup.png)\n\n" + summary_section(engines)
    )
    outcome = Outcome(ok, headline, checks, {
        "emulator_100_s": small["verified_s"], "mininet_100_s": base.verified_s,
        "speedup": speedup, "emulator_1000_s": large["verified_s"],
        "teardown_100_s": small["teardown_s"],
        **engine_figures(engines),
    })
    ctx.finish(outcome, summary)
    return outcome


def engines_headline(engines: EngineComparison) -> str:
    if engines.skipped is not None:
        return f"real Docker skipped ({engines.skipped})"
    api, cli = engines.get("engine-api", "docker"), engines.get("docker-cli", "docker")
    return (f"real dockerd {engines.ratio('engine-api'):.1f}x slower through the Engine API "
            f"({api.containers}: {api.ready_s:.1f} s vs "
            f"{engines.get('engine-api', 'emulated').ready_s:.1f} s), "
            f"{engines.ratio('docker-cli'):.1f}x through the docker CLI ({cli.containers}: "
            f"{cli.ready_s:.1f} s vs {engines.get('docker-cli', 'emulated').ready_s:.1f} s)")


def engine_figures(engines: EngineComparison) -> dict[str, float]:
    figures: dict[str, float] = {}
    for p in engines.passes:
        key = f"{p.engine}_{p.interface.replace('-', '_')}"
        figures[f"{key}_s"] = p.ready_s
        figures[f"{key}_teardown_s"] = p.teardown_s
    if engines.passes:
        figures["real_over_emulated_api"] = engines.ratio("engine-api")
        figures["real_over_emulated_cli"] = engines.ratio("docker-cli")
    return figures
