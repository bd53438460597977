r"""Layer-sequential unit-variance (LSUV) initialization (Mishkin & Matas 2016).

A data-dependent step, so not a ``(shape, rng)`` initializer: it takes a network and a batch
``X`` of shape ``(n_0, m)``.

1. Pre-initialize every weight with an orthonormal matrix (``orthogonal``, gain 1) and every
   bias with 0.
2. For :math:`l = 1, \dots, L`, in order: measure the variance :math:`v_l` of layer
   :math:`l`'s output over the batch (over all its units and examples, for each population
   member separately) and rescale :math:`W_l \leftarrow W_l / \sqrt{v_l}`, until
   :math:`|v_l - 1| < \text{tol}` or `max_iter` rescalings.

``measure="preactivation"`` (the paper's choice: the output of the fully connected layer)
uses :math:`Z_l = W_l A_{l-1} + b_l`; ``measure="activation"`` uses
:math:`A_l = \phi(Z_l)`. With zero biases and ``"preactivation"`` one rescaling is exact,
since :math:`Z_l` is linear in :math:`W_l`; so it is for ``"activation"`` with relu, leaky
relu and linear units. A bounded activation cannot reach variance 1 (tanh's :math:`A_l` has
variance < 1), so ``"activation"`` suits only unbounded ones; the report says which layers
did not converge.

**The output layer** (one sigmoid unit) is scaled like every other layer, as in the paper,
but always on its pre-activation, the logit :math:`Z_L`: the variance of a single logit
over the batch is well defined, while its sigmoid output, bounded in (0, 1), has variance
below 1/4 and could never reach 1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError, check_number
from initlab.init import catalogue as _initializers
from initlab.init.build import init_network
from initlab.nn import activations as _activations
from initlab.nn.network import Network, first_layer

logger = logging.getLogger(__name__)

Array = np.ndarray

MEASURES = ("preactivation", "activation")
LSUV_PARAMS: dict[str, Any] = {"tol": 0.1, "max_iter": 10, "measure": "preactivation"}
"""Options of ``init = {name = "lsuv", ...}`` in a spec, with their defaults."""

_UNBOUNDED = ("relu", "leaky_relu", "linear")


@dataclass(frozen=True)
class LSUVReport:
    """What LSUV did, per layer ``l`` (row ``l - 1``) and population member ``k`` (column).

    Attributes
    ----------
    iterations : int ndarray (L, K)
        Rescalings applied to ``W_l`` of member k (0 if it was already within tol).
    variances : float ndarray (L, K)
        The measured variance of layer l's output after its last rescaling.
    converged : bool ndarray (L, K)
        ``|variances - 1| < tol``.
    tol, max_iter, measure
        The options used.
    """

    iterations: Array
    variances: Array
    converged: Array
    tol: float
    max_iter: int
    measure: str

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, for a results record."""
        return {
            "iterations": self.iterations.tolist(),
            "variances": self.variances.tolist(),
            "converged": self.converged.tolist(),
            "tol": self.tol,
            "max_iter": self.max_iter,
            "measure": self.measure,
        }


def _check_options(tol: float, max_iter: int, measure: str) -> tuple[float, int, str]:
    tol = check_number("tol", tol, low=0, low_open=True)
    max_iter = check_number("max_iter", max_iter, low=1, integer=True)
    if not isinstance(measure, str) or measure not in MEASURES:
        raise InitlabError(f"measure must be one of {', '.join(MEASURES)}; got {measure!r}")
    return tol, max_iter, measure


def _variance(Y: Array, layer: int) -> Array:
    """Variance per member of ``Y`` (K, n, m) over units and examples, refusing 0."""
    v = Y.astype(np.float64).var(axis=(1, 2))
    dead = np.flatnonzero(~(v > 0))
    if dead.size:
        raise InitlabError(
            f"LSUV: the output of layer {layer} has variance {v[dead[0]]} on the batch "
            f"(member {dead[0]}), so it cannot be rescaled to 1; use a batch whose examples "
            "differ, or measure='preactivation' for units that are all off"
        )
    return v


