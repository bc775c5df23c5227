"""What the containers' own /etc files and mount namespaces cost at container start.

Issue 14 allows them at most 20 % on `host.containers.run` of an emulated host.
`measure_start` times the same runs on one host of a running lab with the files
switched off (the engine's path before them: no files, no mount namespace) and
on, interleaved in rounds so that both meet the same machine load, and returns
the median of each. The `bench-dns` benchmark prints the two side by side.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

ROUND = 10
"""Containers per mode and round: rounds alternate the modes (and which goes first)."""


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


def _timed_round(host, files_on: bool, size: int, network: str | None,
                 prefix: str) -> list[float]:
    """Start `size` containers in one mode, then remove them (not timed)."""
    engine = host.engine
    times: list[float] = []
    started = []
    with engine.container_files.enabled(files_on):
        try:
            for index in range(size):
                began = time.perf_counter()
                started.append(host.containers.run(f"{prefix}{index}", network))
                times.append(time.perf_counter() - began)
        finally:
            engine.remove_containers([c.id for c in started], force=True)
    return times


def measure_start_cost(lab, host: str = "h1", count: int = 100,
                       network: str | None = None) -> StartCost:
    """Median start time of `count` containers without, and `count` with, their
    /etc files and mount namespace, on emulated host `host` of the running `lab`
    (on `network`, the default bridge unless given)."""
    handle = lab.host(host)
    off: list[float] = []
    on: list[float] = []
    for files_on in (False, True):  # warm-up: first starts pay for caches, not counted
        _timed_round(handle, files_on, ROUND, network, f"startcostw{int(files_on)}")
    round_no = 0
    while len(off) < count or len(on) < count:
        size_off, size_on = min(ROUND, count - len(off)), min(ROUND, count - len(on))
        order = [(False, size_off), (True, size_on)]
        if round_no % 2:
            order.reverse()
        for files_on, size in order:
            if size:
                times = _timed_round(handle, files_on, size, network,
                                     f"startcost{round_no}{'f' if files_on else 'b'}")
                (on if files_on else off).extend(times)
        round_no += 1
    return StartCost(statistics.median(off), statistics.median(on), count)


def measure_start(lab, host: str = "h1", count: int = 100) -> tuple[float, float]:
    """(baseline_s, with_files_s): median seconds per `host.containers.run`."""
    cost = measure_start_cost(lab, host, count)
    return cost.baseline_s, cost.with_files_s
