"""Benchmark `bench-api`: what the Engine API costs over a direct Python call.

The same three operations — network create, run a detached container on it,
connect it to a second network — done N times each three ways in one run: the
Python API (the engine itself), Docker's HTTP API through docker-py, and the
real `docker` CLI. The API's overhead is the HTTP latency minus the Python one;
the CLI's adds the cost of starting the docker binary.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

from emulator.experiments.bench_bringup import bench_topology
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab

ROUNDS = 20
TARGET_OVERHEAD_MS = 20.0
OPERATIONS = ("network create", "run -d", "network connect")



def _timed(samples: dict[str, list[float]], op: str, fn):
    started = time.perf_counter()
    result = fn()
    samples[op].append((time.perf_counter() - started) * 1000)
    return result


def python_way(host, rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    spare = host.networks.create("py-spare", subnet="10.1.255.0/24")
    for i in range(rounds):
        _timed(samples, "network create", lambda i=i: host.networks.create(f"py-n{i}",
                                                                           subnet=f"10.1.{i}.0/24"))
        container = _timed(samples, "run -d",
                           lambda i=i: host.containers.run(f"py-c{i}", network=f"py-n{i}"))
        _timed(samples, "network connect", lambda c=container: spare.connect(c))
    return samples


def _pool(subnet: str):
    import docker

    return docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])


def http_way(url: str, rounds: int) -> dict[str, list[float]]:
    import docker

    client = docker.APIClient(base_url=url, version="1.45")
    samples: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    client.create_network("http-spare", ipam=_pool("10.2.255.0/24"))
    for i in range(rounds):
        def run(i: int = i) -> None:
            created = client.create_container(
                "alpine", ["sleep", "infinity"], name=f"http-c{i}",
                host_config=client.create_host_config(network_mode=f"http-n{i}"))
            client.start(created["Id"])

        _timed(samples, "network create", lambda i=i: client.create_network(
            f"http-n{i}", ipam=_pool(f"10.2.{i}.0/24")))
        _timed(samples, "run -d", run)
        _timed(samples, "network connect",
               lambda i=i: client.connect_container_to_network(f"http-c{i}", "http-spare"))
    client.close()
    return samples


def cli_way(url: str, rounds: int) -> dict[str, list[float]]:
    env = {**os.environ, "DOCKER_HOST": url}
    samples: dict[str, list[float]] = {op: [] for op in OPERATIONS + ("docker version",)}

    def docker(*args: str) -> None:
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True)

    docker("network", "create", "--subnet", "10.3.255.0/24", "cli-spare")
    for i in range(rounds):
        _timed(samples, "network create", lambda i=i: docker("network", "create", "--subnet",
                                                             f"10.3.{i}.0/24", f"cli-n{i}"))
        _timed(samples, "run -d", lambda i=i: docker("run", "-d", "--name", f"cli-c{i}",
                                                     "--network", f"cli-n{i}", "alpine",
                                                     "sleep", "infinity"))
        _timed(samples, "network connect",
               lambda i=i: docker("network", "connect", "cli-spare", f"cli-c{i}"))
        _timed(samples, "docker version", lambda: docker("version", "--format", "{{.Server}}"))
    return samples


def _plot(ctx: RunContext, table: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ways = ["python", "http-api", "docker-cli"]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.27
    for k, way in enumerate(ways):
        values = [next(float(r["median_ms"]) for r in table
                       if r["way"] == way and r["operation"] == op) for op in OPERATIONS]
        bars = ax.bar([i + (k - 1) * width for i in range(len(OPERATIONS))], values, width,
                      label=way)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(OPERATIONS)), OPERATIONS)
    ax.set_ylabel("median latency (ms)")
    ax.set_title(f"Per-operation latency, {ROUNDS} rounds each")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.path("latency.png"), dpi=120)
    plt.close(fig)


@register("bench-api", "Engine API and docker CLI latency vs the Python API", kind="benchmark")
def run(ctx: RunContext) -> Outcome:
    with Lab(bench_topology(f"ba{ctx.run_id[-4:]}", 1)) as lab:
        host = lab.host("h1")
        url = lab.docker_host_url("h1")
        ctx.progress(f"Python API: {ROUNDS} rounds")
        results = {"python": python_way(host, ROUNDS)}
        ctx.progress(f"HTTP API through docker-py: {ROUNDS} rounds")
        results["http-api"] = http_way(url, ROUNDS)
        if shutil.which("docker"):
            ctx.progress(f"real docker CLI: {ROUNDS} rounds")
            results["docker-cli"] = cli_way(url, ROUNDS)
    rows = [{"way": way, "operation": op, "round": i, "ms": round(ms, 3)}
            for way, ops in results.items() for op, values in ops.items()
            for i, ms in enumerate(values)]
    ctx.write_rows("latency.csv", rows)
    table = [{"way": way, "operation": op, "median_ms": round(statistics.median(v), 2),
              "p95_ms": round(sorted(v)[int(0.95 * (len(v) - 1))], 2)}
             for way, ops in results.items() for op, v in ops.items()]
    ctx.write_rows("summary.csv", table)
    medians = {(r["way"], r["operation"]): float(r["median_ms"]) for r in table}
    checks = []
    for op in OPERATIONS:
        overhead = medians[("http-api", op)] - medians[("python", op)]
        checks.append(Check(op, "Engine API overhead over the Python call (median ms)",
                            f"< {TARGET_OVERHEAD_MS}", f"{overhead:.1f}",
                            overhead < TARGET_OVERHEAD_MS))
    if "docker-cli" in results:
        _plot(ctx, table)
    ok = all(c.ok for c in checks)
    lines = ["| way | operation | median ms | p95 ms |", "|---|---|---|---|"]
    lines += [f"| {r['way']} | {r['operation']} | {r['median_ms']} | {r['p95_ms']} |"
              for r in table]
    worst = max(float(c.observed) for c in checks)
    headline = f"Engine API adds at most {worst:.1f} ms (median) per operation over Python"
    if "docker-cli" in results:
        cli_fixed = medians[("docker-cli", "docker version")]
        headline += f"; the docker CLI's own start-up costs {cli_fixed:.0f} ms"
    summary = ("# bench-api\n\n" + headline + ".\n\n" + "\n".join(lines) + "\n\n"
               + "\n".join(f"- {c.step}: {c.what}: {c.observed} (target {c.expected}) — "
                           f"{'ok' if c.ok else 'MISSED'}" for c in checks)
               + "\n\n![latency](latency.png)\n")
    outcome = Outcome(ok, headline, checks, {f"{w}:{o}": m for (w, o), m in medians.items()})
    ctx.finish(outcome, summary)
    return outcome
