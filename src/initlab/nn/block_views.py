r"""The kept views of an update by blocks: one parameter's blocks, made once per run.

Adam's step (:class:`initlab.nn.optimizers.Adam`) takes every parameter through thirteen
elementwise operations by blocks of about :data:`initlab.nn.optimizers.BLOCK` numbers (one
member's rows), so each block stays in cache from the first operation to the last. Slicing the
parameter, its two moments and the per-member coefficients of every block at every step, and
looking up scratch arrays for them, cost a fifth of the step at the small widths of a scaling
study (a few thousand numbers per block; NumPy's calls, not arithmetic). :class:`BlockViews`
makes those views once: a step is then a loop of ufunc calls with ``out=``.

The bits are the plain step's: every view is of the same numbers, every coefficient is computed
as before for the whole population and then viewed (elementwise: the same numbers), and the two
scratch arrays have the operands' dtype and the block's shape, as the expressions' results do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from initlab._validation import InitlabError

Array = np.ndarray


class BlockViews:
    r"""One parameter ``P`` ``(K, rows, cols)``'s blocks `ats` and what a step reads in each.

    Per block, :meth:`blocks` yields ``(p, m, v, s0, s1, coef, bc2, one_b1, b2, one_b2, eps,
    w)`` and the gradient's view ``g``: the block of ``P``, of the moments ``M`` and ``V``,
    two scratch arrays of its shape (in two flat buffers shared by the blocks), and the
    coefficients restricted to its members: ``coef`` :math:`= \eta / (1 - \beta_1^t)`,
    ``bc2`` :math:`= \sqrt{1 - \beta_2^t}` (set by the caller in ``cast["bc2_sqrt"]``),
    :math:`1 - \beta_1`, :math:`\beta_2`, :math:`1 - \beta_2`, :math:`\epsilon`, and ``w``:
    the L2 decay :math:`\lambda` (``decay="l2"``), the decoupled factor
    :math:`1 - \eta\lambda` (``decay="decoupled"``) or None.
    """

    def __init__(
        self, P: Array, G: Array, M: Array, V: Array, lr: Array, ats: Sequence[tuple],
        cast: dict[str, Array], dtype: np.dtype, decay: str | None,
    ) -> None:  # fmt: skip
        K = P.shape[0]
        if G.dtype != P.dtype:
            raise InitlabError(f"a gradient is {G.dtype}, its parameter {P.dtype}: give them "
                               "one dtype")  # fmt: skip
        self.P, self.G, self.ats, self.lr_key = P, G, list(ats), (np.shape(lr), lr.dtype)
        self.coef = np.empty(np.broadcast_shapes(np.shape(lr), cast["eps"].shape), dtype)
        keep = np.result_type(lr, cast["wd"])  # 1 - lr wd: as the expression computes it
        self.keep = np.empty(self.coef.shape, keep) if decay == "decoupled" else None
        w = {"l2": cast["wd"], "decoupled": self.keep}.get(decay or "")
        sizes = [P[at].size for at in self.ats]
        flat = [np.empty(max(sizes), np.result_type(P, G, M, V)) for _ in range(2)]
        self.views: list[tuple] = []
        for at, size in zip(self.ats, sizes, strict=True):
            c = member_rows(at, K)
            p = P[at]
            s0, s1 = (buf[:size].reshape(p.shape) for buf in flat)
            self.views.append((
                p, M[at], V[at], s0, s1, c(self.coef), c(cast["bc2_sqrt"]), c(cast["one_b1"]),
                c(cast["b2"]), c(cast["one_b2"]), c(cast["eps"]), None if w is None else c(w),
            ))  # fmt: skip
        self.gs = [G[at] for at in self.ats]

    def fits(self, P: Array, G: Array, lr: Array) -> bool:
        """Whether these views serve a step of `P` with gradient `G` (whose views are made
        again if it is another array of its shape) and rate `lr`: the blocks depend only on
        the shapes, which the moments (made once for `P`) and `G` keep."""
        return (
            P is self.P and G.shape == self.G.shape and G.dtype == self.G.dtype
            and (np.shape(lr), lr.dtype) == self.lr_key
        )  # fmt: skip

    def set_rates(self, lr: Array, bc1: Array, wd: Array | None) -> None:
        r"""This step's ``coef`` :math:`= (\eta / (1 - \beta_1^t))` (in float64, then one
        cast) and, given the decay `wd` (decoupled), :math:`1 - \eta\lambda`."""
        np.copyto(self.coef, (lr.astype(np.float64) / bc1).astype(self.coef.dtype))
        if self.keep is not None and wd is not None:
            np.copyto(self.keep, 1 - lr * wd)

    def blocks(self, G: Array) -> Iterator[tuple[tuple, Array]]:
        """Each block's views and the block of the gradient `G`."""
        if G is not self.G:
            self.G, self.gs = G, [G[at] for at in self.ats]
        return zip(self.views, self.gs, strict=True)


def member_rows(at: tuple[slice, ...], K: int):
    """A per-member coefficient ``(K, 1, 1)`` restricted to the members of block `at`
    (a scalar or a coefficient of one row, broadcast to all, as it is)."""
    return lambda x: x[at[0]] if np.ndim(x) and np.shape(x)[0] == K else x
