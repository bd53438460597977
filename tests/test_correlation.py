"""Correlation map, depth scales, critical line (initlab.analysis.correlation, .propagation).

Independent truths: the closed-form kernels of ReLU (arc-cosine, Cho & Saul 2009), of erf
(arc-sine, Williams 1998) and of linear units, for the functions and their derivatives;
the one-dimensional quadrature of initlab.theory at c = 0 and c = 1; Price's theorem
(the slope of the map, by finite differences); the contraction rate of the iterated map;
and correlations measured in width-1000 random networks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import erf

from initlab._validation import InitlabError
from initlab.analysis import correlation as C
from initlab.analysis import theory as theory
from initlab.analysis.propagation import predict_correlations, study_correlations
from initlab.nn import activations as activations

ERF = activations.Activation(
    "erf", {}, erf, lambda Z, A: 2 / math.sqrt(math.pi) * np.exp(-Z * Z), lambda Z, A: Z != Z
)
QS = [1e-6, 1e-3, 0.3, 1.0, 7.0, 1e3, 1e6]
CS = [-1.0, -0.99, -0.5, 0.0, 0.3, 0.9, 0.999, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12, 1.0]


def relu_kernel(q1, q2, c):
    t = math.acos(c)
    return math.sqrt(q1 * q2) / (2 * math.pi) * (math.sin(t) + (math.pi - t) * c)


def erf_kernel(q1, q2, c):
    q12 = c * math.sqrt(q1 * q2)
    return 2 / math.pi * math.asin(2 * q12 / math.sqrt((1 + 2 * q1) * (1 + 2 * q2)))


def derf_kernel(q1, q2, c):  # E[erf'(u1) erf'(u2)] = (4/pi) det(I + 2 Sigma)^(-1/2)
    q12 = c * math.sqrt(q1 * q2)
    return 4 / math.pi / math.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * q12 * q12)


def f_and_df(act):
    act = activations.get(act)
    return act.f, lambda u: act.df(u, act.f(u))


CASES = [
    ("relu", 0, relu_kernel, True),
    ("relu", 1, lambda q1, q2, c: (math.pi - math.acos(c)) / (2 * math.pi), False),
    (ERF, 0, erf_kernel, False),
    (ERF, 1, derf_kernel, False),
    ("linear", 0, lambda q1, q2, c: c * math.sqrt(q1 * q2), True),
    ("linear", 1, lambda q1, q2, c: 1.0, False),
]


@pytest.mark.parametrize(("act", "derivative", "kernel", "scaled"), CASES)
def test_quadrature_matches_closed_form_kernels(act, derivative, kernel, scaled):
    f = f_and_df(act)[derivative]
    for q1 in QS:
        q2 = 2.5 * q1
        got = C.gaussian_expectation_2d(f, f, q1, q2, np.array(CS))
        exact = np.array([kernel(q1, q2, c) for c in CS])
        scale = math.sqrt(q1 * q2) if scaled else 1.0
        np.testing.assert_allclose(got / scale, exact / scale, rtol=0, atol=1e-12)


def test_quadrature_reduces_to_one_dimension_at_c_0_and_1():
    for name in ("tanh", "sigmoid", "leaky_relu"):
        f, _ = f_and_df(name)
        for q in (0.01, 1.0, 50.0):
            one = theory.gaussian_expectation(f, q)
            assert C.gaussian_expectation_2d(f, f, q, q, 0.0) == pytest.approx(
                one**2, rel=1e-12, abs=1e-15
            )
            two = theory.gaussian_expectation(lambda u, f=f: f(u) ** 2, q)
            assert C.gaussian_expectation_2d(f, f, q, q, 1.0) == pytest.approx(two, rel=1e-12)


def test_quadrature_rejects_a_correlation_outside_minus_one_one():
    with pytest.raises(InitlabError, match="c must be a correlation"):
        C.gaussian_expectation_2d(np.tanh, np.tanh, 1.0, 1.0, 1.5)


def test_relu_correlation_map_is_the_arccos_kernel():
    cs = np.linspace(-1, 1, 9)
    for w2, b2 in ((1.5, 0.1), (1.0, 0.5)):
        q = w2 * 0 + b2 / (1 - w2 / 2)  # q* of ReLU
        got = C.correlation_map("relu", w2, b2, cs)
        exact = [(w2 * relu_kernel(q, q, c) + b2) / q for c in cs]
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("act", "w2", "b2"), [("tanh", 2.5, 0.05), ("tanh", 1.5, 0.3), ("relu", 1.5, 0.1)]
)
def test_chi_c_is_the_slope_of_the_map(act, w2, b2):
    """Price's theorem: C'(c) = sigma_w^2 E[phi'(u1) phi'(u2)], checked by central differences."""
    for c in (0.2, 0.7, 0.95):
        h = 1e-4
        slope = (C.correlation_map(act, w2, b2, c + h) - C.correlation_map(act, w2, b2, c - h)) / (
            2 * h
        )
        assert C.chi_c(act, w2, b2, c) == pytest.approx(slope, rel=1e-7)


def test_chi_c_at_one_is_chi_1_and_at_zero_factorizes():
    for act, w2, b2 in (("tanh", 2.5, 0.0), ("sigmoid", 6.0, 0.2), ("leaky_relu", 1.5, 0.1)):
        assert C.chi_c(act, w2, b2, 1.0) == pytest.approx(theory.chi1(act, w2, b2), rel=1e-12)
        _, df = f_and_df(act)
        q = float(theory.fixed_point(act, w2, b2))
        assert C.chi_c(act, w2, b2, 0.0) == pytest.approx(
            w2 * theory.gaussian_expectation(df, q) ** 2, rel=1e-12
        )


def test_correlation_fixed_point_is_where_iterating_the_map_goes():
    """100 steps from c = 0.5: the slowest case (tanh 4.0, chi_c = 0.88 at c* = 0 and more on
    the way there) ends 2e-6 from c*, so the bound is 5e-6; the others end within 1e-9."""
    cases = (("tanh", 6.0, 0.2, None), ("tanh", 4.0, 0.0, 0.0), ("tanh", 1.0, 0.3, 1.0))
    for act, w2, b2, c_star in cases:
        got = C.correlation_fixed_point(act, w2, b2)
        if c_star is not None:
            assert got == c_star
        c, q = 0.5, float(theory.fixed_point(act, w2, b2))
        for _ in range(100):
            c = float(C.correlation_map(act, w2, b2, c, q))
        assert got == pytest.approx(c, abs=5e-6 if got == 0 else 1e-9)
        assert float(C.correlation_map(act, w2, b2, got, q)) == pytest.approx(got, abs=1e-12)


def test_depth_scales_closed_forms_for_relu():
    """ReLU, sigma_b > 0, sigma_w^2 < 2: q* = sigma_b^2 / (1 - sigma_w^2/2), and V'(q*) =
    chi_1 = sigma_w^2 / 2, so xi_q = xi_c = -1 / ln(sigma_w^2 / 2)."""
    for w2, b2 in ((1.5, 0.1), (1.9, 0.3), (1.0, 1.0)):
        d = C.depth_scales("relu", w2, b2)
        assert d.q_star == pytest.approx(b2 / (1 - w2 / 2), rel=1e-12)
        assert d.c_star == 1.0 and d.phase == "ordered"
        assert d.chi_c == pytest.approx(w2 / 2, rel=1e-12)
        assert d.xi_q == pytest.approx(-1 / math.log(w2 / 2), rel=1e-10)
        assert d.xi_c == pytest.approx(-1 / math.log(w2 / 2), rel=1e-10)


@pytest.mark.parametrize(
    ("act", "w2", "b2"), [("tanh", 1.5, 0.05), ("tanh", 3.0, 0.1), ("sigmoid", 6.0, 0.2)]
)
def test_depth_scales_are_the_contraction_rates_of_the_iterated_maps(act, w2, b2):
    d = C.depth_scales(act, w2, b2)
    q, eps = d.q_star, 1e-4 * d.q_star
    rate_q = (theory.variance_map(act, w2, b2, q + eps) - q) / eps
    assert -1 / math.log(rate_q) == pytest.approx(d.xi_q, rel=1e-3)
    c, eps = d.c_star, 1e-4
    c_near = c - eps if c == 1.0 else c + eps
    rate_c = (C.correlation_map(act, w2, b2, c_near) - c) / (c_near - c)
    assert -1 / math.log(rate_c) == pytest.approx(d.xi_c, rel=1e-3)


def test_depth_scales_diverge_at_criticality():
    for act, b2 in (("tanh", 0.05), ("relu", 0.0), ("linear", 0.0)):
        w2 = theory.critical_sigma_w2(act, b2)
        d = C.depth_scales(act, w2, b2)
        assert d.xi_c == math.inf and d.xi_grad == math.inf and d.c_star == 1.0


def test_critical_line_closed_forms_and_definition():
    b2 = [0.0, 0.05, 0.5, 2.0]
    for p in C.critical_line("relu", b2):
        assert p.sigma_w2 == pytest.approx(2.0, rel=1e-12)
    for p in C.critical_line(activations.get("leaky_relu", slope=0.2), b2):
        assert p.sigma_w2 == pytest.approx(2 / 1.04, rel=1e-12)
    for p in C.critical_line("linear", b2):
        assert p.sigma_w2 == pytest.approx(1.0, rel=1e-12)
    tanh = C.critical_line("tanh", b2)
    assert tanh[0].sigma_w2 == pytest.approx(1.0, rel=1e-9)
    widths = [p.sigma_w2 for p in tanh]
    assert widths == sorted(widths) and widths[1] > 1.7  # bias moves the line to larger sigma_w^2
    for p in tanh[1:]:
        assert p.chi_1 == pytest.approx(1.0, abs=1e-12)
        # chi_1 from its definition with scipy's adaptive quadrature at the fixed point
        pdf = stats.norm(scale=math.sqrt(p.q_star)).pdf
        e = integrate.quad(
            lambda u, pdf=pdf: (1 - math.tanh(u) ** 2) ** 2 * pdf(u), -60, 60, epsabs=1e-14
        )[0]
        assert p.sigma_w2 * e == pytest.approx(1.0, abs=1e-10)


# --- measured in finite networks ----------------------------------------------------------

# Two checks on K = 12 networks of width N = 1000, both at a two-sided alpha of 1e-4:
# per (c0, layer) cell, the mean within Student t (Bonferroni over the cells) times its
# standard error, plus 3/N for the O(1/N) bias of the ratio estimator (measured: about
# +0.002 for ReLU); and pooled, the mean over cells of each network's deviation, whose
# t statistic over the K networks is sensitive to a systematic error such as a wrong
# sigma_w (per-cell bounds alone are too wide to see a 10% error in sigma_w).
K, N, DEPTH = 12, 1000, 6
C0 = (0.2, 0.6, 0.95)
ALPHA = 1e-4


def _cell_bound(study):
    t = stats.t.ppf(1 - ALPHA / (2 * len(C0) * DEPTH), K - 1)
    return t * study.se[:, 1:] + 3 / N


def _pooled_t(study, predicted):
    d = (study.measured[:, :, 1:] - predicted[None, :, 1:]).mean(axis=(1, 2))
    return d.mean() / (d.std(ddof=1) / math.sqrt(K))


@pytest.mark.parametrize(("act", "w2", "b2"), [("tanh", 1.5, 0.05), ("relu", 1.6, 0.3)])
def test_measured_correlations_match_the_prediction_and_reject_a_wrong_sigma_w(act, w2, b2):
    study = study_correlations(act, w2, b2, c0=C0, depth=DEPTH, width=N, members=K, seed=3)
    assert np.all(np.abs(study.mean[:, 1:] - study.predicted[:, 1:]) <= _cell_bound(study))
    critical = stats.t.ppf(1 - ALPHA / 2, K - 1)
    assert abs(_pooled_t(study, study.predicted)) <= critical
    wrong = predict_correlations(act, 1.21 * w2, b2, study.q0, C0, DEPTH)  # sigma_w 10% high
    assert abs(_pooled_t(study, wrong)) > critical


def test_chaotic_tanh_decorrelates_as_predicted():
    study = study_correlations("tanh", 2.5, 0.05, c0=C0, depth=DEPTH, width=N, members=K, seed=4)
    assert np.all(np.abs(study.mean[:, 1:] - study.predicted[:, 1:]) <= _cell_bound(study))
    assert np.all(np.diff(study.predicted[2]) < 0)  # nearby inputs move apart (chaos)
