"""Infinite-width kernels held to neural-tangents, to closed forms, to Monte Carlo over wide
random networks, and to finite networks trained by gradient descent."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.analysis import correlation, empirical_ntk, kernel_regression, kernels
from initlab.analysis.gauss2d import gaussian_expectation_2d
from initlab.init.build import init_population
from initlab.init.parametrization import init_model
from initlab.studies.kernels import examples
from initlab.studies.kernels import gaussian_init as gaussian

REF = Path(__file__).parent / "reference" / "nt_kernels.npz"


@pytest.mark.parametrize("act", ["relu", "erf", "leaky_relu"])
@pytest.mark.parametrize(("nt", "ours"), [("ntk", "ntk"), ("standard", "sp")])
def test_three_layer_kernels_equal_neural_tangents(act, nt, ours):
    ref = np.load(REF)
    n = int(ref["width"])
    k = kernels.mlp_kernels(
        ref["X1"],
        ref["X2"],
        layer_sizes=[6, n, n, 1],
        init=gaussian(float(ref["W_std"]) ** 2),
        activation={"name": "leaky_relu", "slope": 0.2} if act == "leaky_relu" else act,
        sigma_b2=float(ref["b_std"]) ** 2,
        parametrization=ours,
    )
    for name, got in (("nngp", k.nngp), ("ntk", k.ntk)):
        want = ref[f"{act}-{nt}-{name}"]
        assert np.max(np.abs(got - want) / np.abs(want)) < 1e-10, name


def _pairs(rng, P):
    q1 = 10 ** rng.uniform(-2, math.log10(20), P)
    q2 = q1 * rng.uniform(0.5, 2.0, P)
    c = np.concatenate([rng.uniform(-1, 1, P - 5), [1.0, -1.0, 0.99999, -0.999, 0.0]])
    return q1, q2, c


@pytest.mark.parametrize("act", ["relu", {"name": "leaky_relu", "slope": 0.1}, "erf", "linear"])
def test_closed_forms_equal_two_dimensional_integration(act):
    from initlab.nn import activations

    a = activations.get(act)
    q1, q2, c = _pairs(np.random.default_rng(1), 40)
    E, Ed = kernels.dual(a, q1, q2, c * np.sqrt(q1 * q2))
    dphi = lambda u: a.df(u, a.f(u))  # noqa: E731
    scale = np.sqrt(q1 * q2)  # relu's kernels grow with q; erf's are O(1)
    assert np.max(np.abs(E - gaussian_expectation_2d(a.f, a.f, q1, q2, c)) / scale) < 1e-11
    assert np.max(np.abs(Ed - gaussian_expectation_2d(dphi, dphi, q1, q2, c))) < 1e-11


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_quadrature_holds_its_stated_error(act):
    from initlab.nn import activations

    a = activations.get(act)
    q1, q2, c = _pairs(np.random.default_rng(2), 60)
    E, Ed = kernels.dual(a, q1, q2, c * np.sqrt(q1 * q2))
    dphi = lambda u: a.df(u, a.f(u))  # noqa: E731
    assert np.max(np.abs(E - gaussian_expectation_2d(a.f, a.f, q1, q2, c))) < 1e-7
    assert np.max(np.abs(Ed - gaussian_expectation_2d(dphi, dphi, q1, q2, c))) < 1e-7


def test_tanh_nngp_and_ntk_equal_monte_carlo_over_wide_networks():
    """Readout of 1000 units over 12 networks of width 512: every unit of the last layer is
    one draw of the logits' Gaussian process. Bound: 5 standard errors (over the networks)
    plus the finite-width bias, measured O(1/n) (Yaida 2020), allowed 2/n relative."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 4))
    b2, w2, n = 0.05, 1.8, 512
    sizes = [5, n, n, 1000]
    k = kernels.mlp_kernels(X, layer_sizes=sizes, init=gaussian(w2), activation="tanh", sigma_b2=b2)
    net = init_population(
        sizes, [(gaussian(w2), s) for s in range(12)], activation="tanh", sigma_b2=b2, head="linear"
    )
    Z = net.logits(X)  # (12, 1000, 4)
    per_net = np.einsum("kui,kuj->kij", Z, Z) / Z.shape[1]
    mean, se = per_net.mean(0), per_net.std(0, ddof=1) / math.sqrt(per_net.shape[0])
    assert np.all(np.abs(mean - k.nngp) <= 5 * se + 2 / n * np.abs(k.nngp))
    # the NTK: the empirical one, averaged over networks of one output
    sizes = [5, n, n, 1]
    _, lw, lb = kernels.layer_rates(sizes, gaussian(w2), b2)
    net = init_population(
        sizes, [(gaussian(w2), s) for s in range(8)], activation="tanh", sigma_b2=b2, head="linear"
    )
    T = empirical_ntk.empirical_ntk(net, X, lam_w=lw, lam_b=lb)
    T_ref = kernels.mlp_kernels(
        X, layer_sizes=sizes, init=gaussian(w2), activation="tanh", sigma_b2=b2
    ).ntk
    se = T.std(0, ddof=1) / math.sqrt(T.shape[0])
    assert np.all(np.abs(T.mean(0) - T_ref) <= 5 * se + 2 / n * np.abs(T_ref))


