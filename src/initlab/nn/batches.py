r"""Which training columns each step sees: full batch, or seeded mini-batches per epoch.

With ``batch_size`` :math:`B < m`, an epoch is :math:`\lceil m / B \rceil` steps. Epoch
:math:`e = 0, 1, \dots` draws the permutation

.. code-block:: python

    order = numpy.random.default_rng([shuffle_seed, e]).permutation(m)

(NumPy's ``SeedSequence([shuffle_seed, e])`` feeding PCG64; its output is fixed by NumPy's
stream-compatibility policy for ``Generator.permutation``), and step :math:`j` of the epoch
takes the columns ``order[j * B : (j + 1) * B]``; the last batch of an epoch holds the
remaining :math:`m - (\lceil m/B \rceil - 1) B` columns (PyTorch's ``drop_last=False``).
To replay the order elsewhere, compute the same ``order`` arrays with NumPy (see
:func:`batch_order`) and index the data with them. Epoch orders do not depend on each other,
nor on the number of steps. With :math:`B \ge m` (the default) every step takes all m
columns in their order: the post's full-batch gradient descent, no shuffle.

``order="stream"`` is the order the width-scaling studies (:mod:`initlab.studies.scaling`)
have always used, kept so that their stored numbers keep their bits: one generator
``numpy.random.default_rng(shuffle_seed)`` draws ``permutation(m)`` for epoch 0, then for
epoch 1, and so on, and an epoch is :math:`\lfloor m / B \rfloor` steps of consecutive
slices (an incomplete last slice is dropped, PyTorch's ``drop_last=True``). The two orders
agree on full batches and on epoch 0 (``SeedSequence([s, 0])`` is ``SeedSequence(s)``: the
same first permutation), and differ from epoch 1 on (a ``SeedSequence`` per epoch against
one stream's next draw); with :math:`B \nmid m` their epochs also have different lengths.
In the stream, epoch e's order depends on every earlier epoch's draw.
"""

from __future__ import annotations

import math

import numpy as np

from initlab._validation import InitlabError, check_number

Array = np.ndarray


ORDERS = ("epochs", "stream")
"""The batch orders of :class:`Schedule` (see the module docstring)."""


def batch_order(m: int, batch_size: int, epoch: int, seed: int) -> list[Array]:
    """The column indices of each step of `epoch` (see the module docstring)."""
    order = np.random.default_rng([seed, epoch]).permutation(m)
    return [order[j : j + batch_size] for j in range(0, m, batch_size)]


class Schedule:
    """The steps of a run: how many, and the columns of each.

    Parameters
    ----------
    m : int
        Training examples.
    iterations, epochs : int, optional
        Exactly one: the number of steps, or of passes over the data.
    batch_size : int, optional
        Columns per step; by default (and when >= m) all of them.
    seed : int
        ``shuffle_seed`` of the epoch permutations.
    order : {"epochs", "stream"}
        A permutation per epoch from its own seed, the last batch kept (default), or one
        stream of permutations, incomplete batches dropped (see the module docstring).
    """

    def __init__(
        self,
        m: int,
        iterations: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        order: str = "epochs",
    ) -> None:
        if (iterations is None) == (epochs is None):
            raise InitlabError(
                f"give exactly one of iterations and epochs; got iterations={iterations!r}, "
                f"epochs={epochs!r}"
            )
        B = m if batch_size is None else int(check_number("batch_size", batch_size, low=1,
                                                           integer=True))  # fmt: skip
        self.m, self.batch_size = m, min(B, m)
        self.seed = int(check_number("shuffle_seed", seed, low=0, integer=True))
        if order not in ORDERS:
            raise InitlabError(f"batch order must be one of {', '.join(ORDERS)}; got {order!r}")
        self.order = order
        stream = order == "stream"
        self.per_epoch = (m // self.batch_size) if stream else math.ceil(m / self.batch_size)
        self._stream: tuple[int, np.random.Generator] | None = None  # (epochs drawn, stream)
        if iterations is not None:
            self.steps = int(check_number("iterations", iterations, low=1, integer=True))
        else:
            self.steps = self.per_epoch * int(check_number("epochs", epochs, low=1, integer=True))
        self._epoch: tuple[int, list[Array]] = (-1, [])

    @property
    def full(self) -> bool:
        return self.batch_size >= self.m

    def cols(self, i: int) -> Array | None:
        """Columns of step `i`, or None for all of them in order (full batch)."""
        if self.full:
            return None
        epoch, j = divmod(i, self.per_epoch)
        if self._epoch[0] != epoch:
            self._epoch = (epoch, self._batches(epoch))
        return self._epoch[1][j]

    def _batches(self, epoch: int) -> list[Array]:
        """The column indices of each step of `epoch`."""
        if self.order == "epochs":
            return batch_order(self.m, self.batch_size, epoch, self.seed)
        if self._stream is None or self._stream[0] > epoch:  # (re)start the stream
            self._stream = (0, np.random.default_rng(self.seed))
        drawn, rng = self._stream
        for _ in range(drawn, epoch):  # the epochs between: drawn and passed over
            rng.permutation(self.m)
        order, B = rng.permutation(self.m), self.batch_size
        self._stream = (epoch + 1, rng)
        return [order[j : j + B] for j in range(0, self.per_epoch * B, B)]
