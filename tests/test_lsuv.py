"""LSUV (Mishkin & Matas 2016): every layer's output variance within tol of 1 on the batch,
where plain N(0, 1) weights are far from it; the orthonormal start; refusals."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from initlab import init_network, init_population
from initlab._validation import InitlabError
from initlab.init import catalogue as initializers
from initlab.init.lsuv import LSUV_PARAMS, lsuv, lsuv_network

SIZES = [100] + [64] * 9 + [1]  # 10 weight layers, width 64
TOL = LSUV_PARAMS["tol"]


@pytest.fixture(scope="module")
def X():
    """A fixed synthetic Gaussian batch: 100 features x 256 examples."""
    return np.random.default_rng(20160101).standard_normal((100, 256))


def layer_variances(net, X, measure="preactivation"):
    """Per layer and member, the variance of each layer's output, from the network's own
    forward pass (independent of lsuv's loop)."""
    Zs, As = net.forward(X)
    outs = Zs if measure == "preactivation" else [*As, Zs[-1]]
    return np.array([Y.var(axis=(1, 2)) for Y in outs])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_lsuv_brings_every_layer_to_unit_variance(X, activation):
    net, report = lsuv_network(SIZES, X, activation=activation, seed=0)
    v = layer_variances(net, X)
    assert v.shape == (10, 1)
    assert (np.abs(v - 1) < TOL).all()
    assert report.all_converged
    np.testing.assert_allclose(report.variances, v, rtol=1e-12)
    # pre-activations are linear in W_l: one rescaling is exact, unless none was needed
    assert (report.iterations <= 1).all()
    # plain N(0, 1) weights: no layer is near unit variance (tanh ~ 60, relu explodes)
    plain = init_network(SIZES, "normal", activation=activation, seed=0)
    assert (np.abs(layer_variances(plain, X) - 1) > 10 * TOL).all()


def test_lsuv_on_activations_for_relu(X):
    net, report = lsuv_network(SIZES, X, activation="relu", seed=1, measure="activation")
    v = layer_variances(net, X, measure="activation")
    assert report.all_converged and (np.abs(v - 1) < TOL).all()
    assert report.measure == "activation"
    record = report.as_dict()
    assert record["iterations"] == report.iterations.tolist() and record["tol"] == TOL


def test_bounded_activation_cannot_reach_one_and_says_so(X):
    # tanh outputs lie in (-1, 1): their variance stays below 1
    _, report = lsuv_network(SIZES, X, activation="tanh", seed=1, measure="activation")
    assert not report.converged[:-1].any()
    assert (report.iterations[:-1] == LSUV_PARAMS["max_iter"]).all()
    assert report.converged[-1].all()  # the output layer is measured on its logit


def test_starts_orthonormal_and_keeps_the_input(X):
    net, _ = lsuv_network(SIZES, X, activation="tanh", seed=2)
    for W in net.weights[1:-1]:  # square hidden layers: c Q, Q orthogonal
        M = W[0]
        G = M @ M.T
        np.testing.assert_allclose(G, G[0, 0] * np.eye(len(M)), atol=1e-10 * G[0, 0])
    for b in net.biases:
        assert (b == 0).all()
    start = init_network(SIZES, "orthogonal", activation="tanh", seed=2)
    before = [W.copy() for W in start.weights]
    again, _ = lsuv(start, X)
    for W, W0 in zip(start.weights, before, strict=True):
        np.testing.assert_array_equal(W, W0)  # input not mutated
    for W, W1 in zip(again.weights, net.weights, strict=True):
        np.testing.assert_array_equal(W, W1)  # lsuv_network = orthogonal + lsuv


def test_deterministic(X):
    a, _ = lsuv_network(SIZES, X, seed=5)
    b, _ = lsuv_network(SIZES, X, seed=5)
    c, _ = lsuv_network(SIZES, X, seed=6)
    assert all(np.array_equal(Wa, Wb) for Wa, Wb in zip(a.weights, b.weights, strict=True))
    assert not np.array_equal(a.weights[0], c.weights[0])
    legacy, report = lsuv_network(SIZES, X, seed=5, stream="legacy", dtype=np.float32)
    assert legacy.dtype == np.float32 and report.all_converged


def test_population(X):
    pop = init_population(SIZES, [("he", 1), ("xavier", 2), ("normal", 3)], activation="tanh")
    net, report = lsuv(pop, X)  # rescales each member's own weights
    assert report.iterations.shape == report.variances.shape == (10, 3)
    assert report.all_converged
    assert (np.abs(layer_variances(net, X) - 1) < TOL).all()
    # a population started from orthogonal seeds: member k is exactly lsuv_network(seed_k)
    seeds = (1, 2)
    pop = init_population(SIZES, [("orthogonal", s) for s in seeds], activation="relu")
    net, _ = lsuv(pop, X)
    for k, seed in enumerate(seeds):
        alone, _ = lsuv_network(SIZES, X, activation="relu", seed=seed)
        for W, W1 in zip(net.weights, alone.weights, strict=True):
            np.testing.assert_array_equal(W[k], W1[0])
    ortho, report = lsuv(pop, X, orthonormal=7)  # the paper's start, members from one rng
    assert report.all_converged
    assert not np.array_equal(ortho.weights[0][0], ortho.weights[0][1])


def test_refusals(X):
    with pytest.raises(InitlabError, match="at least 2 examples; got 1"):
        lsuv_network(SIZES, X[:, :1])
    with pytest.raises(InitlabError, match=r"layer 1 has variance 0\.0"):
        lsuv_network(SIZES, np.zeros_like(X))
    # relu units all off from layer 2 on: the activation of layer 2 has variance 0
    net = init_network([3, 4, 4, 1], "orthogonal", activation="relu", seed=0)
    net.weights[1][:] = -np.abs(net.weights[1])
    Xpos = np.abs(np.random.default_rng(0).standard_normal((3, 8)))
    net.weights[0][:] = np.abs(net.weights[0])
    with pytest.raises(InitlabError, match="layer 2 has variance 0"):
        lsuv(net, Xpos, measure="activation")
    with pytest.raises(InitlabError, match="X has shape"):
        lsuv_network(SIZES, X[:50])
    with pytest.raises(InitlabError, match="tol must be > 0"):
        lsuv_network(SIZES, X, tol=0)
    with pytest.raises(InitlabError, match="max_iter must be >= 1"):
        lsuv_network(SIZES, X, max_iter=0)
    with pytest.raises(InitlabError, match="measure must be one of preactivation, activation"):
        lsuv_network(SIZES, X, measure="output")


def test_spec_contract():
    # the options a spec may set are lsuv_network's keywords, with the same defaults
    signature = inspect.signature(lsuv_network).parameters
    for name, default in LSUV_PARAMS.items():
        assert signature[name].default == default
    with pytest.raises(InitlabError, match=r"data-dependent.*lsuv_network"):
        initializers.get({"name": "lsuv", **LSUV_PARAMS})