def test_plain_residual_mlp_is_the_mlp_and_residual_nngp_equals_monte_carlo():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 4))
    plain, _ = init_model((3, 8, 1), [0], depth=2, init="he", activation="relu")
    a = kernels.resmlp_kernels(X, model=plain, init="he")
    b = kernels.mlp_kernels(X, layer_sizes=[3, 8, 8, 8, 1], init="he", activation="relu")
    np.testing.assert_allclose(a.nngp, b.nngp, rtol=1e-14)
    np.testing.assert_allclose(a.ntk, b.ntk, rtol=1e-14)
    # a residual net with depth scaling: the NNGP against 1000 readout units x 12 networks
    n, d_out = 512, 1000
    model, _ = init_model(
        (3, n, d_out),
        list(range(12)),
        depth=3,
        init="he",
        activation="tanh",
        skip=True,
        branch_scaling="depth",
        alpha=1.0,
    )
    Z, _ = model.forward(X)
    per_net = np.einsum("kui,kuj->kij", Z, Z) / d_out
    k = kernels.resmlp_kernels(X, model=model, init="he").nngp
    se = per_net.std(0, ddof=1) / math.sqrt(per_net.shape[0])
    assert np.all(np.abs(per_net.mean(0) - k) <= 5 * se + 2 / n * np.abs(k))


def test_refusals():
    X = np.ones((3, 2))
    with pytest.raises(InitlabError, match="mup"):
        kernels.mlp_kernels(
            X, layer_sizes=[3, 4, 1], init="he", activation="relu", parametrization="mup"
        )
    model, _ = init_model((3, 4, 1), [0], depth=1, skip=True, branch_scaling="learnable")
    with pytest.raises(InitlabError, match="learnable"):
        kernels.resmlp_kernels(X, model=model, init="he")
    with pytest.raises(InitlabError, match="X1 has shape"):
        kernels.mlp_kernels(X.T, layer_sizes=[3, 4, 1], init="he", activation="relu")


def test_chaotic_depth_limit_is_set_by_c_star_and_ordered_kernel_degenerates():
    """Deep in the chaotic phase K_L -> q* ((1 - c*) I + c* 1 1^T) for inputs at q*: its
    condition number tends to 1 + m c* / (1 - c*) (here xi_c = 7 layers, so 150 layers leave
    e^-21); in the ordered phase (c* = 1) it grows."""
    w2, b2, m = 4.0, 0.05, 6
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, m))
    c_star = correlation.correlation_fixed_point("tanh", w2, b2)
    k = kernels.mlp_kernels(
        X, layer_sizes=[8, *[1] * 150, 1], init=gaussian(w2), activation="tanh", sigma_b2=b2
    ).nngp
    limit = 1 + m * c_star / (1 - c_star)
    assert abs(kernel_regression.condition_number(k) / limit - 1) < 1e-6
    ordered = [
        kernel_regression.condition_number(
            kernels.mlp_kernels(
                X, layer_sizes=[8, *[1] * L, 1], init=gaussian(1.0), activation="tanh", sigma_b2=b2
            ).nngp
        )
        for L in (2, 8, 32)
    ]
    assert ordered[0] < ordered[1] < ordered[2]


def test_ntk_predict_is_gradient_descent_on_the_linear_model_and_gp_is_a_solve():
    rng = np.random.default_rng(6)
    m, ms = 7, 3
    A = rng.standard_normal((m + ms, m + ms))
    T = A @ A.T + 0.1 * np.eye(m + ms)
    Y, f0 = rng.standard_normal((1, m)), rng.standard_normal((1, m + ms))
    eta = 0.9 * 2 * m / np.linalg.eigvalsh(T[:m, :m]).max()
    got = kernel_regression.ntk_predict(
        T[:m, :m],
        T[m:, :m],
        Y,
        times=[0, 1, 17, math.inf],
        learning_rate=eta,
        f0_train=f0[:, :m],
        f0_test=f0[:, m:],
    )
    f = f0.copy()  # explicit GD on the linear model f(x) = f0(x) + Theta(x, X) w
    for t in range(17):
        f = f - eta / m * (T[:, :m] @ (f[0, :m] - Y[0]))[None, :]
        if t == 0:
            np.testing.assert_allclose(got[1], f[:, m:], rtol=1e-10)
    np.testing.assert_allclose(got[0], f0[:, m:], rtol=0, atol=0)
    np.testing.assert_allclose(got[2], f[:, m:], rtol=1e-9)
    inf = f0[:, m:] - (T[m:, :m] @ np.linalg.solve(T[:m, :m], (f0[0, :m] - Y[0])))[None]
    np.testing.assert_allclose(got[3], inf, rtol=1e-9)
    mean, var = kernel_regression.gp_posterior(T[:m, :m], T[m:, :m], Y, np.diag(T)[m:], jitter=0.0)
    np.testing.assert_allclose(mean[0], T[m:, :m] @ np.linalg.solve(T[:m, :m], Y[0]), rtol=1e-9)
    full = T[m:, m:] - T[m:, :m] @ np.linalg.solve(T[:m, :m], T[:m, m:])
    np.testing.assert_allclose(var, np.diag(full), rtol=1e-8)
    with pytest.raises(InitlabError, match="diverges"):
        kernel_regression.ntk_predict(T[:m, :m], T[m:, :m], Y, times=[3], learning_rate=3 * eta)


