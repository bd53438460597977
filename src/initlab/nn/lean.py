r"""An opt-in plain SGD step with fewer passes over memory: the same training, other roundings.

:class:`~initlab.nn.fused.PlainStep` keeps every bit of the general step, so it keeps its
order of operations: every layer's :math:`Z_l`, :math:`A_l`, :math:`dZ_l`,
:math:`\phi'` and gradient in arrays of their own, the gradient divided by m, multiplied by
:math:`\eta` and subtracted in three passes. :class:`LeanStep` computes the same
mathematical step (``train(..., arithmetic="fast")``; a trainability map's default, stored
with it) as

.. math::

    \delta_L = \tfrac{\eta_k}{|B|}\, dZ_L, \qquad
    W_l \leftarrow W_l - \delta_l A_{l-1}^T, \qquad
    b_l \leftarrow b_l - \textstyle\sum_i \delta_{l,:,i}, \qquad
    \delta_{l-1} = (W_l^T \delta_l) \odot \phi'(Z_{l-1}),

the rate folded into the top gradient once (back-propagation is linear in it), so every
gradient is already the step: one pass per parameter instead of three. And with less memory
in flight: tanh's :math:`A_l` overwrites :math:`Z_l`; the :math:`\delta_l`, the
:math:`\phi'` and the weight steps live in a few scratch arrays reused layer after layer (in
cache), each layer updated as soon as its :math:`W_l^T \delta_l` is formed (with the
weights before the update, as the general step). The first layer is the direct engine's
:math:`W_1`, one batched product. (:math:`\delta_l A_{l-1}^T` is OpenBLAS's kernel for a
transposed right operand, about 1.5 times slower than a plain product on these small
matrices; a contiguous copy of :math:`A_{l-1}^T` first saves nothing in the whole step,
measured in ``BENCHMARKS.md``.)

Which bits change: the rate's rounding moves (:math:`\eta (g / m)` becomes
:math:`(\eta / m)\, g` at the top), so numbers differ from the exact step by roundings
(relative :math:`10^{-16}` per step in float64, which a chaotic run amplifies like any
rounding; ``tests/test_lean_step.py`` holds the two to each other). What does not change: every
product is per member and every other operation elementwise or per row, so a member's bits
never depend on its population, and BLAS runs on one thread in the loop (any thread count
gives the same bits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from initlab.nn.engines import DirectEngine
from initlab.nn.fused import Flat, PlainStep

Array = np.ndarray
ARITHMETICS = ("exact", "fast")


class LeanStep(PlainStep):
    """:class:`~initlab.nn.fused.PlainStep`'s interface, :mod:`initlab.nn.lean`'s arithmetic.

    Takes the direct engine only, and rates that are one :math:`\\eta_k` per member for
    every parameter (:meth:`applies`).
    """

    @staticmethod
    def applies(eng, lrs: Sequence[Array], step1: Array) -> bool:
        """Whether the step can take this run: the direct engine, and every parameter's
        rate equal to the first layer's (per member)."""
        if not isinstance(eng, DirectEngine):
            return False
        eta = step1.astype(lrs[0].dtype)
        return all(np.array_equal(lr[:, 0, 0], eta) for lr in lrs)

    def _buffers(self, m: int) -> dict:
        """A step on m columns: the forward's arrays, the top gradient, the scratch."""
        K, sizes, dtype = self.p.K, self.p.sizes, self.p.dtype
        hidden = [(K, n, m) for n in sizes[1:-1]]
        Zs = Flat([*hidden, (K, sizes[-1], m)], dtype).arrays
        A = Zs[:-1] if self.tanh or self.identity else Flat(hidden, dtype).arrays
        shapes = {(sizes[l], sizes[l - 1]) for l in range(1, len(sizes))}
        return {
            "m": m,
            "Zs": Zs,
            "As": A,
            "top": np.empty((K, sizes[-1], m), dtype=dtype),
            "tmp": [np.empty((K, sizes[-1], m), dtype=dtype) for _ in range(2)],
            "delta": {(n, i): np.empty((K, n, m), dtype=dtype) for n in sizes[1:] for i in (0, 1)},
            "df": {n: np.empty((K, n, m), dtype=dtype) for n in sizes[1:]},
            "dW": {s: np.empty((K, *s), dtype=dtype) for s in shapes},
            "db": {n: np.empty((K, n, 1), dtype=dtype) for n in sizes[1:]},
            "scale": (self.eta1 / m).astype(dtype)[:, None, None],
        }

    def forward(self) -> tuple[list[Array], list[Array], Array]:
        """``(Zs, As, J)``: the logits are ``Zs[-1]``; tanh's hidden ``Zs`` are the ``As``."""
        if self.m is None:
            self.batch(None, self.Y)
        Zs, As, f, p = self.Zs, self.As, self.act.f, self.p
        np.matmul(self.eng.W1, self.eng.batch(self.cols), out=Zs[0])
        Zs[0] += p.biases[0]
        for l in range(1, len(Zs)):
            if self.tanh:
                np.tanh(Zs[l - 1], out=As[l - 1])
            elif not self.identity:
                As[l - 1][...] = f(Zs[l - 1])
            np.matmul(p.weights[l], As[l - 1], out=Zs[l])
            Zs[l] += p.biases[l]
        J = self._sigmoid_loss() if self.sigmoid else self.head.loss(Zs[-1], self.Y)
        return Zs, As, J

    def backward_update(self, alive: Array | None) -> None:
        """Back-propagate the rate-scaled top gradient, each layer updated on the way."""
        Zs, As, W, b, delta = self.Zs, self.As, self.p.weights, self.p.biases, self.top
        if self.sigmoid:
            np.subtract(expit(Zs[-1], out=delta), self.Y, out=delta)
        else:
            delta[...] = self.head.dZ(Zs[-1], self.Y)
        if alive is not None:
            delta[~alive] = 0.0
        delta *= self.scale
        for l in range(len(W) - 1, 0, -1):
            n_out, n_in = W[l].shape[1:]
            dA = self.delta[n_in, l % 2]
            if n_out == 1:  # as backward: an outer product, exact as a broadcast
                np.multiply(W[l].swapaxes(-1, -2), delta, out=dA)
            else:
                np.matmul(W[l].swapaxes(-1, -2), delta, out=dA)
            self._descend(W[l], b[l], delta, As[l - 1])
            if self.tanh:  # dA *= 1 - A * A
                df = np.multiply(As[l - 1], As[l - 1], out=self.df[n_in])
                dA *= np.subtract(1.0, df, out=df)
            elif not self.identity:  # linear units: phi' = 1
                dA *= self.act.df(Zs[l - 1], As[l - 1])
            if alive is not None:
                dA[~alive] = 0.0
            delta = dA
        self._descend(self.eng.W1, b[0], delta, self.eng.batch(self.cols))

    def _descend(self, W: Array, b: Array, delta: Array, A: Array) -> None:
        """``W -= delta A^T`` and ``b -= sum_i delta[..., i]``, in place."""
        dW = self.dW[W.shape[1:]]
        W -= np.matmul(delta, A.swapaxes(-1, -2), out=dW)
        db = self.db[b.shape[1]]
        np.add.reduce(delta, axis=-1, out=db[..., 0])
        b -= db
