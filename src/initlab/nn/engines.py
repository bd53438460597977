r"""How the first layer is computed: directly, or in sample space.

Only the first layer touches the ``n_0``-dimensional input, so only it differs between
engines; layers 2..L are the same batched products in both. A step works on a batch
:math:`B` of the m training columns (all of them for full-batch training), and every
first-layer gradient is :math:`dW_1 = \tfrac{1}{|B|} dZ_1 X_B^T`.

``direct``
    stores :math:`W_1` (K, n_1, n_0); forward :math:`Z_1 = W_1 X_B + b_1`. Its optimizer
    coordinates are :math:`W_1` itself. Cost per step :math:`\approx 4 K n_1 n_0 |B|` flops.
``sample``
    keeps

    .. math::

        W_1(t) = a(t) \odot W_1(0) + C(t) X^T, \qquad
        Z_{1,B}(t) = a \odot Z_1(0)_{:,B} + C\, G_{:,B} + b_1, \qquad G = X^T X,

    with :math:`C` of shape (K, n_1, m) over *all* m training columns and :math:`a`
    (K, n_1, 1) a per-row multiple of the initial weights (1 until weight decay scales it).
    An update that is a linear combination of past gradients :math:`\tfrac{1}{|B|} dZ_1
    X_B^T` and of :math:`W_1` itself (gd, sgd, momentum, Nesterov, L2 decay) is exactly the
    same linear combination of the coordinates: the gradient's coordinates are
    :math:`dZ_1 / |B|` in the batch's columns of :math:`C` (zero elsewhere) and 0 for
    :math:`a`; :math:`\lambda W_1` is :math:`(\lambda a, \lambda C)`. The optimizer runs
    on ``[C, a]`` unchanged, elementwise. Adam's :math:`\sqrt{v}` is not linear, so the
    identity fails there (:func:`~initlab.nn.engine_choice.choose` refuses it).

    :math:`G` (m, m) and :math:`Z_1(0) = W_1(0) X` are computed once (the latter by blocks
    of X's rows, :func:`initlab.nn.start.initial_product`)
    (:math:`\approx 2 n_0 m^2 + 2 K n_1 n_0 m` flops); a step costs
    :math:`\approx 2 K n_1 m |B|`. It pays when :math:`n_0 > m`, and is exact: the two
    engines agree up to rounding. :math:`W_1` is materialized only when asked for.

Plain gradient descent (:math:`W_1 \leftarrow W_1 - \eta\, dW_1`) takes :meth:`descend`,
which forms :math:`(\tfrac{\eta}{|B|} dZ_1) X_B^T` (direct) or
:math:`C_{:,B} \leftarrow C_{:,B} - \tfrac{\eta}{|B|} dZ_1` (sample): the post's order of
operations, so every earlier result keeps its bits.

Diagnostics never materialize :math:`W_1` in the sample engine. Norms are computed in
sample space: :math:`\lVert dW_1\rVert_F^2 = \operatorname{tr}(dZ_1 G_{BB}\, dZ_1^T)/|B|^2`
and

.. math::

    \lVert W_1\rVert_F^2 = \textstyle\sum_i a_i^2 \lVert W_1(0)_{i,:}\rVert^2
    + 2\langle C, a \odot Z_1(0)\rangle + \operatorname{tr}(C G C^T)

(the row norms of :math:`W_1(0)` are taken once). What needs :math:`W_1`'s rows reads
them on a fixed sample :math:`S` of input columns (:func:`diagnostic_columns`; all columns
when :math:`n_0 \le 1024`): :meth:`weight_columns` gives
:math:`W_1[:, S] = a \odot W_1(0)[:, S] + C X[S, :]^T`, :math:`2 K n_1 m |S|` flops
instead of :math:`2 K n_1 m n_0`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np

from initlab._validation import InitlabError, unknown_name
from initlab.nn.engine_choice import CHOICES, NAMES, choose, flops
from initlab.nn.network import first_layer
from initlab.nn.start import BLOCK_BYTES, SampleStart, block_rows, initial_product

Array = np.ndarray
Cols = np.ndarray | None
"""The batch's column indices into X, or None for all columns in order."""

__all__ = [
    "BLOCK_BYTES",
    "CHOICES",
    "DIAGNOSTIC_COLUMNS",
    "ENGINES",
    "DirectEngine",
    "Engine",
    "SampleEngine",
    "choose",
    "diagnostic_columns",
    "flops",
    "make",
]


