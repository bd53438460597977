r"""Finite networks against their infinite-width kernels: the empirical NTK, and training.

**Empirical NTK.** For a network of the population engine (:class:`initlab.nn.network.
Network`, K members) the kernel of its gradient descent is
:math:`\hat\Theta(x, x') = \sum_p \lambda_p\, \partial_p f(x)\, \partial_p f(x')` over every
weight and bias, with the step factors :math:`\lambda` of
:func:`initlab.analysis.kernels.layer_rates`. Back-propagating :math:`dZ_L = 1` for every
example gives :math:`\delta_l(x) = \partial f(x)/\partial Z_l` (initlab's ``backward``), and
:math:`\partial f/\partial W_l = \delta_l a_{l-1}^T`, :math:`\partial f/\partial b_l =
\delta_l`, so

.. math::

    \hat\Theta = \sum_l \lambda_{W,l}\, (\delta_l^T \delta_l') \odot (a_{l-1}^T a_{l-1}')
    + \lambda_{b,l}\, \delta_l^T \delta_l'

without forming a Jacobian (:math:`a_0 = x`). At initialization it fluctuates around the
analytic :math:`\Theta` by :math:`O(1/\sqrt n)` (Jacot et al. 2018), which
:func:`ntk_convergence` measures.

**Training.** :func:`train_vs_kernel` trains a network under the NTK parametrization
(initlab's SP draw with per-layer rates :math:`\eta\lambda_{W,l}`, :math:`\eta\lambda_{b,l}`:
exactly gradient descent on :math:`(\omega, \beta)`) by full-batch GD on the MSE and
compares its test outputs with the kernel's prediction from the same initial outputs
(:func:`initlab.analysis.kernel_regression.ntk_predict`); under muP (the rates and
initial scales of :func:`initlab.init.parametrization.layer_scales`) the same training moves
its own NTK by an amount that does not shrink with width: feature learning
(:func:`kernel_movement`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from initlab._rng import child_seeds
from initlab._validation import InitlabError, check_number
from initlab.analysis.kernel_regression import ntk_predict
from initlab.analysis.kernels import layer_rates, mlp_kernels
from initlab.analysis.theory import InitLike
from initlab.init import parametrization as _param
from initlab.init.build import init_population
from initlab.nn.network import Network, backward
from initlab.nn.training import train

Array = np.ndarray


def empirical_ntk(
    network: Network,
    X1: Array,
    X2: Array | None = None,
    *,
    lam_w: Sequence[float],
    lam_b: Sequence[float],
    output: int = 0,
) -> Array:
    r""":math:`\hat\Theta` of every member of `network` for output unit `output`.

    Parameters
    ----------
    network : Network
    X1, X2 : ndarray (n_0, m1), (n_0, m2)
        `X2` defaults to `X1`.
    lam_w, lam_b : sequence of float (L,)
        Step factors of each layer's weights and biases (:func:`initlab.analysis.kernels.
        layer_rates`; for muP, its learning-rate factors).

    Returns
    -------
    ndarray (K, m1, m2)
    """
    L = len(network.weights)
    if len(lam_w) != L or len(lam_b) != L:
        raise InitlabError(f"lam_w and lam_b need {L} entries, one per layer")
    X1 = np.asarray(X1, dtype=np.float64)
    m1 = X1.shape[1]
    X = X1 if X2 is None else np.concatenate([X1, np.asarray(X2, dtype=np.float64)], axis=1)
    cols = slice(0, m1) if X2 is None else slice(m1, X.shape[1])
    Zs, As = network.forward(X)
    dZL = np.zeros_like(Zs[-1])
    dZL[:, output, :] = 1.0
    dZs: list[Array] = []
    backward(dZL, network.weights, Zs, As, network.activation, dZs=dZs)
    T = np.zeros((network.K, m1, X.shape[1] - (0 if X2 is None else m1)))
    prev = [np.broadcast_to(X, (network.K, *X.shape)), *As]
    for l in range(L):
        D = dZs[l]
        dd = np.matmul(D[..., :m1].swapaxes(-1, -2), D[..., cols])
        aa = np.matmul(prev[l][..., :m1].swapaxes(-1, -2), prev[l][..., cols])
        T += lam_w[l] * dd * aa + lam_b[l] * dd
    return T


def relative_error(T_hat: Array, T: Array) -> Array:
    r""":math:`\lVert \hat\Theta_k - \Theta\rVert_F / \lVert\Theta\rVert_F` per member."""
    return np.linalg.norm(T_hat - T, axis=(-2, -1)) / np.linalg.norm(T)


def _sizes(d: int, width: int, depth: int) -> list[int]:
    return [d, *[width] * depth, 1]


def ntk_convergence(
    X: Array,
    *,
    widths: Sequence[int],
    depth: int,
    init: InitLike,
    activation: Any,
    sigma_b2: float = 0.0,
    members: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    r"""Relative Frobenius error of the empirical NTK (NTK parametrization) against width.

    For each width :math:`n`, `members` networks ``[n_0, n x depth, 1]`` drawn from child
    seeds of `seed`; returns ``{"widths", "errors" (members, n_widths), "mean", "slope"}``
    where ``slope`` is the least-squares slope of :math:`\log` mean error against
    :math:`\log n` (about :math:`-1/2`: fluctuations of :math:`O(1/\sqrt n)`).
    """
    depth = int(check_number("depth", depth, low=1, integer=True))
    members = int(check_number("members", members, low=1, integer=True))
    X = np.asarray(X, dtype=np.float64)
    errors = np.empty((members, len(widths)))
    seeds = child_seeds(seed, members)
    for j, n in enumerate(widths):
        sizes = _sizes(X.shape[0], int(n), depth)
        T = mlp_kernels(
            X, layer_sizes=sizes, init=init, activation=activation, sigma_b2=sigma_b2
        ).ntk
        _, lam_w, lam_b = layer_rates(sizes, init, sigma_b2, "ntk")
        net = init_population(
            sizes,
            [(init, s) for s in seeds],
            activation=activation,
            sigma_b2=sigma_b2,
            head="linear",
        )
        errors[:, j] = relative_error(empirical_ntk(net, X, lam_w=lam_w, lam_b=lam_b), T)
    mean = errors.mean(axis=0)
    slope = float(np.polyfit(np.log(np.asarray(widths, float)), np.log(mean), 1)[0])
    return {"widths": list(map(int, widths)), "errors": errors, "mean": mean, "slope": slope}


def _ntk_rates(sizes, init, sigma_b2) -> tuple[Array, Array]:
    """:func:`layer_rates` under "ntk" for training, which needs every step factor > 0."""
    if not sigma_b2 > 0:
        raise InitlabError(
            "training under the NTK parametrization needs sigma_b2 > 0: its biases' step "
            "factor is sigma_b2, and initlab's optimizer takes positive factors only"
        )
    _, lam_w, lam_b = layer_rates(sizes, init, sigma_b2, "ntk")
    return lam_w, lam_b


def _segments(net: Network, X, Y, times, lr, optimizer) -> list[Network]:
    """The network after each of `times` steps of full-batch GD (GD has no state, so
    training in segments is training once)."""
    nets, done = [], 0
    for t in times:
        if t > done:
            net, _ = train(
                net,
                X,
                Y,
                learning_rate=lr,
                iterations=int(t - done),
                engine="direct",
                optimizer=optimizer,
                divergence_factor=None,
            )
            done = t
        nets.append(net)
    return nets


def train_vs_kernel(
    X: Array,
    Y: Array,
    X_test: Array,
    *,
    width: int,
    depth: int,
    init: InitLike,
    activation: Any,
    sigma_b2: float = 0.0,
    learning_rate: float,
    times: Sequence[int],
    seed: int = 0,
) -> dict[str, Any]:
    r"""A network under the NTK parametrization trained by full-batch GD, beside the kernel.

    Returns ``{"times", "network" (n_times, m*), "kernel" (n_times, m*), "distance",
    "movement"}``: test outputs of output unit 0 of the network and of
    :func:`ntk_predict` from the network's own initial outputs, their RMS distance at each
    time, and the RMS of the kernel's change :math:`f_t - f_0` (the scale the distance is
    measured against).
    """
    sizes = _sizes(X.shape[0], int(check_number("width", width, low=1, integer=True)), depth)
    lam_w, lam_b = _ntk_rates(sizes, init, sigma_b2)
    net = init_population(
        sizes, [(init, seed)], activation=activation, sigma_b2=sigma_b2, head="linear"
    )
    ker = mlp_kernels(
        np.concatenate([X, X_test], axis=1),
        X,
        layer_sizes=sizes,
        init=init,
        activation=activation,
        sigma_b2=sigma_b2,
    ).ntk
    m = X.shape[1]
    f0 = net.logits(np.concatenate([X, X_test], axis=1))[0]
    pred = ntk_predict(
        ker[:m],
        ker[m:],
        Y,
        times=list(times),
        learning_rate=learning_rate,
        f0_train=f0[:, :m],
        f0_test=f0[:, m:],
    )[:, 0]
    opt = {"name": "gd", "layer_lr_scale": list(lam_w), "bias_lr_scale": list(lam_b)}
    nets = _segments(net, X, Y, list(times), learning_rate, opt)
    outs = np.array([n.logits(X_test)[0, 0] for n in nets])
    rms = lambda a: np.sqrt(np.mean(a * a, axis=-1))  # noqa: E731
    return {
        "times": list(map(int, times)),
        "network": outs,
        "kernel": pred,
        "distance": rms(outs - pred),
        "movement": rms(pred - f0[0, m:]),
    }


def kernel_movement(
    X: Array,
    Y: Array,
    *,
    width: int,
    depth: int,
    init: InitLike,
    activation: Any,
    parametrization: str,
    base_width: int,
    learning_rate: float,
    steps: int,
    sigma_b2: float = 0.1,
    seed: int = 0,
) -> float:
    r""":math:`\lVert\hat\Theta_T - \hat\Theta_0\rVert_F / \lVert\hat\Theta_0\rVert_F` on the
    training inputs after `steps` of full-batch GD, under `parametrization` ("ntk": the
    kernel's rates :func:`layer_rates`; "sp" or "mup": initlab's table,
    :func:`initlab.init.parametrization.layer_scales` at `base_width`, its init factors and
    SGD rates); each network's own step factors define its :math:`\hat\Theta`. Biases are
    drawn :math:`N(0, \sigma_b^2)` (:math:`\sigma_b^2 > 0` under "ntk": its bias rate is
    :math:`\sigma_b^2`)."""
    sizes = _sizes(X.shape[0], int(width), depth)
    net = init_population(
        sizes, [(init, seed)], activation=activation, sigma_b2=sigma_b2, head="linear"
    )
    if parametrization == "ntk":
        lam_w, lam_b = _ntk_rates(sizes, init, sigma_b2)
    else:
        sc = _param.layer_scales(parametrization, sizes, base_width)
        net.weights = _param.rescale_weights(net.weights, sc)
        lam_w, lam_b = np.array(sc.lr), np.array(sc.bias_lr)
    T0 = empirical_ntk(net, X, lam_w=lam_w, lam_b=lam_b)[0]
    opt = {"name": "gd", "layer_lr_scale": list(lam_w), "bias_lr_scale": list(lam_b)}
    (trained,) = _segments(net, X, Y, [steps], learning_rate, opt)
    T1 = empirical_ntk(trained, X, lam_w=lam_w, lam_b=lam_b)[0]
    moved = float(np.linalg.norm(T1 - T0) / np.linalg.norm(T0))
    return moved if math.isfinite(moved) else math.inf
