"""Benchmark `bench-sandbox`: what a container's own sandbox costs at container start.

A container starts in its own root, mount and PID namespaces, with its user and
capabilities (fabric/containerroot); before issue 17 it started with the machine's
view. This benchmark times the same starts with the sandbox switched off (the path
before it) and on, alternating start by start so both meet the same machine load,
three ways: the engine's own start of an `alpine` container (busybox root) and of a
`debian` one (the machine's root under a layer), and `docker run -d alpine` through
the Engine API (docker-py: create + start). It reports the medians and their ratio
(target: at most 1.3x).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from emulator.experiments.bench_bringup import bench_topology
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab

ROUNDS = 40
TARGET_RATIO = 1.3
WAYS = ("engine alpine", "engine debian", "api run -d alpine")



def _starters(host, url: str) -> dict[str, Callable[[str], str]]:
    """Per way, a function starting a container named by its argument: its ID."""
    import docker

    client = docker.APIClient(base_url=url, version="1.45")
    lifecycle = host.engine.lifecycle
    from emulator.cnm.engine import AttachRequest

    def engine(image: str) -> Callable[[str], str]:
        def start(name: str) -> str:
            container = lifecycle.create(name, [AttachRequest("bridge")],
                                         command=["sleep", "infinity"], image=image)
            lifecycle.start(container.id)
            return container.id

        return start

    def api(name: str) -> str:
        created = client.create_container("alpine", ["sleep", "infinity"], name=name)
        client.start(created["Id"])
        return created["Id"]

    return {"engine alpine": engine("alpine"), "engine debian": engine("debian"),
            "api run -d alpine": api}


def measure(host, url: str, rounds: int) -> dict[tuple[str, bool], list[float]]:
    """Seconds per start, by (way, sandbox on), `rounds` of each, alternating."""
    starters = _starters(host, url)
    samples: dict[tuple[str, bool], list[float]] = {
        (way, on): [] for way in WAYS for on in (False, True)}
    for way, start in starters.items():
        for warm in range(4):  # caches (the busybox root, imports) warmed, not counted
            with host.engine.sandboxing(bool(warm % 2)):
                start(f"warm{warm}")
        host.engine.remove_containers(list(host.engine.containers), force=True)
        made = []
        for index in range(2 * rounds):
            on = bool(index % 2) != bool(index // 20 % 2)
            with host.engine.sandboxing(on):
                began = time.perf_counter()
                made.append(start(f"s{index}"))
                samples[(way, on)].append(time.perf_counter() - began)
            if len(made) >= 20:
                host.engine.remove_containers(made, force=True)
                made = []
        host.engine.remove_containers(list(host.engine.containers), force=True)
    return samples


@register("bench-sandbox", "Container start time with and without its own sandbox",
          kind="benchmark")
def run(ctx: RunContext) -> Outcome:
    with Lab(bench_topology(f"rs{ctx.run_id[-4:]}", 1)) as lab:
        ctx.progress(f"{ROUNDS} starts each way, sandbox off and on, alternating")
        samples = measure(lab.host("h1"), lab.docker_host_url("h1"), ROUNDS)
    rows = [{"way": way, "sandbox": "on" if on else "off", "start": i, "ms": round(s * 1000, 3)}
            for (way, on), values in samples.items() for i, s in enumerate(values)]
    ctx.write_rows("starts.csv", rows)
    medians = {key: statistics.median(values) * 1000 for key, values in samples.items()}
    checks = []
    lines = ["| way | off ms | on ms | ratio |", "|---|---|---|---|"]
    for way in WAYS:
        off, on = medians[(way, False)], medians[(way, True)]
        ratio = on / off
        lines.append(f"| {way} | {off:.2f} | {on:.2f} | x{ratio:.2f} |")
        checks.append(Check(way, "start time with the sandbox / without (medians)",
                            f"<= {TARGET_RATIO}", f"{ratio:.2f}", ratio <= TARGET_RATIO))
    worst = max(float(c.observed) for c in checks)
    headline = (f"a container's own sandbox costs at most x{worst:.2f} at start "
                f"(median of {ROUNDS} starts each way)")
    summary = "# bench-sandbox\n\n" + headline + ".\n\n" + "\n".join(lines) + "\n"
    outcome = Outcome(all(c.ok for c in checks), headline, checks,
                      {f"{way}:{'on' if on else 'off'}_ms": ms
                       for (way, on), ms in medians.items()})
    ctx.finish(outcome, summary)
    return outcome
