r"""The training loop's plain step with preallocated buffers: the same arithmetic, fewer calls.

A step of the post's training on the sample engine (K = 4, :math:`n_1 = 5`, m = 100) is
a few dozen NumPy calls on arrays of a few thousand numbers, so its time is the calls'
overhead and their temporaries, not arithmetic. :class:`PlainStep` does the step of
:func:`initlab.nn.training.train` for plain gradient descent
(:math:`\theta \leftarrow \theta - \eta\, g` for every member and every layer), full-batch
or on the direct engine's mini-batches (a trainability map's SGD), with every intermediate
array allocated once per batch width and each operation written into it (``out=``). (A
temporary allocated and freed at every step is also memory the C library may hand back to
the system and fault in again: a trainability map made about 2 million page faults this
way, several seconds of system time.) Every
operation is the one the general step does, on the same operands in the same order, so every
bit is the same; the only rewritings are exact in IEEE arithmetic:

- :math:`Z_1 = (a \odot Z_1(0) + C G) + b_1` is formed as :math:`(C G + Z_1(0)) + b_1`:
  the sample engine's :math:`a` is 1 when no optimizer moves it (:math:`1 \cdot x = x`),
  and a sum of two numbers does not depend on their order;
- :math:`\theta - \eta\,(dZ A^T / m)` keeps its three roundings (quotient, product,
  difference), each in place;
- an operation that is elementwise, or that sums each row on its own, is one call on a
  :class:`Flat` buffer holding every layer's array side by side: the parameters
  :math:`[b_1, \dots, b_L, W_2, \dots, W_L]`, their gradients and their rates (the
  division by m, :math:`g \leftarrow \eta g` and :math:`\theta \leftarrow \theta - g`),
  the :math:`dZ_l` (every :math:`db_l = \sum_i dZ_{l,:,i}` in one reduction) and the
  hidden :math:`A_l` (tanh's :math:`1 - A \odot A`, its two roundings kept). Each number
  sees the operations, operands and order of its own layer's call, and each row is summed
  as a row of its own array, so the bits are those of one call per layer.

The loss and its gradient are the head's own functions, except the sigmoid head's, which
are written into buffers operation by operation as :mod:`initlab.nn.losses` forms them
(its ``mean`` as ``np.mean`` does it: the sum, then the division by the count, an ``intp``;
:math:`-|z|` as ``copysign(z, -1)``, the same bits, NaN's included, in one call).
Divergence, evaluation, hooks and everything else stay in :mod:`initlab.nn.training`, which
takes this path only for steps that record nothing and keeps the general step for every
other case (the sample engine's mini-batches, momentum, weight decay, Adam, per-layer rate
scales on the first layer's coordinates, parameters of more than one dtype). Tests hold this
path to the general one and to the formulas bit for bit (``tests/test_fast_paths.py``,
``tests/test_flat_step.py``, ``tests/test_study_bits.py`` for mini-batches).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from initlab.nn.activations import Activation
from initlab.nn.engines import SampleEngine
from initlab.nn.losses import HEADS, Head
from initlab.nn.network import first_layer

Array = np.ndarray


class Flat:
    r"""Arrays of given shapes as consecutive C-contiguous blocks of one 1-D ``buffer``.

    An elementwise operation on all of them is one call on ``buffer``, and each array is an
    ordinary C-contiguous array: a product written into it is the BLAS call it would be into
    an array of its own, and elementwise calls on it are as fast. (Blocks, not a ``(K, P)``
    buffer with member rows: a view strided across members makes each elementwise call on
    it about 1.5-3 times slower.)

    Parameters
    ----------
    shapes : sequence of tuple of int
        The arrays' shapes, in the buffer's order.
    dtype : dtype
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], dtype: np.dtype) -> None:
        self.shapes, self.dtype = [tuple(s) for s in shapes], np.dtype(dtype)
        bounds = np.cumsum([0, *(math.prod(s) for s in self.shapes)]).tolist()
        self.buffer = np.zeros(bounds[-1], dtype=self.dtype)
        self.arrays = [  # a contiguous slice reshaped: always a view
            self.buffer[a:b].reshape(s)
            for a, b, s in zip(bounds[:-1], bounds[1:], self.shapes, strict=True)
        ]

    def like(self) -> Flat:
        """A new zero buffer of the same layout."""
        return type(self)(self.shapes, self.dtype)


