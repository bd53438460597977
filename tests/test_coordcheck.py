"""The framework-free coordinate-check analysis: slopes against closed forms, verdicts at
the band's edges, and the table's checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.analysis.coordcheck import (
    DEFAULT_BAND,
    coord_check_table,
    fit_slope,
    format_rows,
    verdict,
)

WIDTHS = [64, 128, 256, 512, 1024]


@pytest.mark.parametrize("beta", [-1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 2.0])
def test_slope_of_an_exact_power_law(beta):
    sizes = [3.7 * n**beta for n in WIDTHS]
    assert fit_slope(WIDTHS, sizes) == pytest.approx(beta, abs=1e-12)


def test_slope_is_least_squares_on_logs():
    rng = np.random.default_rng(0)
    sizes = np.exp(rng.standard_normal(len(WIDTHS))) * np.array(WIDTHS) ** 0.5
    expected = np.polyfit(np.log(WIDTHS), np.log(sizes), 1)[0]  # an independent fit
    assert fit_slope(WIDTHS, sizes) == pytest.approx(expected, rel=1e-12)


def test_slope_leaves_out_sizes_that_are_not_positive_and_finite():
    sizes = [2.0 * n for n in WIDTHS]
    assert fit_slope(WIDTHS, [*sizes[:3], math.nan, 0.0]) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(fit_slope(WIDTHS, [1.0, math.inf, 0.0, -1.0, math.nan]))
    assert math.isnan(fit_slope([64, 64], [1.0, 2.0]))
    with pytest.raises(InitlabError, match="widths must be positive"):
        fit_slope([0, 64], [1.0, 2.0])


def test_verdict_band_edges():
    assert verdict(DEFAULT_BAND) == verdict(-DEFAULT_BAND) == "stable"
    assert verdict(DEFAULT_BAND + 1e-9) == "grows"
    assert verdict(-DEFAULT_BAND - 1e-9) == "vanishes"
    assert verdict(math.nan) == "undetermined"
    assert verdict(0.4, band=0.5) == "stable"


def test_table_rows_per_layer_and_step():
    n = np.array(WIDTHS, dtype=float)
    sizes = [[np.ones_like(n), n**0.5], [n**-1.0, n**0.1]]  # (layers 2, steps 2, widths 5)
    rows = coord_check_table(WIDTHS, sizes, layers=["fc1", "out"], steps=[0, 5])
    assert [(r.layer, r.step, r.verdict) for r in rows] == [
        ("fc1", 0, "stable"), ("fc1", 5, "grows"), ("out", 0, "vanishes"), ("out", 5, "stable"),
    ]  # fmt: skip
    assert rows[1].slope == pytest.approx(0.5, abs=1e-12) and rows[1].sizes[-1] == 32.0
    text = format_rows(WIDTHS, rows)
    assert "n=1024" in text and "+0.500" in text and "vanishes" in text
    with pytest.raises(InitlabError, match=r"expected \(layers, steps, 5 widths\)"):
        coord_check_table(WIDTHS, np.ones((2, 2, 4)))
    with pytest.raises(InitlabError, match="1 layer names and 2 steps"):
        coord_check_table(WIDTHS, sizes, layers=["fc1"])
