r"""Fully connected networks with a population axis, written once for K members.

Array layout (as in the post, and everywhere in initlab):

- ``X`` is ``(n_0, m)``: one column per example, ``n_0`` features;
- ``Y`` is ``(n_L, m)``: targets, one column per example (labels in {0, 1} for the post's
  single sigmoid output; see :mod:`initlab.nn.losses` for each head);
- ``W_l`` is ``(K, n_l, n_{l-1})`` and ``b_l`` is ``(K, n_l, 1)``, where ``K`` is the
  population size (one model is ``K = 1``);
- ``Z_l = W_l A_{l-1} + b_l`` and ``A_l = \phi(Z_l)`` are ``(K, n_l, m)``, with
  ``A_0 = X`` shared by all members.

Hidden layers use one activation :math:`\phi`; the output layer has any width ``n_L`` and a
head (sigmoid, softmax or linear) that gives the cost from the logits :math:`Z_L` and the
top gradient :math:`dZ_L = \partial \ell / \partial Z_L`. Back-propagation from that seed
(micrograd's habit: the caller seeds the top gradient):

.. math::

    dW_l = \tfrac{1}{m} dZ_l A_{l-1}^T, \quad
    db_l = \tfrac{1}{m} \textstyle\sum_i dZ_l, \quad
    dZ_{l-1} = (W_l^T dZ_l) \odot \phi'(Z_{l-1}),

every gradient divided by the batch size m once, stopping at layer 1: the gradient with
respect to ``X`` is never formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.nn import activations as _activations
from initlab.nn.losses import Head, get_head

Array = np.ndarray


def first_layer(W1: Array, X: Array, out: Array | None = None) -> Array:
    """``W_1 X`` for a population, ``(K, n_1, n_0) @ (n_0, m)`` (into `out` if given).

    One 2-D GEMM per member, with the shapes a lone member would have, so a member's
    numbers do not depend on the population it is trained in (bit for bit). (With a long
    inner dimension this is also faster than one GEMM on the stacked rows.)
    """
    shape = (W1.shape[0], W1.shape[1], X.shape[1])
    Z = np.empty(shape, dtype=np.result_type(W1, X)) if out is None else out
    for k in range(W1.shape[0]):
        np.dot(W1[k], X, out=Z[k])  # np.dot: BLAS for any operand layout
    return Z


def forward_rest(
    Z1: Array, weights: Sequence[Array], biases: Sequence[Array], act: _activations.Activation
) -> tuple[list[Array], list[Array]]:
    """Forward pass from the first pre-activation ``Z1`` (bias included) to the logits.

    Returns
    -------
    Zs : list of ndarray
        ``Z_1 .. Z_L``; ``Zs[-1]`` are the logits, shape ``(K, 1, m)``.
    As : list of ndarray
        Hidden activations ``A_1 .. A_{L-1}``.
    """
    Zs, As = [Z1], []
    for W, b in zip(weights[1:], biases[1:], strict=True):
        A = act.f(Zs[-1])
        As.append(A)
        Z = np.matmul(W, A)
        if np.result_type(Z, b) == Z.dtype:  # in place: W A + b's bits, one array fewer
            Z += b
        else:
            Z = Z + b
        Zs.append(Z)
    return Zs, As


def logits(
    Z1: Array, weights: Sequence[Array], biases: Sequence[Array], act: _activations.Activation
) -> Array:
    """:func:`forward_rest`'s logits ``Z_L`` alone, its arithmetic in two arrays reused layer
    after layer (tanh in place): the same bits without a fresh ``(K, n_l, m)`` pair per
    layer (an evaluation on many columns otherwise spends much of its time faulting the
    pages of new arrays in)."""
    Z = Z1
    spare: dict[tuple[int, ...], Array] = {}
    for W, b in zip(weights[1:], biases[1:], strict=True):
        A = np.tanh(Z, out=Z) if act.f is np.tanh and Z is not Z1 else act.f(Z)
        shape = (A.shape[0], W.shape[-2], A.shape[-1])
        out = spare.pop(shape, None)
        if out is None or out.dtype != np.result_type(W, A):
            out = None
        Z_next = np.matmul(W, A, out=out)
        if np.result_type(Z_next, b) == Z_next.dtype:
            Z_next += b
        else:
            Z_next = Z_next + b
        if A is not Z1:
            spare[A.shape] = A
        Z = Z_next
    return Z


def backward(
    dZL: Array,
    weights: Sequence[Array],
    Zs: Sequence[Array],
    As: Sequence[Array],
    act: _activations.Activation,
    alive: Array | None = None,
    dZs: list[Array] | None = None,
    X: Array | None = None,
) -> tuple[Array, list[Array | None], list[Array]]:
    r"""Back-propagate a top gradient `dZL` down to ``dZ_1``.

    Parameters
    ----------
    dZL : ndarray (K, n_L, m)
        :math:`\partial \ell_i / \partial Z_L` per example, not divided by m (a head's
        ``dZ``; any array for a custom top signal). Not modified.
    alive : bool ndarray (K,), optional
        Members whose gradient is wanted; the others get exactly zero gradients.
    dZs : list, optional
        If given, receives ``dZ_1 .. dZ_L`` (in layer order) for diagnostics.
    X : ndarray (n_0, m), optional
        The input; if given, ``dWs[0]`` is computed too.

    Returns
    -------
    dZ1 : ndarray (K, n_1, m)
        Gradient with respect to ``Z_1`` (not divided by m).
    dWs : list
        ``dW_l`` for every layer, each divided by m; ``dWs[0]`` only if `X` is given (else
        None: the training loop leaves the first layer to its engine, which keeps
        :math:`dW_1 = dZ_1 X^T / m` in its own coordinates).
    dbs : list
        ``db_l`` for every layer, divided by m.
    """
    m = dZL.shape[-1]
    dZ = dZL
    if alive is not None and not alive.all():
        dZ = np.where(alive[:, None, None], dZL, 0.0)
    L = len(weights)
    dWs: list[Array | None] = [None] * L
    dbs: list[Array] = [np.empty(0)] * L
    kept = [dZ]
    for l in range(L - 1, 0, -1):
        A_prev = As[l - 1]
        dWs[l] = np.matmul(dZ, A_prev.swapaxes(-1, -2)) / m
        dbs[l] = dZ.sum(axis=-1, keepdims=True) / m
        Wt = weights[l].swapaxes(-1, -2)
        # a layer of one unit (the output): W^T dZ is an outer product, exact as a broadcast
        dA = Wt * dZ if Wt.shape[-1] == 1 else np.matmul(Wt, dZ)
        dZ = dA * act.df(Zs[l - 1], A_prev)
        if alive is not None and not alive.all():
            dZ[~alive] = 0.0  # 0 * inf from a dead member's forward pass
        kept.append(dZ)
    if dZs is not None:
        dZs.extend(reversed(kept))
    dbs[0] = dZ.sum(axis=-1, keepdims=True) / m
    if X is not None:
        dWs[0] = first_layer(dZ, np.asarray(X).T) / m
    return dZ, dWs, dbs


@dataclass
class Network:
    r"""A population of K fully connected networks of one architecture.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_{L-1}, n_L]``: input features, hidden widths, output units.
    activation : str or Activation
        Hidden activation (``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"leaky_relu"``, ``"linear"``).
    weights, biases : list of ndarray
        ``W_l`` of shape ``(K, n_l, n_{l-1})`` and ``b_l`` of shape ``(K, n_l, 1)``.
    head : str or Head
        Output head and loss (:mod:`initlab.nn.losses`): ``"sigmoid"`` (the post's binary
        cross-entropy), ``"softmax"`` or ``"linear"``.
    """

    layer_sizes: tuple[int, ...]
    activation: _activations.Activation
    weights: list[Array] = field(repr=False)
    biases: list[Array] = field(repr=False)
    head: Head = field(default="sigmoid")  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.layer_sizes = check_layer_sizes(self.layer_sizes)
        self.activation = _activations.get(self.activation)
        self.head = get_head(self.head)
        self.head.check_outputs(self.layer_sizes[-1])
        L = len(self.layer_sizes) - 1
        if len(self.weights) != L or len(self.biases) != L:
            raise InitlabError(f"layer_sizes {self.layer_sizes} needs {L} weights and biases")
        K = self.weights[0].shape[0]
        for l, (W, b) in enumerate(zip(self.weights, self.biases, strict=True), start=1):
            shape = (K, self.layer_sizes[l], self.layer_sizes[l - 1])
            if W.shape != shape or b.shape != (K, self.layer_sizes[l], 1):
                raise InitlabError(
                    f"layer {l}: expected W{l} of shape {shape} and b{l} of shape "
                    f"{(K, self.layer_sizes[l], 1)}; got {W.shape} and {b.shape}"
                )

    @property
    def K(self) -> int:
        """Population size."""
        return self.weights[0].shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    def _check_X(self, X: Array) -> Array:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.layer_sizes[0]:
            raise InitlabError(
                f"X has shape {X.shape}, but this network expects "
                f"(n_features={self.layer_sizes[0]}, n_examples): one column per example"
            )
        return X.astype(self.dtype, copy=False)

    def check_targets(self, Y: Array, m: int, name: str = "Y") -> Array:
        """`Y` checked against the head and the output width, in the network's dtype."""
        return self.head.check_targets(Y, self.layer_sizes[-1], m, name).astype(self.dtype)

    def forward(self, X: Array) -> tuple[list[Array], list[Array]]:
        """Pre-activations ``Z_1..Z_L`` and hidden activations ``A_1..A_{L-1}`` on `X`."""
        X = self._check_X(X)
        Z1 = first_layer(self.weights[0], X) + self.biases[0]
        return forward_rest(Z1, self.weights, self.biases, self.activation)

    def logits(self, X: Array) -> Array:
        """Output pre-activations, shape ``(K, n_L, m)``."""
        return self.forward(X)[0][-1]

    def predict_proba(self, X: Array) -> Array:
        """The head's output :math:`A_L` (sigmoid, softmax or the logits), ``(K, n_L, m)``."""
        return self.head.output(self.logits(X))

    def cost(self, X: Array, Y: Array) -> Array:
        """The head's cost per member, shape ``(K,)``."""
        X = self._check_X(X)
        return self.head.loss(self.logits(X), self.check_targets(Y, X.shape[1]))

    def accuracy(self, X: Array, Y: Array) -> Array:
        """The head's accuracy per member, shape ``(K,)`` (NaN for the linear head)."""
        X = self._check_X(X)
        return self.head.accuracy(self.logits(X), self.check_targets(Y, X.shape[1]))

    def gradients(self, X: Array, Y: Array) -> tuple[list[Array], list[Array]]:
        """Exact gradients ``(dWs, dbs)`` of the cost, every layer, by back-propagation."""
        X = self._check_X(X)
        Y = self.check_targets(Y, X.shape[1])
        Zs, As = self.forward(X)
        _, dWs, dbs = backward(self.head.dZ(Zs[-1], Y), self.weights, Zs, As, self.activation, X=X)
        return dWs, dbs  # type: ignore[return-value]

    def member(self, k: int) -> Network:
        """Member `k` as a network of its own (K = 1), sharing no memory."""
        return Network(
            self.layer_sizes,
            self.activation,
            [W[k : k + 1].copy() for W in self.weights],
            [b[k : k + 1].copy() for b in self.biases],
            self.head,
        )

    def copy(self) -> Network:
        return Network(
            self.layer_sizes,
            self.activation,
            [W.copy() for W in self.weights],
            [b.copy() for b in self.biases],
            self.head,
        )


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    """Validate ``[n_0, n_1, ..., n_L]``: at least an input and an output, all >= 1."""
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise InitlabError(f"layer_sizes needs at least an input and an output; got {sizes}")
    for i, n in enumerate(sizes):
        check_number(f"layer_sizes[{i}]", n, low=1, integer=True)
    return tuple(int(n) for n in sizes)