def lsuv(
    net: Network,
    X: Array,
    *,
    tol: float = LSUV_PARAMS["tol"],
    max_iter: int = LSUV_PARAMS["max_iter"],
    measure: str = LSUV_PARAMS["measure"],
    orthonormal: RNG | int | None = None,
) -> tuple[Network, LSUVReport]:
    r"""Rescale `net`'s weights layer by layer to unit output variance on the batch `X`.

    Parameters
    ----------
    net : Network
        Population of K networks; it is not modified.
    X : ndarray (n_0, m)
        The batch, one column per example, ``m >= 2``.
    tol : float
        Stop when :math:`|v_l - 1| <` tol.
    max_iter : int
        At most this many rescalings per layer.
    measure : {"preactivation", "activation"}
        Whose variance hidden layers bring to 1: :math:`Z_l` or :math:`A_l = \phi(Z_l)`
        (the output layer always uses its logit; see the module docstring).
    orthonormal : int or Generator or RandomState, optional
        If given, first replace every weight by an orthonormal matrix drawn from this seed
        or generator (members in order, then layers) and every bias by 0: the paper's
        pre-initialization. If None, rescale `net`'s own weights (LSUV on top of another
        initializer); :func:`lsuv_network` is the usual entry point.

    Returns
    -------
    Network
        A new network.
    LSUVReport

    Raises
    ------
    InitlabError
        For a batch of fewer than 2 examples, a layer whose output has variance 0 (naming
        the layer), or invalid options.
    """
    tol, max_iter, measure = _check_options(tol, max_iter, measure)
    X = net._check_X(X)
    if X.shape[1] < 2:
        raise InitlabError(f"LSUV needs a batch of at least 2 examples; got {X.shape[1]}")
    if measure == "activation" and net.activation.name not in _UNBOUNDED:
        logger.warning("LSUV: %s outputs cannot reach variance 1", net.activation.name)
    net = net.copy() if orthonormal is None else _orthonormal(net, orthonormal)
    L = len(net.weights)
    iterations = np.zeros((L, net.K), dtype=int)
    variances = np.zeros((L, net.K))
    A = X
    for l in range(L):
        on_activation = measure == "activation" and l < L - 1
        A = _rescale_layer(net, l, A, on_activation, tol, max_iter, iterations[l], variances[l])
    converged = np.abs(variances - 1.0) < tol
    logger.info("LSUV: iterations per layer %s", iterations.max(axis=1).tolist())
    return net, LSUVReport(iterations, variances, converged, tol, max_iter, measure)


def _rescale_layer(
    net: Network,
    l: int,
    A_prev: Array,
    on_activation: bool,
    tol: float,
    max_iter: int,
    iterations: Array,
    variances: Array,
) -> Array:
    r"""Rescale layer `l`'s weights in place until its output variance is 1 (or `max_iter`).

    Fills ``iterations`` and ``variances`` (one entry per member) and returns
    :math:`A_l = \phi(Z_l)`, the next layer's input.
    """
    W, b = net.weights[l], net.biases[l]
    while True:
        Z = (first_layer(W, A_prev) if l == 0 else np.matmul(W, A_prev)) + b
        v = variances[:] = _variance(net.activation.f(Z) if on_activation else Z, l + 1)
        todo = (np.abs(v - 1.0) >= tol) & (iterations < max_iter)
        if not todo.any():
            return net.activation.f(Z)
        W[todo] /= np.sqrt(v[todo]).astype(W.dtype)[:, None, None]
        iterations[todo] += 1


def _orthonormal(net: Network, seed: RNG | int) -> Network:
    """`net`'s architecture with orthonormal weights (members, then layers, from one rng)."""
    rng, ortho = make_rng(seed), _initializers.get("orthogonal")
    weights = [np.empty_like(W) for W in net.weights]
    for k in range(net.K):
        for W in weights:
            W[k] = ortho(W.shape[1:], rng, W.dtype)
    return Network(net.layer_sizes, net.activation, weights, [np.zeros_like(b) for b in net.biases])


def lsuv_network(
    layer_sizes: Sequence[int],
    X: Array,
    *,
    activation: str | _activations.Activation = "tanh",
    seed: int | RNG = 0,
    stream: str = "default",
    tol: float = LSUV_PARAMS["tol"],
    max_iter: int = LSUV_PARAMS["max_iter"],
    measure: str = LSUV_PARAMS["measure"],
    dtype: Any = np.float64,
) -> tuple[Network, LSUVReport]:
    """One network (K = 1) initialized by LSUV on the batch `X`: what a spec's
    ``init = {name = "lsuv", tol = ..., max_iter = ..., measure = ...}`` calls.

    The orthonormal pre-initialization is ``init_network(layer_sizes, "orthogonal",
    seed=seed, stream=stream)``: layers drawn in order from one generator, as for every
    other initializer; then :func:`lsuv` rescales it on `X`.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((20, 64))
    >>> net, report = lsuv_network([20, 16, 16, 1], X, activation="relu", seed=1)
    >>> report.all_converged
    True
    """
    net = init_network(
        layer_sizes, "orthogonal", activation=activation, seed=seed, stream=stream, dtype=dtype
    )
    return lsuv(net, X, tol=tol, max_iter=max_iter, measure=measure)