class FlatParams(Flat):
    r"""A population's :math:`[b_1, \dots, b_L, W_2, \dots, W_L]` (``(K, n_l, 1)`` and
    ``(K, n_l, n_{l-1})``) as :class:`Flat` blocks, named ``biases`` and ``weights``
    (``weights[0]`` is None: the first layer is its engine's). The biases come first, so
    ``buffer[:K * sum(n_l)]`` is every :math:`b_l`'s numbers in the order of the rows of
    the :math:`dZ_l` stacked one layer after another.

    Parameters
    ----------
    K : int
    sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``.
    dtype : dtype
    """

    def __init__(self, K: int, sizes: Sequence[int], dtype: np.dtype) -> None:
        L = len(sizes) - 1
        shapes = [(K, n, 1) for n in sizes[1:]]
        shapes += [(K, sizes[l], sizes[l - 1]) for l in range(2, L + 1)]
        super().__init__(shapes, dtype)
        self.K, self.sizes = K, tuple(sizes)
        self.biases: list[Array] = self.arrays[:L]
        self.weights: list[Array | None] = [None, *self.arrays[L:]]

    @classmethod
    def holding(cls, weights: Sequence[Array], biases: Sequence[Array]) -> FlatParams:
        """Copies of ``weights[1:]`` and `biases`, in `biases[0]`'s dtype."""
        sizes = [weights[0].shape[-1], *(b.shape[1] for b in biases)]
        flat = cls(biases[0].shape[0], sizes, biases[0].dtype)
        for view, A in zip([*flat.weights[1:], *flat.biases], [*weights[1:], *biases],
                           strict=True):  # fmt: skip
            view[...] = A
        return flat

    def like(self) -> FlatParams:
        return FlatParams(self.K, self.sizes, self.dtype)

    def ordered(self) -> list[Array]:
        """The arrays in the optimizer's order ``[b_1, W_2, b_2, ..., W_L, b_L]``."""
        out = [self.biases[0]]
        for W, b in zip(self.weights[1:], self.biases[1:], strict=True):
            out += [W, b]
        return out