class Engine(Protocol):
    """The first layer's storage and products (see the module docstring)."""

    name: ClassVar[str]
    params: list[Array]
    """The first layer in the engine's optimizer coordinates, updated in place."""

    def preactivation(self, b1: Array, cols: Cols = None) -> Array:
        """``Z_1`` on the batch's columns, ``(K, n_1, |B|)``."""

    def preactivation_on(self, X: Array, b1: Array) -> Array:
        """``Z_1`` on other data (cached per array)."""

    def gradient(self, dZ1: Array, cols: Cols = None, members: Array | None = None) -> list[Array]:
        """``dW_1 = dZ_1 X_B^T / |B|`` in the coordinates of :attr:`params` (zero for the
        members not in `members`)."""

    def descend(
        self, dZ1: Array, step: Array, cols: Cols = None, members: Array | None = None
    ) -> None:
        """``W_1 -= (step_k dZ_1) X_B^T`` for `members` (all by default); ``step = lr/|B|``."""

    def weight_gradient(self, dZ1: Array, cols: Cols = None) -> Array:
        """``dW_1 = dZ_1 X_B^T / |B|`` materialized, ``(K, n_1, n_0)``."""

    def grad_norm(self, dZ1: Array, cols: Cols = None) -> Array:
        """``||dW_1||_F`` per member."""

    def weight_norm(self) -> Array:
        """``||W_1||_F`` per member."""

    def weight(self) -> Array:
        """``W_1`` materialized, ``(K, n_1, n_0)``."""

    def member_weight(self, k: int) -> Array:
        """Member k's ``W_1`` (a copy), without materializing the others."""

    def weight_columns(self, S: Array) -> Array:
        """``W_1[:, :, S]``, ``(K, n_1, |S|)``, without materializing ``W_1``."""

    def weight_later(self) -> Callable[[], Array]:
        """A function that gives ``W_1`` as it is now, when called, even after later steps."""

    def freeze(self, k: int) -> None:
        """Zero member k's first layer for the rest of the run."""


def _row_norms(A: Array) -> Array:
    return np.sqrt(np.einsum("kij,kij->k", A, A))


def _members(members: Array | None, K: int) -> Array:
    return np.arange(K) if members is None else np.asarray(members)


class DirectEngine:
    """First layer as stored weights ``W_1`` (see the module docstring)."""

    name: ClassVar[str] = "direct"

    def __init__(self, W1: Array, X: Array) -> None:
        self.W1 = W1.copy()
        self.params = [self.W1]
        self.X = X
        self._dW = np.empty_like(self.W1)
        self._batch: tuple[Cols, Array] = (None, X)

    def batch(self, cols: Cols) -> Array:
        """``X_B``, contiguous: the columns of the batch (gathered once per step)."""
        return self._X(cols)

    def _X(self, cols: Cols) -> Array:
        if cols is None:
            return self.X
        if self._batch[0] is not cols:  # one gather per step, reused by its products
            self._batch = (cols, np.ascontiguousarray(self.X[:, cols]))
        return self._batch[1]

    def preactivation(self, b1: Array, cols: Cols = None) -> Array:
        return first_layer(self.W1, self._X(cols)) + b1

    def preactivation_on(self, X: Array, b1: Array) -> Array:
        return first_layer(self.W1, X) + b1

    def gradient(self, dZ1: Array, cols: Cols = None, members: Array | None = None) -> list[Array]:
        XB = self._X(cols)
        dW = np.zeros_like(self.W1)
        for k in _members(members, dZ1.shape[0]):
            np.dot(dZ1[k], XB.T, out=dW[k])
        dW /= XB.shape[1]
        return [dW]

    def descend(
        self, dZ1: Array, step: Array, cols: Cols = None, members: Array | None = None
    ) -> None:
        """No feature-sized temporaries: one ``(n_1, n_0)`` product per member, in place."""
        XB = self._X(cols)
        for k in _members(members, dZ1.shape[0]):
            np.dot(dZ1[k] * step[k], XB.T, out=self._dW[k])
            self.W1[k] -= self._dW[k]

    def weight_gradient(self, dZ1: Array, cols: Cols = None) -> Array:
        return self.gradient(dZ1, cols)[0]

    def grad_norm(self, dZ1: Array, cols: Cols = None) -> Array:
        XB = self._X(cols)
        for k in range(dZ1.shape[0]):
            np.dot(dZ1[k], XB.T, out=self._dW[k])
        return _row_norms(self._dW) / XB.shape[1]

    def weight_norm(self) -> Array:
        return _row_norms(self.W1)

    def weight(self) -> Array:
        return self.W1.copy()

    def member_weight(self, k: int) -> Array:
        return self.W1[k].copy()

    def weight_columns(self, S: Array) -> Array:
        return self.W1[:, :, S]

    def weight_later(self) -> Callable[[], Array]:
        W = self.W1.copy()  # stored weights: keep them (one copy, as materializing costs)
        return lambda: W

    def freeze(self, k: int) -> None:
        self.W1[k] = 0.0


