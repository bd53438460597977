"""Residual MLPs: back-propagation against central differences; the plain case is the MLP."""

import numpy as np
import pytest

from initlab.nn.losses import bce_with_logits
from initlab.nn.network import Network
from initlab.nn.residual import ResMLP


def _params(rng, K, d, n, out, L, J, learnable):
    ps = [rng.standard_normal((K, n, d)) / np.sqrt(d), 0.1 * rng.standard_normal((K, n, 1))]
    for _ in range(L * J):
        ps += [rng.standard_normal((K, n, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, n, 1))]
    ps += [rng.standard_normal((K, out, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, out, 1))]
    if learnable:
        ps.append(rng.uniform(0.2, 0.8, (K, L, 1)))
    return ps


def _softmax_ce(Z, Y):
    Z = Z - Z.max(axis=-2, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=-2, keepdims=True))
    return -(Y * logp).sum(axis=-2).mean(axis=-1), np.exp(logp) - Y


@pytest.mark.parametrize(
    ("skip", "scaling", "J", "act"),
    [(True, "learnable", 2, "tanh"), (True, "depth", 1, "sigmoid"), (False, "constant", 2, "tanh")],
)
def test_backward_matches_central_differences(skip, scaling, J, act):
    rng = np.random.default_rng(3)
    K, d, n, out, L, m = 2, 3, 4, 3, 2, 5
    net = ResMLP(
        _params(rng, K, d, n, out, L, J, scaling == "learnable"), L, J, act, skip, scaling, 0.7
    )
    X = rng.standard_normal((d, m))
    Y = np.eye(out)[:, rng.integers(0, out, m)]
    Z, cache = net.forward(X)
    grads = net.backward(_softmax_ce(Z, Y)[1], cache)
    eps = 1e-6
    for P, G in zip(net.params, grads, strict=True):
        flat, num = P.reshape(-1), np.empty(P.size)
        for i in range(P.size):
            old = flat[i]
            flat[i] = old + eps
            plus = _softmax_ce(net.forward(X)[0], Y)[0].sum()  # members are independent
            flat[i] = old - eps
            minus = _softmax_ce(net.forward(X)[0], Y)[0].sum()
            flat[i] = old
            num[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(G.reshape(-1), num, rtol=1e-6, atol=1e-9)


def test_plain_resmlp_is_the_network_mlp():
    """skip=False, one layer per branch, alpha = 1: the MLP of nn.network, bit for bit."""
    rng = np.random.default_rng(0)
    K, d, n, L, m = 3, 5, 6, 2, 7
    ps = _params(rng, K, d, n, 1, L, 1, False)
    res = ResMLP(ps, L, 1, "tanh", skip=False)
    mlp = Network((d, n, n, n, 1), "tanh", ps[0::2], ps[1::2])
    X = rng.standard_normal((d, m))
    Y = (rng.random((1, m)) < 0.5).astype(float)
    Z, cache = res.forward(X)
    np.testing.assert_array_equal(Z, mlp.logits(X))
    from scipy.special import expit

    grads = res.backward(expit(Z) - Y, cache)
    dWs, dbs = mlp.gradients(X, Y)
    for g, ref in zip(grads, [x for pair in zip(dWs, dbs, strict=True) for x in pair], strict=True):
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-15)
    assert bce_with_logits(Z, Y).shape == (K,)


def test_zero_branch_is_identity_and_names():
    rng = np.random.default_rng(1)
    ps = _params(rng, 1, 2, 3, 1, 3, 2, False)
    for l in range(3):
        ps[2 + 2 * (l * 2 + 1)][:] = 0.0  # V_J = 0
        ps[3 + 2 * (l * 2 + 1)][:] = 0.0  # c_J = 0
    net = ResMLP(ps, 3, 2, "relu", True, "depth")
    _, cache = net.forward(rng.standard_normal((2, 4)))
    for x in cache["x"][1:]:
        np.testing.assert_array_equal(x, cache["x"][0])
    assert net.record_names() == ["input", "block 1", "block 2", "block 3", "output"]
    np.testing.assert_allclose(net.alphas(), 1 / np.sqrt(3))


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-3), ("sgd", 0.05)])
def test_depth_scalings_keep_the_last_block_moving_by_a_depth_independent_amount(optimizer, lr):
    """Change of x_L after 3 steps over depths 2, 8, 32 (base depth 2): constant branches
    blow up with depth; depth-muP (1/sqrt(L), TP VI) and CompleteP (1/L, Dey et al. 2025)
    with their learning-rate rule stay within the coordinate-check band."""
    from initlab.analysis.coordcheck import DEFAULT_BAND, fit_slope
    from initlab.data import load, sample
    from initlab.init import parametrization as par
    from initlab.nn.training import train

    ds = sample(load("digits10"), 64)
    X, Y = ds.X, ds.one_hot()
    depths = (2, 8, 32)
    slopes = {}
    for scaling in ("constant", "depth", "completep"):
        change = []
        for L in depths:
            model, s = par.init_model((64, 64, 10), [0, 1], depth=L, skip=True,
                                      branch_scaling=scaling, base_depth=2, optimizer=optimizer)  # fmt: skip
            seen = []
            train(model, X, Y, learning_rate=lr, lr_scale=s, iterations=3, optimizer=optimizer,
                  head="softmax", divergence_factor=None, record_at=range(3),
                  hooks=[lambda st, seen=seen: seen.append(
                      st.Zs[-2])])  # fmt: skip
            change.append(np.abs(seen[-1] - seen[0]).mean())
        slopes[scaling] = fit_slope(depths, change)
    assert slopes["constant"] > 1.0 or not np.isfinite(slopes["constant"])
    assert abs(slopes["depth"]) <= DEFAULT_BAND and abs(slopes["completep"]) <= DEFAULT_BAND
    assert par.depth_lr_factor("completep", 32, 2, "sgd") == 16.0
    assert par.depth_lr_factor("depth", 32, 2, "adam") == 0.25
