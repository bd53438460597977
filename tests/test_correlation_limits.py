"""The correlation map where q* is infinite, and chi_c as the slope of that map (issue 20).

Each test fails on the behaviour before the fix: the map taken at q = 1e20 for relu at
sigma_b^2 = 0 (a false c* = 1 - 3.0e-7 and chi_c = 1.4996 at sigma_w^2 = 3), chi_c returning
sigma_w^2 E[phi' phi'] off the fixed point, and chi_c taking no q.
"""

import math

import numpy as np
import pytest

from initlab.analysis import correlation
from initlab.nn import activations


def arccos_map(c):
    """Normalized arc-cosine map of relu (Cho & Saul 2009): E[relu relu] / E[relu^2]."""
    c = np.asarray(c, dtype=float)
    return (np.sqrt(1 - c * c) + (math.pi - np.arccos(c)) * c) / math.pi


@pytest.mark.parametrize("w2", [2.0, 3.0, 8.0])
def test_relu_zero_bias_has_c_star_one_exactly(w2):
    assert correlation.correlation_fixed_point("relu", w2, 0.0) == 1.0
    scales = correlation.depth_scales("relu", w2, 0.0)
    assert scales.c_star == 1.0
    assert abs(scales.chi_c - 1.0) < 1e-12  # the slope of the normalized arc-cosine map at 1
    assert math.isinf(scales.xi_c)


def test_relu_map_near_one_is_the_closed_form_where_q_star_is_infinite():
    c = np.array([0.9, 0.99, 0.999, 0.99999])
    got = correlation.correlation_map("relu", 3.0, 0.0, c)
    np.testing.assert_allclose(got, arccos_map(c), rtol=0, atol=1e-13)
    # leaky relu and linear units: scale free too, their q* infinite at these sigma_w^2
    lin = correlation.correlation_map("linear", 1.5, 0.3, c)
    np.testing.assert_allclose(lin, c, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("name", "w2", "b2", "q", "c"),
    [("tanh", 1.7, 0.1, 0.7, 0.3), ("erf", 1.2, 0.05, 2.5, -0.4), ("relu", 1.5, 0.2, 3.0, 0.6)],
)
def test_chi_c_is_the_slope_of_correlation_map_at_any_q(name, w2, b2, q, c):
    h = 1e-5
    up = correlation.correlation_map(name, w2, b2, c + h, q)
    down = correlation.correlation_map(name, w2, b2, c - h, q)
    slope = correlation.chi_c(name, w2, b2, c, q=q)
    assert abs(slope - (up - down) / (2 * h)) < 1e-8 * max(1.0, abs(slope))


def test_chi_c_at_q_star_is_sigma_w2_e_dphi_dphi_and_chi_1_at_one():
    act = activations.get("tanh")
    w2, b2 = 1.5, 0.05
    from initlab.analysis import theory

    q = theory.fixed_point(act, w2, b2)
    assert abs(correlation.chi_c(act, w2, b2, 1.0) - theory.chi1(act, w2, b2)) < 1e-12
    assert abs(correlation.chi_c(act, w2, b2, 1.0, q=q) - theory.chi1(act, w2, b2)) < 1e-12


def test_zero_weight_and_bias_variance_is_refused_not_nan():
    """sigma_w2 = sigma_b2 = 0: the map is 0/0; one clear error instead of a NaN. With a
    bias alone every input maps to the same constant: correlation 1."""
    from initlab._validation import InitlabError

    with pytest.raises(InitlabError, match="sigma_w2 = sigma_b2 = 0"):
        correlation.correlation_map("tanh", 0.0, 0.0, 0.5)
    np.testing.assert_allclose(correlation.correlation_map("tanh", 0.0, 0.1, [-0.5, 0.5]), 1.0)
