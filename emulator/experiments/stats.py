"""Means with 95 % confidence intervals (Student's t) for repeated measurements."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half_width:.2g}"


def estimate(values: list[float]) -> Estimate:
    """Mean and the half-width of its 95 % confidence interval."""
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    mean = statistics.fmean(values)
    if n == 1:
        return Estimate(mean, math.inf, 1)
    t = _T95[min(n - 1, len(_T95)) - 1]
    return Estimate(mean, t * statistics.stdev(values) / math.sqrt(n), n)


def ratio(a: Estimate, b: Estimate) -> Estimate:
    """a / b with a first-order (delta method) 95 % interval."""
    if b.mean == 0:
        return Estimate(math.nan, math.nan, min(a.n, b.n))
    value = a.mean / b.mean
    rel = math.hypot(a.half_width / a.mean if a.mean else 0, b.half_width / b.mean)
    return Estimate(value, abs(value) * rel, min(a.n, b.n))
