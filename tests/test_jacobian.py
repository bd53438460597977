"""Jacobian spectra at initialization (initlab.analysis.jacobian).

Independent truths: orthogonal linear networks are exact isometries times sigma_w^L; the
squared singular values of products of L Gaussian matrices (variance 1/N) have the
Fuss-Catalan moments (mean 1, variance L, third moment binom(3L+3, 3)/(3L+1)) up to a
finite-N bias measured as L(L+1)/(2N) in the second moment; the Fuss-Catalan density is
held to the same moments by quadrature and to Marchenko-Pastur at L = 1; the free-probability
moments for tanh are held to width-400 networks, and a wrong sigma_w or a wrong weight
law is rejected by the same bounds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from initlab._validation import InitlabError
from initlab.analysis import correlation as C
from initlab.analysis import jacobian as J


def test_fuss_catalan_density_has_the_fuss_catalan_moments():
    for L in (1, 2, 4, 16):
        x, rho = J.fuss_catalan_density(L, n=20000)
        assert x[-1] == pytest.approx((L + 1) ** (L + 1) / L**L, rel=1e-6)
        for k in (1, 2, 3):
            got = integrate.trapezoid(rho * x**k, x)
            assert got == pytest.approx(J.fuss_catalan_moment(k, L), rel=1e-5)
    assert [J.fuss_catalan_moment(k, 1) for k in range(1, 5)] == [1, 2, 5, 14]  # Catalan
    x, rho = J.fuss_catalan_density(1)
    np.testing.assert_allclose(rho, np.sqrt(4 / x - 1) / (2 * np.pi), rtol=1e-9)


def test_orthogonal_linear_network_is_an_exact_isometry():
    for w2 in (1.0, 1.21):
        s = J.jacobian_spectra(
            "linear", w2, 0.0, depths=(1, 3, 7), width=60, weights="orthogonal", members=2
        )
        for j, L in enumerate(s.depths):
            np.testing.assert_allclose(s.singular_values[:, j], w2 ** (L / 2), rtol=1e-10)
        assert J.spectrum_moments("linear", w2, 0.0, 5, "orthogonal").variance == pytest.approx(
            0, abs=1e-12
        )


def test_gaussian_linear_products_have_the_fuss_catalan_moments():
    """Per member, the mean of sigma^2 over N = 500 eigenvalues; E[m1] = 1 exactly, E[m2]
    = L + 1 + L(L+1)/(2N) + O(1/N^2) (measured at N = 25..100). Bounds: Student t at a
    two-sided 1e-4 (Bonferroni over the 9 checks) times the standard error over K = 8
    networks, plus L(L+1)/N (twice the bias) for the higher moments."""
    N, K = 500, 8
    s = J.jacobian_spectra("linear", 1.0, 0.0, depths=(1, 2, 4), width=N, members=K, seed=5)
    lam = s.singular_values**2
    t = stats.t.ppf(1 - 1e-4 / 18, K - 1)
    for j, L in enumerate(s.depths):
        for k in (1, 2, 3):
            per_member = (lam[:, j] ** k).mean(axis=-1)
            se = per_member.std(ddof=1) / math.sqrt(K)
            bias = 0 if k == 1 else k * L * (L + 1) / N * J.fuss_catalan_moment(k, L) / (L + 1)
            assert abs(per_member.mean() - J.fuss_catalan_moment(k, L)) <= t * se + bias
        theory = J.spectrum_moments("linear", 1.0, 0.0, L)  # mu2/mu1^2 - 1 - s1 = 1
        assert theory.variance == pytest.approx(L, rel=1e-12)


TANH_B2 = 0.05
TANH_W2 = C.critical_line("tanh", [TANH_B2])[0].sigma_w2  # 1.76: chi = 1
K, N = 16, 400


def _within(s, w2, weights):
    """Mean and variance of sigma^2, per depth, against the theory at sigma_w^2 = w2: Student
    t at a two-sided 1e-4 (Bonferroni over 2 moments x 2 depths) times the standard error
    over K networks. True if every check passes."""
    m, v = s.squared_moments()
    t = stats.t.ppf(1 - 1e-4 / 8, K - 1)
    ok = True
    for j, L in enumerate(s.depths):
        th = J.spectrum_moments("tanh", w2, TANH_B2, L, weights)
        for measured, predicted in ((m[:, j], th.mean), (v[:, j], th.variance)):
            se = measured.std(ddof=1) / math.sqrt(K)
            ok &= abs(measured.mean() - predicted) <= t * se
    return ok


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_tanh_spectrum_moments_match_free_probability(weights):
    s = J.jacobian_spectra(
        "tanh", TANH_W2, TANH_B2, depths=(2, 4), width=N, weights=weights, members=K, seed=2
    )
    assert _within(s, TANH_W2, weights)
    assert not _within(s, 1.1 * TANH_W2, weights)  # a wrong sigma_w^2 is rejected
    other = "orthogonal" if weights == "gaussian" else "gaussian"
    assert not _within(s, TANH_W2, other)  # and so is the other weight law's s1


def test_orthogonal_is_closer_to_isometry_than_gaussian_for_tanh():
    g = J.spectrum_moments("tanh", TANH_W2, TANH_B2, 16, "gaussian")
    o = J.spectrum_moments("tanh", TANH_W2, TANH_B2, 16, "orthogonal")
    assert g.mean == pytest.approx(1.0, abs=1e-10) and o.mean == pytest.approx(1.0, abs=1e-10)
    assert g.variance - o.variance == pytest.approx(16.0, rel=1e-10)  # s1 = -1 vs 0


def test_spectra_round_trip_and_validation():
    s = J.jacobian_spectra("relu", 2.0, 0.0, depths=(2, 1), width=8, members=1)
    assert s.depths == (1, 2)
    back = J.spectra_from_dict(s.as_dict())
    np.testing.assert_array_equal(back.singular_values, s.singular_values)
    with pytest.raises(InitlabError, match="weights must be one of"):
        J.jacobian_spectra("relu", 2.0, weights="uniform")
    with pytest.raises(InitlabError, match="depth"):
        J.spectrum_moments("relu", 2.0, 0.0, 0)


def _formed_chain(act, w2, b2, depths, N, weights, seed):
    """The chain with every weight formed by the catalogue's initializer (the orthogonal one
    by ``np.linalg.qr`` and the sign correction), ``J <- D (W J)`` from ``J = I`` and
    ``np.linalg.svd``: the same draws and matrices as :func:`J._chain` by other roundings."""
    from initlab._rng import child_seeds, make_rng
    from initlab.init import catalogue

    act = J._activations.get(act)
    law = {"name": "orthogonal", "gain": math.sqrt(w2)} if weights == "orthogonal" else {
        "name": "normal", "mean": 0.0, "std": math.sqrt(w2 / N)}  # fmt: skip
    init, q = catalogue.get(law), J._q_input(act, w2, b2)
    rng, Jac, out = make_rng(child_seeds(seed, 1)[0]), np.eye(N), []
    x = act.f(math.sqrt(q) * rng.standard_normal(N))
    for layer in range(1, max(depths) + 1):
        W = init((N, N), rng)
        h = W @ x + math.sqrt(b2) * rng.standard_normal(N)
        x = act.f(h)
        Jac = act.df(h, x)[:, None] * (W @ Jac)
        if layer in depths:
            out.append(np.linalg.svd(Jac, compute_uv=False))
    return np.array(out)


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
@pytest.mark.parametrize("act, w2, b2", [("tanh", 1.0, 0.0), ("tanh", TANH_W2, TANH_B2),
                                          ("relu", 2.0, 0.05)])  # fmt: skip
def test_chain_is_the_formed_weights_chain_to_rounding(act, w2, b2, weights):
    """Orthogonal layers applied as reflectors, the first layer without a product: within
    1e-12 s_max of the chain with W formed, at every depth to 64 (measured at width 400: at
    most 1.2e-14; off criticality, in the chaotic phase, the forward pass amplifies any
    rounding: 1.3e-12 at sigma_w^2 = 3, as a mere other summation order of W x gives 2e-13)."""
    depths, N = (1, 2, 16, 64), 120
    q, got = J.member_spectra(act, w2, b2, depths=depths, width=N, weights=weights, seed=4)
    want = _formed_chain(act, w2, b2, depths, N, weights, 4)
    assert q == J._q_input(J._activations.get(act), w2, b2)
    s_max = want.max(axis=-1, keepdims=True)
    assert np.all(np.abs(got - want) <= 1e-12 * s_max)
    assert np.all(np.diff(got, axis=-1) <= 0)  # descending, as np.linalg.svd's


def test_overflowing_chain_raises_as_numpy_svd():
    with pytest.raises(np.linalg.LinAlgError), np.errstate(all="ignore"):
        J.jacobian_spectra("linear", 1e10, depths=(80,), width=10, members=1)
