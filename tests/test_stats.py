"""Intervals over seeds: Student's t held to scipy, exact under scaling up to 1e300, never
negative for a cost or infinite without a note."""

import numpy as np
import pytest
from scipy import stats

from initlab.analysis.stats import COST, RATE, mean_interval, summarize


@pytest.mark.parametrize("n", [2, 3, 10])
def test_the_interval_is_scipys_student_t(n):
    rng = np.random.default_rng(n)
    x = rng.normal(3.0, 2.0, size=(n, 4))
    mean, low, high = mean_interval(x)
    for j in range(4):
        lo, hi = stats.t.interval(0.95, n - 1, loc=x[:, j].mean(), scale=stats.sem(x[:, j]))
        np.testing.assert_allclose([mean[j], low[j], high[j]], [x[:, j].mean(), lo, hi],
                                   rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("scale", [4e6, 1e32, 2e300])
def test_huge_costs_keep_a_finite_interval_that_scales_exactly(scale):
    x = np.array([1.0, 1.5, 1.2, 0.9])
    ref = summarize(list(x), bounds=COST)
    big = summarize(list(scale * x), bounds=COST)
    for key in ("mean", "low", "high"):
        assert np.isfinite(big[key]) and big[key] >= 0
        assert big[key] == pytest.approx(scale * ref[key], rel=1e-12)
    assert big["note"] is None


def test_a_negative_low_end_for_a_cost_is_clipped_and_said():
    s = summarize([0.1, 4e6], bounds=COST)  # one seed blew up: t reaches far below 0
    raw = summarize([0.1, 4e6])
    assert raw["low"] < 0  # what Student's t alone gives
    assert s["low"] == 0.0 and s["high"] == raw["high"] and s["mean"] == raw["mean"]
    assert "low end clipped to 0" in s["note"]
    acc = summarize([1.0, 0.9], bounds=RATE)
    assert acc["high"] == 1.0 and "high end clipped to 1" in acc["note"]


def test_an_interval_beyond_float64_is_missing_with_a_reason():
    s = summarize([0.0, 1.7e308], bounds=COST)
    assert s["mean"] == pytest.approx(8.5e307)
    assert s["high"] is None and "float64" in s["note"]
    _, low, high = mean_interval(np.array([[0.0], [1.7e308]]))
    assert not np.isinf(low).any() and not np.isinf(high).any()


def test_fewer_than_two_values_have_no_interval_and_no_note():
    assert summarize([0.5, None], bounds=COST) == {
        "mean": 0.5, "low": None, "high": None, "n": 1, "note": None,
    }  # fmt: skip