def from_members(
    layer_sizes: Sequence[int],
    activation: str | _activations.Activation,
    members: Sequence[tuple[Sequence[Array], Sequence[Array]]],
    head: str | Head = "sigmoid",
) -> Network:
    """A population from each member's 2-D parameters ``(Ws, bs)``, stacked once."""
    L = len(layer_sizes) - 1
    weights = [np.stack([Ws[l] for Ws, _ in members]) for l in range(L)]
    biases = [np.stack([bs[l] for _, bs in members]) for l in range(L)]
    return Network(layer_sizes, _activations.get(activation), weights, biases, head)


def gradient_check(
    network: Network,
    X: Array,
    Y: Array,
    grads: tuple[Sequence[Array], Sequence[Array]] | None = None,
    eps: float = 1e-6,
) -> float:
    r"""Relative error between back-propagated and central-difference gradients.

    .. math::

        g^{num}_i = \frac{J(\theta + \epsilon e_i) - J(\theta - \epsilon e_i)}{2\epsilon},
        \qquad
        \text{error} = \frac{\lVert g - g^{num} \rVert}{\lVert g \rVert + \lVert g^{num} \rVert}

    over every weight and bias of member 0, in float64.

    Parameters
    ----------
    network : Network
        Checked at member 0 (copied to float64; the original is not changed).
    grads : (dWs, dbs), optional
        Gradients to check; by default ``network.gradients(X, Y)``. Pass your own to test
        a gradient implementation.
    eps : float
        Finite-difference step.

    Returns
    -------
    float
        The relative error; about 1e-9 or less for a correct gradient in float64 on
        smooth activations.
    """
    net = network.member(0)
    net.weights = [W.astype(np.float64) for W in net.weights]
    net.biases = [b.astype(np.float64) for b in net.biases]
    X = np.asarray(X, dtype=np.float64)
    if grads is None:
        grads = net.gradients(X, Y)
    analytic = np.concatenate([np.ravel(g[:1]) for g in (*grads[0], *grads[1])])
    numeric = []
    for P in (*net.weights, *net.biases):
        flat = P.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = net.cost(X, Y)[0]
            flat[i] = old - eps
            minus = net.cost(X, Y)[0]
            flat[i] = old
            numeric.append((plus - minus) / (2 * eps))
    numeric_arr = np.array(numeric)
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric_arr)
    return float(np.linalg.norm(analytic - numeric_arr) / denom) if denom > 0 else 0.0
