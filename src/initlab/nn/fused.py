r"""The training loop's plain step with preallocated buffers: the same arithmetic, fewer calls.

A step of the post's training on the sample engine (K = 4, :math:`n_1 = 5`, m = 100) is
several dozen NumPy calls on arrays of a few thousand numbers, so its time is the calls'
overhead and their temporaries, not arithmetic. :class:`PlainStep` does the step of
:func:`initlab.nn.training.train` for full-batch plain gradient descent
(:math:`\theta \leftarrow \theta - \eta\, g` for every member and every layer) with every
intermediate array allocated once and each operation written into it (``out=``). Every
operation is the one the general step does, on the same operands in the same order, so every
bit is the same; the only rewritings are exact in IEEE arithmetic:

- :math:`Z_1 = (a \odot Z_1(0) + C G) + b_1` is formed as :math:`(C G + Z_1(0)) + b_1`:
  the sample engine's :math:`a` is 1 when no optimizer moves it (:math:`1 \cdot x = x`),
  and a sum of two numbers does not depend on their order;
- :math:`\theta - \eta\,(dZ A^T / m)` keeps its three roundings (quotient, product,
  difference), each in place.

The loss and its gradient are the head's own functions. Divergence, evaluation, hooks and
everything else stay in :mod:`initlab.nn.training`, which takes this path only for steps
that record nothing and keeps the general step for every other case (mini-batches, momentum,
weight decay, Adam, per-layer rate scales on the first layer's coordinates). A test holds
this path to the general one bit for bit (``tests/test_fast_paths.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from initlab.nn.activations import Activation
from initlab.nn.engines import SampleEngine
from initlab.nn.losses import Head

Array = np.ndarray


class PlainStep:
    """Forward (with the cost) and backward-plus-update of one full-batch plain GD step.

    Parameters
    ----------
    eng : DirectEngine or SampleEngine
        The first layer; the sample engine's :math:`a` must never be given to an optimizer.
    weights, biases : list of ndarray
        The training copies of every layer's parameters, updated in place.
    act, head : Activation, Head
    Y : ndarray (n_L, m)
    lrs : list of ndarray (K, 1, 1)
        The rates of ``[b_1, W_2, b_2, ..., W_L, b_L]``, in the network's dtype.
    step1 : ndarray (K,)
        The first layer's :math:`\\eta_k / m` in the network's dtype.
    """

    def __init__(
        self,
        eng,
        weights: list[Array],
        biases: list[Array],
        act: Activation,
        head: Head,
        Y: Array,
        lrs: Sequence[Array],
        step1: Array,
    ) -> None:
        self.eng, self.weights, self.biases, self.act, self.head, self.Y = (
            eng, weights, biases, act, head, Y,
        )  # fmt: skip
        self.lrs, self.step1 = list(lrs), step1[:, None, None]
        self.m = Y.shape[-1]
        K, dtype = biases[0].shape[0], biases[0].dtype
        new = lambda n: np.empty((K, n, self.m), dtype=dtype)  # noqa: E731
        sizes = [b.shape[1] for b in biases]
        self.Zs = [new(n) for n in sizes]
        self.As = [new(n) for n in sizes[:-1]]
        self.dZs = [new(n) for n in sizes]  # dZ_l's buffer; dZ_L is the head's own array
        self.tmp = [new(n) for n in sizes]  # phi'(Z_l) and the first layer's step
        self.dW = [np.empty_like(W) for W in weights]
        self.db = [np.empty_like(b) for b in biases]
        self.sample = isinstance(eng, SampleEngine)

    def forward(self) -> tuple[list[Array], list[Array], Array]:
        """``(Zs, As, J)``: every pre-activation and activation (buffers reused by the next
        step) and the cost per member."""
        Zs, As, f = self.Zs, self.As, self.act.f
        if self.sample:
            eng = self.eng
            np.matmul(eng.C, eng.G, out=Zs[0])
            Zs[0] += eng.Z0
            Zs[0] += self.biases[0]
        else:
            Zs[0][...] = self.eng.preactivation(self.biases[0])
        for l in range(1, len(Zs)):
            A = As[l - 1]
            if f is np.tanh:
                np.tanh(Zs[l - 1], out=A)
            else:
                A[...] = f(Zs[l - 1])
            np.matmul(self.weights[l], A, out=Zs[l])
            Zs[l] += self.biases[l]
        return Zs, As, self.head.loss(Zs[-1], self.Y)

    def backward_update(self, alive: Array | None) -> None:
        """Back-propagate from this step's logits and update every parameter in place
        (:func:`initlab.nn.network.backward` and the plain update; `alive`, when some member
        is frozen, zeroes the others' gradients as it does)."""
        Zs, As, m, W = self.Zs, self.As, self.m, self.weights
        dZ = self.head.dZ(Zs[-1], self.Y)
        if alive is not None:
            dZ[~alive] = 0.0
        for l in range(len(W) - 1, 0, -1):
            np.matmul(dZ, As[l - 1].swapaxes(-1, -2), out=self.dW[l])
            self.dW[l] /= m
            np.add.reduce(dZ, axis=-1, keepdims=True, out=self.db[l])  # np.sum
            self.db[l] /= m
            dA = self.dZs[l - 1]
            if W[l].shape[1] == 1:  # as backward: an outer product, exact as a broadcast
                np.multiply(W[l].swapaxes(-1, -2), dZ, out=dA)
            else:
                np.matmul(W[l].swapaxes(-1, -2), dZ, out=dA)
            self._times_df(dA, l - 1)
            if alive is not None:
                dA[~alive] = 0.0
            dZ = dA
        np.add.reduce(dZ, axis=-1, keepdims=True, out=self.db[0])
        self.db[0] /= m
        self._update(dZ)

    def _times_df(self, dA: Array, l: int) -> None:
        """``dA *= phi'(Z_l)``; for tanh, :math:`1 - A \\odot A` in two in-place calls."""
        A = self.As[l]
        if self.act.name == "tanh" and self.act.f is np.tanh:
            d = np.multiply(A, A, out=self.tmp[l])
            np.subtract(1.0, d, out=d)
        else:
            d = self.act.df(self.Zs[l], A)
        dA *= d

    def _update(self, dZ1: Array) -> None:
        """``theta -= lr * g`` for ``[b_1, W_2, b_2, ...]`` in that order, then the first
        layer's ``engine.descend``."""
        grads = [self.db[0]]
        for l in range(1, len(self.weights)):
            grads += [self.dW[l], self.db[l]]
        params = [self.biases[0]]
        for l in range(1, len(self.weights)):
            params += [self.weights[l], self.biases[l]]
        for p, g, lr in zip(params, grads, self.lrs, strict=True):
            g *= lr
            p -= g
        if self.sample:
            step = np.multiply(dZ1, self.step1, out=self.tmp[0])
            self.eng.C -= step
        else:
            self.eng.descend(dZ1, self.step1[:, 0, 0])


def divergence_limit(J0: Array, bound: float | None) -> Array:
    """Per member, L such that a cost J at a step i > 0 is surely no divergence when
    ``|J| <= L``: ``bound * J_0`` when ``J_0 > 0``, capped at the largest finite float so
    that an infinite J exceeds it (a NaN fails every comparison); without a bound, that
    largest float. A J that fails the comparison goes to the full test."""
    big = np.finfo(np.float64).max
    if bound is None:
        return np.full(J0.shape, big)
    with np.errstate(all="ignore"):
        return np.where(J0 > 0, np.minimum(bound * J0, big), big)
