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
"""

from __future__ import annotations

import math

import numpy as np

from initlab._validation import InitlabError, check_number

Array = np.ndarray


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
    """

    def __init__(
        self,
        m: int,
        iterations: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
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
        self.per_epoch = math.ceil(m / self.batch_size)
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
            self._epoch = (epoch, batch_order(self.m, self.batch_size, epoch, self.seed))
        return self._epoch[1][j]
