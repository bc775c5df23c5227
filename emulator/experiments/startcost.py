"""What the containers' own /etc files and mount namespaces cost at container start.

Issue 14 allows them at most 20 % on `host.containers.run` of an emulated host.
`measure_start` times the same runs on one host of a running lab with the files
switched off (the engine's path before them: no files, no mount namespace) and
on, alternating start by start so that both meet the same machine load, and returns
the median of each. The `bench-dns` benchmark prints the two side by side.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

ROUND = 10
"""Starts of each mode per round, alternating one by one (the first mode alternating
too), removed (untimed) at the round's end."""


@dataclass(frozen=True)
class StartCost:
    """Seconds per container start, median over `count` starts each."""

    baseline_s: float
    with_files_s: float
    count: int

    @property
    def ratio(self) -> float:
        return self.with_files_s / self.baseline_s

    def line(self) -> str:
        return (f"container start: {self.baseline_s * 1000:.2f} ms without files/mount "
                f"namespace, {self.with_files_s * 1000:.2f} ms with "
                f"(x{self.ratio:.2f}, median of {self.count} each)")


def _round(host, size: int, network: str | None, prefix: str,
           swap: bool) -> tuple[list[float], list[float]]:
    """Start `size` containers without files and `size` with, alternately, then remove
    them all: (seconds of each start without, seconds of each with)."""
    files = host.engine.container_files
    times: dict[bool, list[float]] = {False: [], True: []}
    started = []
    try:
        for index in range(2 * size):
            files_on = bool(index % 2) != swap
            with files.enabled(files_on):
                began = time.perf_counter()
                started.append(host.containers.run(f"{prefix}{index}", network))
                times[files_on].append(time.perf_counter() - began)
    finally:
        host.engine.remove_containers([c.id for c in started], force=True)
    return times[False], times[True]


def measure_start_cost(lab, host: str = "h1", count: int = 100,
                       network: str | None = None) -> StartCost:
    """Median start time of `count` containers without, and `count` with, their
    /etc files and mount namespace, on emulated host `host` of the running `lab`
    (on `network`, the default bridge unless given)."""
    handle = lab.host(host)
    _round(handle, ROUND, network, "startcost-warm", False)  # caches warmed, not counted
    off: list[float] = []
    on: list[float] = []
    while len(off) < count:
        size = min(ROUND, count - len(off))
        without, with_files = _round(handle, size, network, f"startcost{len(off)}-",
                                     swap=bool(len(off) // ROUND % 2))
        off += without
        on += with_files
    return StartCost(statistics.median(off), statistics.median(on), count)


def measure_start(lab, host: str = "h1", count: int = 100) -> tuple[float, float]:
    """(baseline_s, with_files_s): median seconds per `host.containers.run`."""
    cost = measure_start_cost(lab, host, count)
    return cost.baseline_s, cost.with_files_s