class PlainStep:
    """Forward (with the cost) and backward-plus-update of one full-batch plain GD step.

    Parameters
    ----------
    eng : DirectEngine or SampleEngine
        The first layer; the sample engine's :math:`a` must never be given to an optimizer.
    params : FlatParams
        The training copies of layers 2..L and of every bias, updated in place.
    act, head : Activation, Head
    Y : ndarray (n_L, m)
        The targets of every step, until :meth:`batch` gives a mini-batch's.
    lrs : list of ndarray (K, 1, 1)
        The rates of ``[b_1, W_2, b_2, ..., W_L, b_L]``, in the parameters' dtype.
    step1 : ndarray (K,)
        The first layer's :math:`\\eta_k` (float64); each step descends by
        :math:`\\eta_k / |B|` in the parameters' dtype, as the general step does.
    """

    def __init__(
        self,
        eng,
        params: FlatParams,
        act: Activation,
        head: Head,
        Y: Array,
        lrs: Sequence[Array],
        step1: Array,
    ) -> None:
        self.eng, self.p, self.act, self.head = eng, params, act, head
        self.g, self.rates = params.like(), params.like()
        for rate, lr in zip(self.rates.ordered(), lrs, strict=True):
            rate[...] = lr
        self.eta1 = step1
        self.tanh = act.name == "tanh" and act.f is np.tanh
        self.identity = act.name == "linear"  # A = Z and phi' = 1: no copy, no product
        self.sigmoid = head is HEADS["sigmoid"]
        self.sample = isinstance(eng, SampleEngine)
        self.nb = params.K * sum(params.sizes[1:])  # the biases' numbers: every gradient's head
        self._widths: dict[int, dict] = {}
        self.cols, self.Y, self.m = None, Y, None  # buffers made at the first step's width

    def batch(self, cols: Array | None, Y: Array) -> None:
        """The next steps' columns of X (None: all, in order) and their targets ``(n_L, |B|)``;
        the buffers of that batch width are made at its first step and kept."""
        if cols is not None and self.sample:
            raise ValueError("the fused step takes mini-batches on the direct engine only")
        self.cols, self.Y = cols, Y
        m = Y.shape[-1]
        if m not in self._widths:
            self._widths[m] = self._buffers(m)
        vars(self).update(self._widths[m])

    def _buffers(self, m: int) -> dict:
        """Every array of a step on m columns: activations, their gradients, the steps."""
        K, sizes, dtype = self.p.K, self.p.sizes[1:], self.p.dtype
        rows = lambda ns: Flat([(K, n, m) for n in ns], dtype)  # noqa: E731
        A = rows(sizes[:-1])  # A_1..A_{L-1}
        return {
            "m": m,
            "Zs": rows(sizes).arrays,
            "A": A,
            "dZ": rows(sizes),  # dZ_1..dZ_L
            "df": A.like() if self.tanh else None,
            "tmp": rows([sizes[-1]] * 2).arrays if self.sigmoid else None,  # its cost's
            "C1": np.empty((K, sizes[0], m), dtype=dtype),  # the sample engine's step
            "count": np.full(self.g.buffer.shape, m, dtype=dtype),  # g / m, as g / int m
            "step1": (self.eta1 / m).astype(dtype)[:, None, None],  # as the general step's
        }

    def forward(self) -> tuple[list[Array], list[Array], Array]:
        """``(Zs, As, J)``: every pre-activation and activation (buffers reused by the next
        step) and the cost per member."""
        if self.m is None:  # no batch given: every step takes all m columns
            self.batch(None, self.Y)
        Zs, As, f, p = self.Zs, self.A.arrays, self.act.f, self.p
        if self.sample:
            eng = self.eng
            np.matmul(eng.C, eng.G, out=Zs[0])
            Zs[0] += eng.Z0
            Zs[0] += p.biases[0]
        else:
            first_layer(self.eng.W1, self.eng.batch(self.cols), out=Zs[0])
            Zs[0] += p.biases[0]  # DirectEngine.preactivation's W_1 X_B + b_1, in place
        for l in range(1, len(Zs)):
            A = Zs[l - 1] if self.identity else As[l - 1]
            if f is np.tanh:
                np.tanh(Zs[l - 1], out=A)
            elif not self.identity:
                A[...] = f(Zs[l - 1])
            np.matmul(p.weights[l], A, out=Zs[l])
            Zs[l] += p.biases[l]
        J = self._sigmoid_loss() if self.sigmoid else self.head.loss(Zs[-1], self.Y)
        return Zs, As, J

    def _sigmoid_loss(self) -> Array:
        """:func:`initlab.nn.losses._sigmoid_loss`'s operations, each into a buffer."""
        Z, Y, (a, b) = self.Zs[-1], self.Y, self.tmp
        np.maximum(Z, 0, out=a)
        np.subtract(a, np.multiply(Z, Y, out=b), out=a)
        np.log1p(np.exp(np.copysign(Z, -1.0, out=b), out=b), out=b)  # -|Z|: sign bit set
        np.add(a, b, out=a)
        J = np.add.reduce(a, axis=(-2, -1))  # mean: the sum, then / the count (intp)
        np.true_divide(J, np.intp(Z.shape[-2] * Z.shape[-1]), out=J, casting="unsafe")
        return J if Z.shape[-2] == 1 else Z.shape[-2] * J  # 1 * J is J, bit for bit

    def within(self, J: Array, limit: Array) -> bool:
        """Whether every member's :math:`|J| \\le` `limit` (NaN fails): the divergence
        test's shortcut (:func:`divergence_limit`). A head whose costs are never negative
        (``Head.nonnegative``) compares J itself, one call fewer."""
        return np.count_nonzero((J if self.head.nonnegative else np.abs(J)) <= limit) == J.size

    def backward_update(self, alive: Array | None) -> None:
        """Back-propagate from this step's logits and update every parameter in place
        (:func:`initlab.nn.network.backward` and the plain update; `alive`, when some member
        is frozen, zeroes the others' gradients as it does)."""
        Zs, As, dZs, W, g = self.Zs, self.A.arrays, self.dZ.arrays, self.p.weights, self.g
        if self.sigmoid:
            np.subtract(expit(Zs[-1], out=dZs[-1]), self.Y, out=dZs[-1])
        else:
            dZs[-1][...] = self.head.dZ(Zs[-1], self.Y)
        if alive is not None:
            dZs[-1][~alive] = 0.0
        if self.tanh:  # 1 - A * A for every hidden layer at once
            A, d = self.A.buffer, self.df.buffer
            np.subtract(1.0, np.multiply(A, A, out=d), out=d)
        As = Zs if self.identity else As
        for l in range(len(W) - 1, 0, -1):
            dZ, dA = dZs[l], dZs[l - 1]
            np.matmul(dZ, As[l - 1].swapaxes(-1, -2), out=g.weights[l])
            if W[l].shape[1] == 1:  # as backward: an outer product, exact as a broadcast
                np.multiply(W[l].swapaxes(-1, -2), dZ, out=dA)
            else:
                np.matmul(W[l].swapaxes(-1, -2), dZ, out=dA)
            if not self.identity:  # x * 1 is x: linear units' derivative changes no bit
                dA *= self.df.arrays[l - 1] if self.tanh else self.act.df(Zs[l - 1], As[l - 1])
            if alive is not None:
                dA[~alive] = 0.0
        rows = self.dZ.buffer.reshape(-1, self.m)  # every db_l: a sum per row of dZ_l
        np.add.reduce(rows, axis=-1, out=g.buffer[: self.nb])
        g.buffer /= self.count
        self._update(dZs[0])

    def _update(self, dZ1: Array) -> None:
        """``theta -= lr * g`` for ``[b_1, W_2, b_2, ...]``, then the first layer's
        ``engine.descend``."""
        self.g.buffer *= self.rates.buffer
        self.p.buffer -= self.g.buffer
        if self.sample:
            self.eng.C -= np.multiply(dZ1, self.step1, out=self.C1)
        else:
            self.eng.descend(dZ1, self.step1[:, 0, 0], self.cols)


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
