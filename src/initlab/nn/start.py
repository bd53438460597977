r"""What the sample engine needs of :math:`W_1(0)`, gathered member by member.

The sample engine (:class:`initlab.nn.engines.SampleEngine`) trains the first layer as
:math:`W_1 = a \odot W_1(0) + C X^T` and reads :math:`W_1(0)` only through

- :math:`Z_1(0) = W_1(0) X`, ``(K, n_1, m)`` (and :math:`W_1(0) X'` on a test set),
- its squared row norms :math:`\lVert W_1(0)_{i,:}\rVert^2`, ``(K, n_1, 1)`` (for
  :math:`\lVert W_1\rVert_F`),
- its columns on the diagnostics' sample :math:`S` (:func:`~initlab.nn.engines.diagnostic_columns`),
  ``(K, n_1, |S|)``,

all sample-sized. A population of 100 networks on the post's images has a 270 MB
:math:`W_1(0)`; stacking it costs more than training it. :class:`SampleStart` takes the
members a group at a time (:data:`GROUP_BYTES` of weights), takes these from each with
exactly the calls the engine makes on the stacked array (:func:`initial_product` for
:math:`Z_1(0)`, the same ``einsum`` for the norms), and drops them: every number is the one
the engine gets from the stacked :math:`W_1(0)` (``tests/test_fast_paths.py``).

:math:`Z_1(0) = W_1(0) X` is the one product of the sample engine whose inner dimension is
:math:`n_0`; one GEMM per member reads all of X (54 MB for the post's images) for 5 rows of
output, so it is bound by reading X, not by arithmetic. :func:`initial_product` forms it by
blocks of R rows of X (:func:`block_rows`, a function of X's shape and dtype only),

.. math::

    Z_1(0) = \big(\cdots\big((W_{:,B_0} X_{B_0}) + W_{:,B_1} X_{B_1}\big) + \cdots\big)
             + W_{:,B_{J-1}} X_{B_{J-1}},

one GEMM per member and block, summed in block order. Every member's arithmetic is the same
sequence of calls with the same shapes whatever the other members are, so a member's
:math:`Z_1(0)` is the same bits alone or in any population; and a group of members reads each
block of X once, while it is in cache: 3-4x faster per member than one GEMM each on the
post's images. It rounds differently from the direct engine's single GEMM (the two engines
agree to rounding, as they do after the first step anyway).

What needs :math:`W_1(0)` itself (the trained network, a
diverged member's weights, :math:`W_1` for a hook, :math:`Z_1` on other data) is then not
available, so :func:`initlab.nn.training.train` takes a start only with
``return_network=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from initlab._validation import InitlabError

Array = np.ndarray

BLOCK_BYTES = 2**19
"""About how much of X one block of rows holds (512 KiB: it stays in cache while every member
of a group reads it; the fastest of 2**18..2**22 for the post's X on our machine)."""

GROUP_BYTES = 2**25
"""How much of the members' :math:`W_1(0)` a :class:`SampleStart` holds at once (32 MiB:
12 members of the post's size; more members per pass over X gain little more)."""


def block_rows(X: Array) -> int:
    """Rows of X per block: ``max(256, BLOCK_BYTES // (itemsize * m))`` for X ``(n_0, m)``;
    it depends on X's shape and dtype only, never on the population."""
    return max(256, BLOCK_BYTES // (X.itemsize * X.shape[1]))


def initial_product(first_weights: Sequence[Array], X: Array) -> Array:
    r""":math:`Z = W X` for each member's :math:`W` ``(n_1, n_0)``, by blocks of X's rows.

    Block :math:`B_j` holds rows :math:`jR .. (j+1)R - 1` of X (:func:`block_rows`); member
    k's result is :math:`\sum_j W_{k,:,B_j} X_{B_j}`, one ``np.dot`` per member and block
    summed in block order (see the module docstring); a member whose :math:`W` is zero gets
    :math:`Z = 0` without a product. Returns ``(K, n_1, m)``.
    """
    K, (n1, n0), m = len(first_weights), first_weights[0].shape, X.shape[1]
    dtype = np.result_type(first_weights[0], X)
    Z, P = np.empty((K, n1, m), dtype=dtype), np.empty((K, n1, m), dtype=dtype)
    live = [k for k, W in enumerate(first_weights) if W.any()]  # a zero W gives Z = 0
    zero = sorted(set(range(K)) - set(live))
    Z[zero], P[zero] = 0.0, 0.0
    R = block_rows(X)
    for j in range(0, n0, R):
        out, Xj = (Z if j == 0 else P), X[j : j + R]
        for k in live:
            np.dot(first_weights[k][:, j : j + R], Xj, out=out[k])
        if j:
            Z += P
    return Z


class SampleStart:
    r"""The sample engine's view of :math:`W_1(0)` for K members (see the module docstring).

    Parameters
    ----------
    first_weights : iterable of ndarray (n_1, n_0)
        Each member's :math:`W_1(0)`, in order; each is read once and may be dropped after.
    X : ndarray (n_0, m)
        The training inputs, already in the network's dtype and C-contiguous (pass this very
        array to ``train``: the engine checks that it is).
    S : ndarray of int
        The diagnostics' column sample.
    X_test : ndarray (n_0, m'), optional
        A test set, like `X` (the array to pass as ``X_test``).
    """

    def __init__(
        self,
        first_weights: Iterable[Array],
        X: Array,
        S: Array,
        X_test: Array | None = None,
    ) -> None:
        self.X, self.S, self.X_test = X, S, X_test
        Z0, w0sq, W0S, Z0t = [], [], [], []
        for group in _groups(first_weights):
            Z0.append(initial_product(group, X))
            w0sq += [np.einsum("kij,kij->ki", W[None], W[None])[0] for W in group]
            W0S += [W[:, S] for W in group]
            if X_test is not None:
                Z0t.append(initial_product(group, X_test))
            self.n1, self.dtype = group[0].shape[0], group[0].dtype
        if not Z0:
            raise InitlabError("first_weights is empty: a population needs at least one member")
        self.Z0, self.W0S = np.concatenate(Z0), np.stack(W0S)
        self.w0sq = np.stack(w0sq)[:, :, None]
        self.Z0_test = np.concatenate(Z0t) if X_test is not None else None

    @property
    def K(self) -> int:
        return self.Z0.shape[0]

    def placeholder(self) -> Array:
        """A read-only ``(K, n_1, n_0)`` zero array that takes no memory: a network's
        :math:`W_1` slot when the engine is built from this start (it is never read)."""
        shape = (self.K, self.n1, self.X.shape[0])
        return np.broadcast_to(np.zeros((), dtype=self.dtype), shape)

    def check(self, K: int, X: Array, X_test: Array | None) -> None:
        """Refuse a start gathered for another population or other data."""
        if K != self.K or X is not self.X or (X_test is not None and X_test is not self.X_test):
            raise InitlabError(
                "start was gathered for other members or data: pass the X (and X_test) it "
                "was built with, and a network of its K members"
            )


def _groups(first_weights: Iterable[Array]) -> Iterable[list[Array]]:
    """The members in order, in groups of at most :data:`GROUP_BYTES` (at least one each)."""
    group: list[Array] = []
    for W in first_weights:
        if group and (len(group) + 1) * W.nbytes > GROUP_BYTES:
            yield group
            group = []
        group.append(W)
    if group:
        yield group
