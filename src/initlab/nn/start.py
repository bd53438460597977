r"""What the sample engine needs of :math:`W_1(0)`, gathered member by member.

The sample engine (:class:`initlab.nn.engines.SampleEngine`) trains the first layer as
:math:`W_1 = a \odot W_1(0) + C X^T` and reads :math:`W_1(0)` only through

- :math:`Z_1(0) = W_1(0) X`, ``(K, n_1, m)`` (and :math:`W_1(0) X'` on a test set),
- its squared row norms :math:`\lVert W_1(0)_{i,:}\rVert^2`, ``(K, n_1, 1)`` (for
  :math:`\lVert W_1\rVert_F`),
- its columns on the diagnostics' sample :math:`S` (:func:`~initlab.nn.engines.diagnostic_columns`),
  ``(K, n_1, |S|)``,

all sample-sized. A population of 100 networks on the post's images has a 270 MB
:math:`W_1(0)`; stacking it costs more than training it. :class:`SampleStart` draws one
member at a time, takes these from it with exactly the calls the engine makes on the stacked
array (one ``np.dot`` per member for :math:`Z_1(0)`, the same ``einsum`` for the norms), and
drops it: every number is the one the engine gets from the stacked :math:`W_1(0)`
(``tests/test_fast_paths.py``). What needs :math:`W_1(0)` itself (the trained network, a
diverged member's weights, :math:`W_1` for a hook, :math:`Z_1` on other data) is then not
available, so :func:`initlab.nn.training.train` takes a start only with
``return_network=False``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from initlab._validation import InitlabError

Array = np.ndarray


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
        for W in first_weights:
            z = np.empty((W.shape[0], X.shape[1]), dtype=np.result_type(W, X))
            Z0.append(np.dot(W, X, out=z))  # as first_layer, one member
            w0sq.append(np.einsum("kij,kij->ki", W[None], W[None])[0])
            W0S.append(W[:, S])
            if X_test is not None:
                zt = np.empty((W.shape[0], X_test.shape[1]), dtype=z.dtype)
                Z0t.append(np.dot(W, X_test, out=zt))
            self.n1, self.dtype = W.shape[0], W.dtype
        if not Z0:
            raise InitlabError("first_weights is empty: a population needs at least one member")
        self.Z0, self.W0S = np.stack(Z0), np.stack(W0S)
        self.w0sq = np.stack(w0sq)[:, :, None]
        self.Z0_test = np.stack(Z0t) if X_test is not None else None

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
