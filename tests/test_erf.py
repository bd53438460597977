"""The erf activation: its derivative, its gain, and its use across initlab (theory, torch)."""

import math

import numpy as np

from initlab.analysis import theory
from initlab.init.build import init_network
from initlab.init.gains import calculate_gain
from initlab.nn import activations


def test_erf_derivative_is_the_central_difference():
    act = activations.get("erf")
    z = np.linspace(-3, 3, 61)
    h = 1e-6
    numeric = (act.f(z + h) - act.f(z - h)) / (2 * h)
    np.testing.assert_allclose(act.df(z, act.f(z)), numeric, rtol=0, atol=1e-9)
    assert act.saturated(np.array([3.0]), act.f(np.array([3.0])))[0]
    assert not act.scale_free


def test_erf_gain_is_critical_at_zero_bias():
    g = calculate_gain("erf")
    assert g == math.sqrt(math.pi) / 2
    assert abs(theory.critical_sigma_w2("erf", 0.0) - g * g) < 1e-6  # solver's tolerance at q* -> 0


def test_erf_network_runs_in_torch_as_in_numpy():
    import torch

    from initlab.torch._apply import from_network, infer_activation

    net = init_network([3, 5, 1], "he", activation="erf", seed=0)
    module = from_network(net)
    X = np.random.default_rng(0).standard_normal((3, 4))
    out = module(torch.from_numpy(X.T)).detach().numpy().T
    np.testing.assert_allclose(out, net.logits(X)[0], rtol=0, atol=1e-14)
    assert infer_activation(module).name == "erf"
