"""The 95 % interval of a positive quantity (times, rates) stays above zero."""

from __future__ import annotations

import math

import pytest

from emulator.experiments.stats import Estimate, estimate, positive_interval


def test_a_noisy_small_mean_keeps_a_positive_lower_bound():
    rtts = [0.01, 0.02, 0.15, 0.01, 0.02]
    e = estimate(rtts)
    assert e.low < 0  # the symmetric interval would cross zero
    low, high = positive_interval(e)
    assert 0 < low < e.mean < high


def test_a_tight_interval_is_close_to_the_symmetric_one():
    e = estimate([100.0, 101.0, 99.0, 100.5, 99.5])
    low, high = positive_interval(e)
    assert low == pytest.approx(e.low, rel=1e-3) and high == pytest.approx(e.high, rel=1e-3)


def test_unknown_and_missing_intervals():
    assert positive_interval(estimate([3.0])) == (0.0, math.inf)
    assert all(math.isnan(x) for x in positive_interval(estimate([])))
    assert positive_interval(estimate([0.0, 0.0])) == (0.0, 0.0)
    with pytest.raises(ValueError):
        positive_interval(Estimate(-1.0, 0.5, 3))
