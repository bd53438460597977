r"""Infinite-width kernels of initlab's networks: the NNGP kernel and the neural tangent kernel.

As the hidden widths go to infinity, the logits of a randomly initialized network are a
Gaussian process whose covariance is the NNGP kernel :math:`K(x, x')` (Neal 1996; Lee et
al. 2018, "Deep neural networks as Gaussian processes"; Matthews et al. 2018), and
gradient descent on the squared error moves them as kernel regression with the neural
tangent kernel :math:`\Theta(x, x')` (Jacot et al. 2018, "Neural tangent kernel"; Lee et
al. 2019, "Wide neural networks of any depth evolve as linear models under gradient
descent"). Both follow layer by layer from the network's own description, as in
neural-tangents' ``stax`` (Novak et al. 2020): :func:`mlp_kernels` reads
``(layer_sizes, init, activation, sigma_b2)`` exactly as :func:`initlab.init_network` and
:func:`initlab.analysis.theory.predict` do (:math:`\sigma_{w,l}^2 = n_{l-1}\operatorname{Var}
(W_l)` from the initializer's moments), and :func:`resmlp_kernels` reads an
:class:`initlab.nn.residual.ResMLP`'s structure.

Conventions (initlab's layout, neural-tangents' normalization). Inputs are columns of
``X`` ``(n_0, m)``; kernels are ``(m1, m2)`` matrices, ``K[i, j] = K(x_i, x'_j)``. The input
kernel is :math:`x \cdot x' / n_0`. A dense layer of fan-in :math:`n` with weights of
variance :math:`\sigma_w^2/n` and biases of variance :math:`\sigma_b^2`, and an activation
:math:`\phi`, map

.. math::

    K' = \sigma_w^2 K + \sigma_b^2, \qquad
    \Theta' = \lambda_W\, n\, K + \lambda_b + \sigma_w^2\, \Theta
    \quad\text{(dense)};\qquad
    K' = E[\phi(u)\phi(u')], \quad \Theta' = E[\phi'(u)\phi'(u')] \odot \Theta
    \quad\text{(activation)},

with :math:`(u, u') \sim N(0, [[K(x,x), K(x,x')], [K(x,x'), K(x',x')]])`. :math:`\Theta` is
the kernel of gradient descent whose step on a weight :math:`W_l` is :math:`\lambda_W` times
the step on the loss's gradient (:math:`\Theta = \sum_p \lambda_p \nabla_p f \nabla_p f^T`):

- ``"ntk"`` (Jacot et al.; neural-tangents' ``parameterization="ntk"``):
  :math:`W = (\sigma_w/\sqrt n)\,\omega` and :math:`b = \sigma_b \beta` with
  :math:`\omega, \beta` trained, i.e. :math:`\lambda_W = \sigma_w^2/n`,
  :math:`\lambda_b = \sigma_b^2`; then :math:`\Theta' = K' + \sigma_w^2 \Theta` and the limit
  does not depend on the widths.
- ``"sp"`` (neural-tangents' ``"standard"`` with ``s = (1, 1)``): every parameter trained
  as drawn, :math:`\lambda = 1`. Its :math:`\Theta` grows with the hidden widths, which are
  read from ``layer_sizes`` (Sohl-Dickstein et al. 2020).

muP has no kernel limit (its features move at every width; Yang & Hu 2021) and is refused.
The dual activations :math:`E[\phi\phi]`, :math:`E[\phi'\phi']` are closed forms for relu
(Cho & Saul 2009), leaky relu, linear units and erf (Williams 1997), and otherwise (tanh,
sigmoid) a batched two-dimensional quadrature (:func:`initlab.analysis.dual.dual`), whose
error is stated there.
Every array is float64; the layer steps are in :mod:`initlab.analysis.kernel_steps`,
which evaluates the activations in row blocks of at most
:data:`~initlab.analysis.kernel_steps.BLOCK` kernel entries, so memory stays a few times
that of the kernel matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.analysis.dual import CLOSED_FORMS, NODES, dual
from initlab.analysis.kernel_steps import Act, Dense, Residual, State, run, symmetric
from initlab.analysis.theory import InitLike, sigma_w2
from initlab.init import catalogue as _initializers
from initlab.init import parametrization as _table
from initlab.nn import activations as _activations
from initlab.nn.network import check_layer_sizes
from initlab.nn.residual import ResMLP

__all__ = [
    "CLOSED_FORMS",
    "NODES",
    "Kernels",
    "dual",
    "layer_rates",
    "mlp_kernels",
    "resmlp_kernels",
]

Array = np.ndarray
PARAMETRIZATIONS = ("ntk", "sp")
# --- architectures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    r"""The NNGP kernel and NTK of one architecture between two sets of inputs.

    Attributes
    ----------
    nngp, ntk : ndarray (m1, m2)
        :math:`K(x_i, x'_j)` and :math:`\Theta(x_i, x'_j)` of the logits (every output unit
        has these; different units are independent, and the NTK is zero between them).
    layers : tuple of (ndarray, ndarray)
        With ``by_layer=True``, :math:`(K_l, \Theta_l)` of the pre-activations after every
        dense layer in order (the last is the output); else empty.
    """

    nngp: Array
    ntk: Array
    layers: tuple[tuple[Array, Array], ...] = ()


def _check_parametrization(parametrization: str) -> str:
    if parametrization == "mup":
        raise InitlabError(
            "parametrization 'mup' has no infinite-width kernel (its features move at every "
            "width); use 'ntk' or 'sp'"
        )
    if parametrization not in PARAMETRIZATIONS:
        raise unknown_name("parametrization", parametrization, PARAMETRIZATIONS)
    return parametrization


def _dense(w2: float, b2: float, fan_in: int, parametrization: str) -> Dense:
    if parametrization == "ntk":
        return Dense(w2, b2, fan_in, w2 / fan_in, b2)
    return Dense(w2, b2, fan_in, 1.0, 1.0)


def _inputs(X1: Any, X2: Any, n0: int) -> tuple[State, bool]:
    X1 = np.asarray(X1, dtype=np.float64)
    same = X2 is None
    X2 = X1 if same else np.asarray(X2, dtype=np.float64)
    for name, X in (("X1", X1), ("X2", X2)):
        if X.ndim != 2 or X.shape[0] != n0 or not np.all(np.isfinite(X)):
            raise InitlabError(
                f"{name} has shape {X.shape}; expected finite (n_0={n0}, n_examples), one "
                "column per example"
            )
    K = X1.T @ X2 / n0
    k1 = np.einsum("ij,ij->j", X1, X1) / n0
    k2 = k1 if same else np.einsum("ij,ij->j", X2, X2) / n0
    return State(k1, k2, K, np.zeros_like(K), same), same


def layer_rates(
    layer_sizes: Sequence[int],
    init: InitLike,
    sigma_b2: float = 0.0,
    parametrization: str = "ntk",
    base_width: int | None = None,
) -> tuple[Array, Array, Array]:
    r""":math:`\sigma_{w,l}^2` and the kernel's step factors :math:`\lambda_{W,l}`,
    :math:`\lambda_{b,l}` of each layer (module docstring), shapes ``(L,)``.

    The same numbers serve the analytic NTK (:func:`mlp_kernels`), the empirical one
    (:func:`initlab.analysis.empirical_ntk.empirical_ntk`) and the training that tracks it:
    gradient descent at rate :math:`\eta` with ``layer_lr_scale`` :math:`= \lambda_W` and
    ``bias_lr_scale`` :math:`= \lambda_b` is gradient descent on :math:`(\omega, \beta)`.

    With `base_width` :math:`n_0`, the factors are instead initlab's own table
    (:func:`initlab.init.parametrization.layer_scales`: the SGD learning-rate factors
    ``lr`` and ``bias_lr`` of `parametrization` at width :math:`n`, relative to SP), the rates
    an ``init_model``/``layer_scales`` network trains with. Its ``"ntk"`` has Jacot's width
    exponents with other constants (:math:`\lambda_W = n_0/n` for hidden and readout
    weights, 1 for the input layer and the biases), so its kernel has a limit too, though
    not neural-tangents' one; its ``"sp"`` is :math:`\lambda = 1`, as without `base_width`.
    """
    sizes = check_layer_sizes(layer_sizes)
    p = _check_parametrization(parametrization)
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    initializer = _initializers.get(init)
    w2 = np.array([sigma_w2(initializer, (n, n_prev)) for n_prev, n in pairwise(sizes)])
    if base_width is not None:
        sc = _table.layer_scales(p, sizes, base_width)
        return w2, np.array(sc.lr), np.array(sc.bias_lr)
    if p == "ntk":
        return w2, w2 / np.array(sizes[:-1], dtype=float), np.full(w2.size, b2)
    return w2, np.ones(w2.size), np.ones(w2.size)


def mlp_kernels(
    X1: Array,
    X2: Array | None = None,
    *,
    layer_sizes: Sequence[int],
    init: InitLike,
    activation: str | _activations.Activation,
    sigma_b2: float = 0.0,
    parametrization: str = "ntk",
    base_width: int | None = None,
    nodes: int = NODES,
    by_layer: bool = False,
) -> Kernels:
    r"""NNGP kernel and NTK of the MLP ``init_network(layer_sizes, init, activation=...)``.

    :math:`Z_1 = W_1 X + b_1`, :math:`Z_l = W_l \phi(Z_{l-1}) + b_l`, biases
    :math:`N(0, \sigma_b^2)`, each :math:`\sigma_{w,l}^2` read from `init` for that layer's
    shape (:func:`layer_rates`); the recursion and the parametrizations are in the module
    docstring. A network with :math:`\sigma_w^2 = W_{std}^2` everywhere (``init =
    {"name": "variance_scaling", "scale": W_std**2, "mode": "fan_in", "distribution":
    "normal"}``) and :math:`\sigma_b = b_{std}` is neural-tangents'
    ``stax.serial(Dense(n, W_std, b_std), Relu(), ..., Dense(1, W_std, b_std))``.

    Parameters
    ----------
    X1, X2 : ndarray (n_0, m1), (n_0, m2)
        Inputs, one column per example; `X2` defaults to `X1` (then ``K`` is symmetric).
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``; the hidden widths matter only for ``"sp"`` and for
        fan-averaged inits.
    init, activation, sigma_b2
        As for :func:`initlab.init_network` (the init must draw zero-mean weights).
    parametrization : {"ntk", "sp"}
    base_width : int, optional
        Read the step factors from initlab's parametrization table at this base width
        (:func:`layer_rates`) instead of neural-tangents' conventions.
    nodes : int
        Quadrature nodes for activations without a closed form (:func:`dual`).
    by_layer : bool
        Also return every layer's kernels (:attr:`Kernels.layers`).
    """
    sizes = check_layer_sizes(layer_sizes)
    act = _activations.get(activation)
    w2, lam_w, lam_b = layer_rates(sizes, init, sigma_b2, parametrization, base_width)
    b2 = float(sigma_b2)
    steps: list = []
    for l in range(len(w2)):
        if l > 0:
            steps.append(Act(act))
        steps.append(Dense(float(w2[l]), b2, sizes[l], float(lam_w[l]), float(lam_b[l])))
    st, same = _inputs(X1, X2, sizes[0])
    record: list = []
    st = run(steps, st, nodes, record if by_layer else None)
    return _finish(st, same, record)


def _finish(st: State, same: bool, record: list) -> Kernels:
    K, T = st.K, st.T
    if same:  # exact symmetry (the quadrature's rounding is not symmetric in its arguments)
        K, T = symmetric(K), symmetric(T)
    return Kernels(K, T, tuple(record))


def resmlp_kernels(
    X1: Array,
    X2: Array | None = None,
    *,
    model: ResMLP,
    init: InitLike,
    zero_branch: bool = False,
    parametrization: str = "ntk",
    nodes: int = NODES,
) -> Kernels:
    r"""NNGP kernel and NTK of a residual MLP as :func:`initlab.init.parametrization.
    init_model` draws it (``parametrization="sp"`` there), at infinite width.

    The structure (depth :math:`L`, branch layers :math:`J`, skip :math:`s`, multipliers
    :math:`\alpha_l` of ``"constant"`` or ``"depth"`` scaling, activation) is read from
    `model`; its parameters' values are not used. Each weight's :math:`\sigma^2` comes from
    `init` for its shape, biases are zero (as ``init_model`` draws them), and
    `zero_branch` zeroes each branch's last weights (SkipInit). Recursion
    (:class:`initlab.nn.residual.ResMLP`'s equations):
    :math:`K_{x_l} = s^2 K_{x_{l-1}} + \alpha_l^2 K_{f_l}` and likewise for :math:`\Theta`
    (the cross terms vanish: the branch's last weights are zero-mean and independent of
    :math:`x_{l-1}`), the branch and the readout :math:`Z = W_{out}\phi(x_L) + b_{out}`
    being dense and activation steps. Learnable multipliers are refused: the gradient of
    :math:`\alpha_l` is a sum over the width of terms of random sign, which does not
    concentrate, so that NTK has no deterministic limit.
    """
    if not isinstance(model, ResMLP):
        raise InitlabError(f"model must be an initlab.nn.residual.ResMLP; got {type(model)}")
    if model.learnable:
        raise InitlabError(
            "learnable branch multipliers have no deterministic NTK limit; use "
            "branch_scaling 'constant' or 'depth'"
        )
    p = _check_parametrization(parametrization)
    d, n = model.params[0].shape[2], model.params[0].shape[1]
    d_out = model.params[-2].shape[1]
    initializer = _initializers.get(init)

    def dense(shape: tuple[int, int], zero: bool = False) -> Dense:
        w2 = 0.0 if zero else sigma_w2(initializer, shape)
        return _dense(w2, 0.0, shape[1], p)

    act = Act(model.activation)
    J = model.branch_layers
    alpha = float(model.alphas()[0, 0]) if model.depth else 0.0
    steps: list = [dense((n, d))]
    for _ in range(model.depth):
        branch = []
        for j in range(J):
            branch += [act, dense((n, n), zero_branch and j == J - 1)]
        steps.append(Residual(1.0 if model.skip else 0.0, alpha, tuple(branch)))
    steps += [act, dense((d_out, n))]
    st, same = _inputs(X1, X2, d)
    return _finish(run(steps, st, nodes), same, [])
