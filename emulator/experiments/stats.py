"""Means and medians with 95 % confidence intervals for repeated measurements, and a
chi-square test of counts against a uniform share.

Means: Student's t. Medians: distribution-free intervals from order statistics (the
binomial), and a percentile bootstrap for a difference of two medians. The chi-square
survival function is exact for integer degrees of freedom (no scipy needed).
"""

from __future__ import annotations

import math
import random
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


def positive_interval(e: Estimate) -> tuple[float, float]:
    """The 95 % interval of a mean that cannot be negative (a time, a rate), taken on the
    log scale: mean x exp(-+ half_width / mean), the delta method for log(mean). Unlike
    mean -+ half_width it never crosses zero and widens upwards, as such a quantity's
    spread does. (0, inf) when the interval is unknown (one value); NaN when no values."""
    if e.n == 0 or math.isnan(e.mean):
        return math.nan, math.nan
    if e.mean < 0:
        raise ValueError(f"a positive quantity cannot have the mean {e.mean}")
    if e.mean == 0 or math.isinf(e.half_width):
        return 0.0, math.inf if math.isinf(e.half_width) else 0.0
    spread = math.exp(e.half_width / e.mean)
    return e.mean / spread, e.mean * spread


@dataclass(frozen=True)
class MedianEstimate:
    """A median and its 95 % interval (not symmetric around it); infinite bounds when
    too few values give no 95 % interval (fewer than 6 for one median)."""

    median: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.median:.4g} [{self.low:.4g}, {self.high:.4g}]"


def _median_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """1-based ranks (j, n - j + 1) of the order statistics that bound the median with
    at least `confidence`: the largest j with P(Binomial(n, 1/2) <= j - 1) <= alpha/2."""
    alpha_half = (1 - confidence) / 2
    total = 2 ** n
    cumulative, term, j = 0, 1, 0  # term = C(n, i)
    for i in range(n):
        if (cumulative + term) / total > alpha_half:
            break
        cumulative += term
        j = i + 1
        term = term * (n - i) // (i + 1)
    return (j, n - j + 1) if j >= 1 else None


def median_estimate(values: list[float]) -> MedianEstimate:
    """The median and its distribution-free 95 % interval (order statistics)."""
    n = len(values)
    if n == 0:
        return MedianEstimate(math.nan, math.nan, math.nan, 0)
    ordered = sorted(values)
    median = statistics.median(ordered)
    ranks = _median_ranks(n)
    if ranks is None:
        return MedianEstimate(median, -math.inf, math.inf, n)
    return MedianEstimate(median, ordered[ranks[0] - 1], ordered[ranks[1] - 1], n)


def median_difference(a: list[float], b: list[float], seed: int = 0,
                      resamples: int = 2000) -> MedianEstimate:
    """median(a) - median(b) with a 95 % percentile-bootstrap interval (each sample
    resampled on its own, `seed` makes it reproducible)."""
    if not a or not b:
        return MedianEstimate(math.nan, math.nan, math.nan, min(len(a), len(b)))
    rng = random.Random(seed)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a)))
                   - statistics.median(rng.choices(b, k=len(b))) for _ in range(resamples))
    low = diffs[int(0.025 * (resamples - 1))]
    high = diffs[int(math.ceil(0.975 * (resamples - 1)))]
    return MedianEstimate(statistics.median(a) - statistics.median(b), low, high,
                          min(len(a), len(b)))


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float


def chi_square_sf(x: float, dof: int) -> float:
    """P(X >= x) for X chi-square with `dof` (a positive integer) degrees of freedom."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {dof}")
    if x <= 0:
        return 1.0
    half = x / 2
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, dof // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) / math.gamma(1.5)  # i = 1: half^(1/2) / Gamma(3/2)
    for i in range(1, (dof + 1) // 2):
        if i > 1:
            term *= half / (i - 0.5)
        total += math.exp(-half) * term
    return min(1.0, total)


def chi_square_uniform(counts: list[int]) -> ChiSquare:
    """Pearson's chi-square test of `counts` against equal shares."""
    k, n = len(counts), sum(counts)
    if k < 2 or n == 0:
        return ChiSquare(math.nan, max(k - 1, 0), math.nan)
    expected = n / k
    statistic = sum((c - expected) ** 2 / expected for c in counts)
    return ChiSquare(statistic, k - 1, chi_square_sf(statistic, k - 1))