def _digits(m: int, m_test: int):
    X, Y, X_test, _ = examples(m, m_test)
    return X, Y, X_test


def test_empirical_ntk_converges_with_slope_about_minus_one_half():
    X, _, _ = _digits(12, 0)
    out = empirical_ntk.ntk_convergence(
        X,
        widths=[64, 128, 256, 512, 1024],
        depth=2,
        init=gaussian(2.0),
        activation="relu",
        sigma_b2=0.1,
        members=4,
        seed=0,
    )
    assert -0.7 < out["slope"] < -0.3  # 1/sqrt(n); measured -0.47 with these seeds


def test_wide_ntk_network_tracks_the_kernel_and_mup_moves_its_kernel():
    X, Y, X_test = _digits(32, 8)
    runs = {
        n: empirical_ntk.train_vs_kernel(
            X,
            Y,
            X_test,
            width=n,
            depth=1,
            init=gaussian(2.0),
            activation="relu",
            sigma_b2=0.1,
            learning_rate=0.4,
            times=[100, 300],
            seed=1,
        )
        for n in (128, 2048)
    }
    wide = runs[2048]
    assert np.all(wide["distance"] <= 0.15 * wide["movement"])  # measured 5% at t = 300
    assert wide["distance"][-1] < runs[128]["distance"][-1]
    moved = {
        p: empirical_ntk.kernel_movement(
            X,
            Y,
            width=512,
            depth=2,
            init="he",
            activation="relu",
            parametrization=p,
            base_width=64,
            learning_rate=lr,
            steps=100,
        )
        for p, lr in (("ntk", 0.4), ("mup", 0.4 * 2 / 64))
    }
    assert moved["mup"] > 3 * moved["ntk"]


def test_initlab_table_ntk_has_a_width_free_limit_that_its_networks_approach():
    """layer_rates with base_width reads init.parametrization's table: its "ntk" kernel is
    the same at every width (its "sp" grows as n), and networks drawn under it average to
    it (5 standard errors plus 2/n)."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 4))
    kw = {"init": "he", "activation": "relu", "sigma_b2": 0.1, "base_width": 64}
    small, big = (kernels.mlp_kernels(X, layer_sizes=[5, n, n, 1], **kw) for n in (256, 4096))
    np.testing.assert_allclose(small.ntk, big.ntk, rtol=1e-13)
    sp = [
        kernels.mlp_kernels(X, layer_sizes=[5, n, n, 1], parametrization="sp", **kw).ntk
        for n in (256, 4096)
    ]
    assert np.all(sp[1] / sp[0] > 12)  # 16 x (hidden and readout terms) + input terms
    sizes = [5, 512, 512, 1]
    _, lw, lb = kernels.layer_rates(sizes, "he", 0.1, "ntk", base_width=64)
    assert list(lw) == [1.0, 64 / 512, 64 / 512] and list(lb) == [1.0, 1.0, 1.0]  # n0 / n
    net = init_population(
        sizes, [("he", s) for s in range(8)], activation="relu", sigma_b2=0.1, head="linear"
    )
    T = empirical_ntk.empirical_ntk(net, X, lam_w=lw, lam_b=lb)
    se = T.std(0, ddof=1) / math.sqrt(T.shape[0])
    assert np.all(np.abs(T.mean(0) - small.ntk) <= 5 * se + 2 / 512 * np.abs(small.ntk))


@pytest.mark.parametrize("activation", ["relu", "erf", "leaky_relu", "tanh"])
def test_kernels_by_blocks_of_rows_are_the_whole_kernels_bits(activation, monkeypatch):
    """Closed-form networks run every layer on one block of rows before the next
    (``kernel_steps.run_blocks``); ``by_layer=True`` runs whole layers. Blocks of 7 rows (a last one
    shorter), one set of inputs (the diagonal set exactly) and two: the same bits."""
    from initlab.analysis import kernel_steps
    from initlab.analysis import kernels as K
    from initlab.studies.kernels import gaussian_init

    rng = np.random.default_rng(0)
    X1, X2 = rng.standard_normal((5, 23)), rng.standard_normal((5, 9))
    monkeypatch.setattr(kernel_steps, "BLOCK", 7 * 23)
    for other in (None, X2):
        kw = dict(layer_sizes=[5, 8, 8, 1], init=gaussian_init(1.7), activation=activation,
                  sigma_b2=0.05)  # fmt: skip
        blocks, whole = (
            K.mlp_kernels(X1, other, **kw),
            K.mlp_kernels(X1, other, by_layer=True, **kw),
        )
        assert blocks.nngp.tobytes() == whole.nngp.tobytes()
        assert blocks.ntk.tobytes() == whole.ntk.tobytes()
