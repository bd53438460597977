r"""How the first layer is computed: directly, or in sample space.

Only the first layer touches the ``n_0``-dimensional input, so only it differs between
engines; layers 2..L are the same batched products in both.

``direct``
    stores :math:`W_1` (K, n_1, n_0); forward :math:`Z_1 = W_1 X + b_1`, update
    :math:`W_1 \leftarrow W_1 - \tfrac{\eta}{m} dZ_1 X^T`. Cost per iteration
    :math:`\approx 4 K n_1 n_0 m` flops.
``sample``
    every first-layer gradient is :math:`\tfrac{1}{m} dZ_1 X^T`, so
    :math:`W_1(t) = W_1(0) + C(t) X^T` with :math:`C` of shape (K, n_1, m) and

    .. math::

        Z_1(t) = W_1(0) X + C(t) G + b_1, \qquad G = X^T X, \qquad
        C \leftarrow C - \tfrac{\eta}{m} dZ_1.

    :math:`G` (m, m) and :math:`Z_1(0) = W_1(0) X` are computed once
    (:math:`\approx 2 n_0 m^2 + 2 K n_1 n_0 m` flops); an iteration costs
    :math:`\approx 2 K n_1 m^2`. It pays when :math:`n_0 > m`, and is exact: the two
    engines agree up to rounding. :math:`W_1` is materialized only when asked for.

Norms for diagnostics are computed in sample space too:
:math:`\lVert dW_1\rVert_F^2 = \operatorname{tr}(dZ_1 G\, dZ_1^T)/m^2` and
:math:`\lVert W_1\rVert_F^2 = \lVert W_1(0)\rVert^2 + 2\langle C, W_1(0)X\rangle
+ \operatorname{tr}(C G C^T)`.
"""

from __future__ import annotations

import numpy as np

from initlab._validation import InitlabError
from initlab.nn.network import first_layer

ENGINES = ("auto", "direct", "sample")


def flops(engine: str, n_features: int, m: int, K: int, n1: int, iterations: int) -> float:
    """Estimated floating-point operations of the first layer over a whole run."""
    if engine == "direct":
        return 4.0 * K * n1 * n_features * m * iterations
    if engine == "sample":
        setup = 2.0 * n_features * m * m + 2.0 * K * n1 * n_features * m
        final = 2.0 * K * n1 * m * n_features  # materializing W_1
        return setup + final + 2.0 * K * n1 * m * m * iterations
    raise InitlabError(f"unknown engine {engine!r}; valid engines are: direct, sample")