class SampleEngine:
    """First layer as ``a W_1(0) + C X^T`` (see the module docstring)."""

    name: ClassVar[str] = "sample"

    def __init__(self, W1: Array, X: Array, start: SampleStart | None = None) -> None:
        """With `start` (:class:`~initlab.nn.start.SampleStart`, gathered member by member),
        `W1` is a placeholder never read and :math:`W_1(0)` is not kept."""
        self.X = X
        self.G = X.T @ X
        self._cross: dict[int, tuple[Array, Array, Array]] = {}
        self._XS: tuple[Array | None, Array | None, Array | None] = (None, None, None)
        self.W0: Array | None = W1  # read-only here; replaced by a copy at each freeze
        self._w0sq: Array | None = None
        if start is None:
            self.Z0 = initial_product(W1, X)
        else:
            self.W0, self.Z0, self._w0sq = None, start.Z0, start.w0sq
            self._XS = (start.S, np.ascontiguousarray(X[start.S, :].T), start.W0S)
            if start.X_test is not None:
                Xt = start.X_test
                self._cross[id(Xt)] = (Xt, X.T @ Xt, start.Z0_test)
        self.C = np.zeros(self.Z0.shape, dtype=W1.dtype)
        self.a = np.ones((*W1.shape[:2], 1), dtype=W1.dtype)
        self.params = [self.C, self.a]

    def _w0(self, W0: Array | None = None) -> Array:
        if W0 is None and self.W0 is None:
            raise InitlabError(
                "W1(0) was not kept (the engine was built from a SampleStart): train with "
                "return_network=False, no hook reading W1 and no other data than X_test"
            )
        return self.W0 if W0 is None else W0

    def preactivation(self, b1: Array, cols: Cols = None) -> Array:
        if cols is None:
            return self.a * self.Z0 + np.matmul(self.C, self.G) + b1
        return self.a * self.Z0[:, :, cols] + np.matmul(self.C, self.G[:, cols]) + b1

    def preactivation_on(self, X: Array, b1: Array) -> Array:
        """``a W_1(0) X' + C (X^T X') + b_1``; ``X^T X'`` and ``W_1(0) X'`` cached per array."""
        cached = self._cross.get(id(X))
        if cached is None or cached[0] is not X:  # an id can be reused by a new array
            cached = self._cross[id(X)] = (X, self.X.T @ X, initial_product(self._w0(), X))
        _, H, Z0 = cached
        return self.a * Z0 + np.matmul(self.C, H) + b1

    def gradient(self, dZ1: Array, cols: Cols = None, members: Array | None = None) -> list[Array]:
        gC = np.zeros_like(self.C)
        ks = _members(members, dZ1.shape[0])
        n = dZ1.shape[-1]
        if cols is None:
            gC[ks] = dZ1[ks] / n
        else:
            gC[np.ix_(ks, np.arange(gC.shape[1]), cols)] = dZ1[ks] / n
        return [gC, np.zeros_like(self.a)]

    def descend(
        self, dZ1: Array, step: Array, cols: Cols = None, members: Array | None = None
    ) -> None:
        if members is None and cols is None:
            self.C -= dZ1 * step[:, None, None]
            return
        for k in _members(members, dZ1.shape[0]):
            if cols is None:
                self.C[k] -= dZ1[k] * step[k]
            else:
                self.C[k][:, cols] -= dZ1[k] * step[k]

    def weight_gradient(self, dZ1: Array, cols: Cols = None) -> Array:
        XB = self.X if cols is None else self.X[:, cols]
        return first_layer(dZ1, XB.T) / dZ1.shape[-1]

    def grad_norm(self, dZ1: Array, cols: Cols = None) -> Array:
        G = self.G if cols is None else self.G[np.ix_(cols, cols)]
        sq = np.einsum("kij,kij->k", np.matmul(dZ1, G), dZ1)
        return np.sqrt(np.maximum(sq, 0.0)) / dZ1.shape[-1]

    def weight_norm(self) -> Array:
        if self._w0sq is None:  # row norms of W_1(0), once: (K, n_1, 1)
            self._w0sq = np.einsum("kij,kij->ki", self.W0, self.W0)[:, :, None]
        sq = (
            np.einsum("kij,kij->k", self.a * self.a, self._w0sq)
            + 2.0 * np.einsum("kij,kij->k", self.C, self.a * self.Z0)
            + np.einsum("kij,kij->k", np.matmul(self.C, self.G), self.C)
        )
        return np.sqrt(np.maximum(sq, 0.0))

    def _CXt(self, members: range | list[int], W: Array, C: Array) -> Array:
        """``W[i] = C[members[i]] X^T`` by blocks of X's rows, each read once for all."""
        rows = block_rows(self.X)
        for j in range(0, W.shape[2], rows):
            XjT = self.X[j : j + rows].T
            for i, k in enumerate(members):
                W[i, :, j : j + rows] = np.dot(C[k], XjT)
        return W

    def weight(self) -> Array:
        return self._weight(self.W0, self.C, self.a)

    def _weight(self, W0: Array | None, C: Array, a: Array) -> Array:
        W0 = self._w0(W0)
        W = self._CXt(range(W0.shape[0]), np.empty_like(W0), C)
        return np.add(W, W0 if (a == 1).all() else a * W0, out=W)

    def weight_later(self) -> Callable[[], Array]:
        """Keeps ``C`` and ``a`` (sample-sized) and this ``W_1(0)`` (:meth:`freeze` replaces
        it, never writes into it); forms ``W_1`` only if called."""
        W0, C, a = self.W0, self.C.copy(), self.a.copy()
        return lambda: self._weight(W0, C, a)

    def member_weight(self, k: int) -> Array:
        W0 = self._w0()
        return self.a[k] * W0[k] + self._CXt([k], np.empty_like(W0[k : k + 1]), self.C)[0]

    def weight_columns(self, S: Array) -> Array:
        """``a W_1(0)[:, S] + C X[S, :]^T`` (``X[S, :]^T`` and ``W_1(0)[:, S]`` kept for the
        sample `S`; another array holding the same columns is the same sample)."""
        kept = self._XS[0]
        if kept is not S and not (kept is not None and np.array_equal(kept, S)):
            self._XS = (S, np.ascontiguousarray(self.X[S, :].T), self._w0()[:, :, S])
        return self.a * self._XS[2] + np.matmul(self.C, self._XS[1])

    def freeze(self, k: int) -> None:
        if self.W0 is not None:  # a new array: weight_later's functions keep the old one
            self.W0 = self.W0.copy()
            self.W0[k] = 0.0
        if self._w0sq is not None:
            self._w0sq[k] = 0.0
        if self._XS[2] is not None:  # W_1(0)[:, S], a copy
            self._XS[2][k] = 0.0
        self.Z0[k] = 0.0
        self.C[k] = 0.0
        for _, _, Z0 in self._cross.values():
            Z0[k] = 0.0


