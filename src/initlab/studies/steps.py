r"""Training a :class:`~initlab.nn.residual.ResMLP` population for a few steps, with a
learning-rate factor per parameter: the loop of the scaling experiments
(:mod:`initlab.studies.scaling`), and the 10-class digits they train on.

The loop is the core's update rules (:mod:`initlab.nn.optimizers`) and heads
(:mod:`initlab.nn.losses`) over any model with ``params``, ``forward`` and ``backward``;
:func:`initlab.nn.training.train` remains the loop of the plain MLP experiments (engines,
divergence bookkeeping, diagnostics hooks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.nn.losses import get_head
from initlab.nn.optimizers import get_optimizer
from initlab.nn.residual import ResMLP

Array = np.ndarray


def digits(n_examples: int | None = None, seed: int = 0) -> tuple[Array, Array]:
    """scikit-learn's 8x8 digits as a 10-class task: ``X`` (64, m) in [0, 1], one-hot ``Y``
    (10, m); with `n_examples`, a seeded random subset of that many."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.ascontiguousarray(data.data.T, dtype=np.float64) / 16.0
    Y = np.eye(10)[:, data.target]
    if n_examples is not None:
        check_number("n_examples", n_examples, low=1, high=X.shape[1], integer=True)
        idx = np.sort(np.random.default_rng(seed).permutation(X.shape[1])[:n_examples])
        X, Y = np.ascontiguousarray(X[:, idx]), np.ascontiguousarray(Y[:, idx])
    return X, Y


def train_steps(
    model: ResMLP,
    X: Array,
    Y: Array,
    *,
    learning_rate: float | Array,
    lr_scale: Sequence[float],
    steps: int,
    optimizer: str | dict = "sgd",
    head: str = "softmax",
    batch_size: int | None = None,
    shuffle_seed: int = 0,
    observe: Callable[[int, Array, dict], None] | None = None,
) -> Array:
    r"""Train `model` in place for `steps` updates; return the batch loss before each, ``(K, T)``.

    Parameter ``i`` of member k moves at :math:`\eta_k \cdot` ``lr_scale[i]``. Mini-batches
    (``batch_size``) are consecutive slices of one permutation per epoch from
    ``default_rng(shuffle_seed)`` (an epoch's incomplete last slice is dropped), the same for
    every member. ``observe(t, Z, cache)`` sees the
    forward pass of update t on its batch (a member whose loss is not finite keeps training
    on NaNs: members are independent, so no other member is disturbed).
    """
    T = int(check_number("steps", steps, low=0, integer=True))
    K, m = model.K, X.shape[1]
    lr = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), (K,))
    if len(lr_scale) != len(model.params):
        raise InitlabError(f"{len(lr_scale)} lr factors for {len(model.params)} parameters")
    h, opt = get_head(head), get_optimizer(optimizer)
    state = opt.init_state(model.params, model.params[0].dtype)
    lrs = [(lr * s)[:, None, None] for s in lr_scale]
    bs = m if batch_size is None else int(check_number("batch_size", batch_size, low=1,
                                                         high=m, integer=True))  # fmt: skip
    batches = _batches(m, bs, np.random.default_rng(shuffle_seed))
    losses = np.full((K, T), np.nan)
    grads = None  # the weight gradients' arrays, reused from the second step on
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(T):
            cols = next(batches)
            Xb, Yb = X[:, cols], Y[:, cols]
            Z, cache = model.forward(Xb)
            losses[:, t] = h.loss(Z, Yb)
            if observe is not None:
                observe(t, Z, cache)
            grads = model.backward(h.dZ(Z, Yb), cache, out=grads)
            opt.step(model.params, grads, lrs, state)
    return losses


def _batches(m: int, bs: int, rng: np.random.Generator):
    """Column selections: everything (``bs == m``), or consecutive slices of one permutation
    per epoch (the last, incomplete slice of an epoch is dropped)."""
    while True:
        if bs >= m:
            yield slice(None)
            continue
        order = rng.permutation(m)
        for start in range(0, m - bs + 1, bs):
            yield order[start : start + bs]


def final_loss(model: ResMLP, X: Array, Y: Array, head: str = "softmax") -> Array:
    """Loss of every member on ``(X, Y)``, ``(K,)``; +inf where not finite."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        J = get_head(head).loss(model.forward(X)[0], Y)
    return np.where(np.isfinite(J), J, np.inf)