def choose(engine: str, n_features: int, m: int, K: int, n1: int, iterations: int) -> str:
    """Resolve ``"auto"`` to the engine with the smaller :func:`flops` estimate."""
    if engine not in ENGINES:
        raise InitlabError(f"unknown engine {engine!r}; valid engines are: {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    args = (n_features, m, K, n1, iterations)
    return "sample" if flops("sample", *args) < flops("direct", *args) else "direct"


def _row_norms(A: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("kij,kij->k", A, A))


class DirectEngine:
    """First layer as stored weights ``W_1`` (see the module docstring)."""

    name = "direct"

    def __init__(self, W1: np.ndarray, X: np.ndarray) -> None:
        self.W1 = W1.copy()
        self.X = X
        self._dW = np.empty_like(self.W1)
        self._m = X.shape[1]

    def preactivation(self, b1: np.ndarray) -> np.ndarray:
        return first_layer(self.W1, self.X) + b1

    def preactivation_on(self, X: np.ndarray, b1: np.ndarray) -> np.ndarray:
        return first_layer(self.W1, X) + b1

    def update(self, dZ1: np.ndarray, step: np.ndarray) -> None:
        """``W_1 -= step_k dZ_1 X^T`` with ``step = lr / m``; no feature-sized temporaries."""
        scaled = dZ1 * step[:, None, None]
        for k in range(self.W1.shape[0]):
            np.dot(scaled[k], self.X.T, out=self._dW[k])
        self.W1 -= self._dW

    def grad_norm(self, dZ1: np.ndarray) -> np.ndarray:
        """``||dW_1||_F`` per member, ``dW_1 = dZ_1 X^T / m``."""
        for k in range(dZ1.shape[0]):
            np.dot(dZ1[k], self.X.T, out=self._dW[k])
        return _row_norms(self._dW) / self._m

    def weight_norm(self) -> np.ndarray:
        return _row_norms(self.W1)

    def weight(self) -> np.ndarray:
        return self.W1.copy()

    def member_weight(self, k: int) -> np.ndarray:
        """Member k's ``W_1`` (a copy)."""
        return self.W1[k].copy()

    def freeze(self, k: int) -> None:
        self.W1[k] = 0.0


class SampleEngine:
    """First layer as ``W_1(0) + C X^T`` (see the module docstring)."""

    name = "sample"

    def __init__(self, W1: np.ndarray, X: np.ndarray) -> None:
        self.W0 = W1  # read-only here; copied before the first write (freeze)
        self._own_W0 = False
        self.X = X
        self.G = X.T @ X
        self.Z0 = first_layer(W1, X)
        self.C = np.zeros(self.Z0.shape, dtype=W1.dtype)
        self._m = X.shape[1]
        self._cross: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _CG(self) -> np.ndarray:
        return np.matmul(self.C, self.G)

    def preactivation(self, b1: np.ndarray) -> np.ndarray:
        return self.Z0 + self._CG() + b1

    def preactivation_on(self, X: np.ndarray, b1: np.ndarray) -> np.ndarray:
        """``W_1(0) X' + C (X^T X') + b_1``; ``X^T X'`` and ``W_1(0) X'`` are cached per array."""
        cached = self._cross.get(id(X))
        if cached is None or cached[0] is not X:  # an id can be reused by a new array
            cached = self._cross[id(X)] = (X, self.X.T @ X, first_layer(self.W0, X))
        _, H, Z0 = cached
        return Z0 + np.matmul(self.C, H) + b1

    def update(self, dZ1: np.ndarray, step: np.ndarray) -> None:
        self.C -= dZ1 * step[:, None, None]

    def grad_norm(self, dZ1: np.ndarray) -> np.ndarray:
        dZG = np.matmul(dZ1, self.G)
        sq = np.einsum("kij,kij->k", dZG, dZ1)
        return np.sqrt(np.maximum(sq, 0.0)) / self._m

    def weight_norm(self) -> np.ndarray:
        sq = (
            np.einsum("kij,kij->k", self.W0, self.W0)
            + 2.0 * np.einsum("kij,kij->k", self.C, self.Z0)
            + np.einsum("kij,kij->k", self._CG(), self.C)
        )
        return np.sqrt(np.maximum(sq, 0.0))

    def weight(self) -> np.ndarray:
        W = np.empty_like(self.W0)
        for k in range(W.shape[0]):  # one GEMM per member: far faster than a stacked matmul
            np.dot(self.C[k], self.X.T, out=W[k])
        return np.add(W, self.W0, out=W)

    def member_weight(self, k: int) -> np.ndarray:
        """Member k's ``W_1 = W_1(0) + C X^T``, without materializing the others."""
        return self.W0[k] + np.dot(self.C[k], self.X.T)

    def freeze(self, k: int) -> None:
        if not self._own_W0:
            self.W0, self._own_W0 = self.W0.copy(), True
        self.W0[k] = 0.0
        self.Z0[k] = 0.0
        self.C[k] = 0.0
        for _, _, Z0 in self._cross.values():
            Z0[k] = 0.0


def make(engine: str, W1: np.ndarray, X: np.ndarray) -> DirectEngine | SampleEngine:
    """Build the named engine (``"direct"`` or ``"sample"``) for first weights `W1` and data `X`."""
    if engine == "direct":
        return DirectEngine(W1, X)
    if engine == "sample":
        return SampleEngine(W1, X)
    raise InitlabError(f"unknown engine {engine!r}; valid engines are: direct, sample")