DIAGNOSTIC_COLUMNS = 1024
"""Size of the sample :math:`S` of input columns on which diagnostics read ``W_1``'s rows."""


@functools.lru_cache(maxsize=8)
def diagnostic_columns(n_features: int, size: int = DIAGNOSTIC_COLUMNS) -> Array:
    """The fixed sample :math:`S` of input columns for diagnostics, sorted, ``(|S|,)``.

    All columns when ``n_features <= size``; otherwise `size` of them drawn without
    replacement by ``np.random.default_rng(0)`` (so the same for every run, engine and
    population on data of that width). Rows of :math:`W_1` that are equal are equal on
    :math:`S`; rows that differ only outside :math:`S` would be counted as equal there.
    """
    if n_features <= size:
        S = np.arange(n_features)
    else:
        S = np.sort(np.random.default_rng(0).choice(n_features, size, replace=False))
    S.flags.writeable = False  # cached: one array per width
    return S


ENGINES: dict[str, type[DirectEngine] | type[SampleEngine]] = dict(
    zip(NAMES, (DirectEngine, SampleEngine), strict=True)
)
"""The engines by name."""


def make(
    engine: str, W1: Array, X: Array, start: SampleStart | None = None
) -> DirectEngine | SampleEngine:
    """Build the named engine for first weights `W1` and data `X` (`start`: sample only)."""
    if engine not in ENGINES:
        raise unknown_name("engine", engine, ENGINES)
    if start is None:
        return ENGINES[engine](W1, X)
    if engine != "sample":
        raise InitlabError(f"a SampleStart needs engine 'sample'; the engine is {engine!r}")
    return SampleEngine(W1, X, start)
