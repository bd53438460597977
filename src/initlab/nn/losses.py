r"""Output heads: an output nonlinearity with its loss, computed stably from the logits.

A head turns the logits :math:`Z_L` (``(K, n_L, m)``) and the targets ``Y`` (``(n_L, m)``,
one column per example) into

- ``loss(Z, Y) -> (K,)``: the cost :math:`J = \frac{1}{m}\sum_i \ell(z_i, y_i)`, the mean over
  examples of the per-example loss :math:`\ell`, *summed* over the outputs;
- ``dZ(Z, Y) -> (K, n_L, m)``: :math:`\partial \ell(z_i, y_i) / \partial z_i`, the top
  gradient of back-propagation (not divided by m: :func:`initlab.nn.network.backward`
  divides once, for every layer);
- ``accuracy(Z, Y) -> (K,)``, ``predict(Z)`` (targets' format) and ``output(Z)`` (the
  head's :math:`A_L`).

``sigmoid`` (targets in {0, 1}, one or more outputs; binary cross-entropy)
    .. math:: \ell(z, y) = \textstyle\sum_j \max(z_j, 0) - z_j y_j + \log(1 + e^{-|z_j|}),
              \qquad \partial\ell/\partial z = \sigma(z) - y
``softmax`` (one-hot targets, at least 2 outputs; cross-entropy)
    .. math:: \ell(z, y) = \operatorname{logsumexp}(z) - y^T z,
              \qquad \partial\ell/\partial z = \operatorname{softmax}(z) - y
``linear`` (real targets; squared error)
    .. math:: \ell(z, y) = \tfrac12 \lVert z - y \rVert^2,
              \qquad \partial\ell/\partial z = z - y

Every form is finite where the naive one overflows or takes :math:`\log 0` (logits of
:math:`\pm 800` in float64). In PyTorch's terms: sigmoid is ``n_L * BCEWithLogitsLoss()``
(which averages over outputs too), softmax is ``CrossEntropyLoss()`` on class indices, linear
is ``0.5 * n_L * MSELoss()``.

Accuracy: sigmoid, the fraction of entries with :math:`(\sigma(z) \ge 0.5) = y` (over outputs
and examples; with one output, the post's rule, made on :math:`\sigma(z)` and not on the sign
of :math:`z`: the two differ where the sigmoid rounds a tiny negative logit to 0.5); softmax,
the fraction of examples whose largest logit is the target class (the first on ties,
``argmax``); linear, NaN (a regression has no accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from initlab._validation import InitlabError, unknown_name

Array = np.ndarray


def bce_with_logits(Z: Array, Y: Array) -> Array:
    r"""Binary cross-entropy from logits, averaged over examples and outputs.

    .. math::

        \ell(z, y) = \max(z, 0) - z y + \log(1 + e^{-|z|}),

    equal to :math:`-y \log \sigma(z) - (1-y)\log(1-\sigma(z))` and finite where
    :math:`\sigma(z)` rounds to 0 or 1.

    Parameters
    ----------
    Z : ndarray (K, n, m) or (n, m)
        Logits.
    Y : ndarray (n, m)
        Labels in {0, 1}.

    Returns
    -------
    ndarray (K,) (or 0-d for 2-D `Z`)
        The mean of :math:`\ell` over the last two axes (for one output, the post's cost).
    """
    losses = np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
    return losses.mean(axis=(-2, -1))


def _sigmoid_loss(Z: Array, Y: Array) -> Array:
    # the mean over (outputs, examples) times n_outputs: the sum over outputs, and for one
    # output exactly the post's (and every earlier initlab result's) arithmetic
    return Z.shape[-2] * bce_with_logits(Z, Y)


def _sigmoid_accuracy(Z: Array, Y: Array) -> Array:
    return ((expit(Z) >= 0.5) == (Y == 1)).mean(axis=(-2, -1))


def logsumexp_outputs(Z: Array) -> Array:
    r""":math:`\log \sum_j e^{z_j}` over the outputs (axis -2), as SciPy's ``logsumexp(Z,
    axis=-2)`` computes it (SciPy 1.17, real input), without its array-API dispatch
    (ten times its arithmetic on a population's logits).

    The same operations in the same order, so the same bits (``tests/test_losses.py`` holds
    them to SciPy's, with ties, infinities and NaN): with :math:`z^* = \max_j z_j`, c the
    number of j with :math:`z_j = z^*`, :math:`s = \sum_{z_j < z^*} e^{z_j - z^*}` (divided
    by c unless 0), the result is :math:`(\operatorname{log1p}(s) + \log c) + z^*`; where
    that is not finite, :math:`\log \sum_j e^{z_j}`. (SciPy's sign bookkeeping never acts
    on real input: :math:`s \ge 0` and :math:`c \ge 0`.)

    Parameters
    ----------
    Z : ndarray (..., n, m)

    Returns
    -------
    ndarray (..., m)
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        top = np.max(Z, axis=-2, keepdims=True)
        at_top = Z == top
        c = np.sum(at_top, axis=-2, keepdims=True, dtype=Z.dtype)
        shifted = np.subtract(np.where(at_top, -np.inf, Z), top)
        s = np.sum(np.exp(shifted, out=shifted), axis=-2, keepdims=True)
        np.divide(s, c, out=s, where=s != 0)
        out = np.log1p(s) + np.log(c) + top
        bad = ~np.isfinite(out)
        if bad.any():
            out[bad] = np.log(np.sum(np.exp(Z), axis=-2, keepdims=True))[bad]
    return out[..., 0, :]


def _softmax(Z: Array) -> Array:
    """SciPy's ``softmax(Z, axis=-2)``, its operations without its dispatch."""
    E = np.exp(Z - np.max(Z, axis=-2, keepdims=True))
    return np.divide(E, np.sum(E, axis=-2, keepdims=True), out=E)


def _softmax_loss(Z: Array, Y: Array) -> Array:
    per_example = logsumexp_outputs(Z) - np.sum(Y * Z, axis=-2)
    return per_example.mean(axis=-1)


def _softmax_accuracy(Z: Array, Y: Array) -> Array:
    return (np.argmax(Z, axis=-2) == np.argmax(Y, axis=-2)).mean(axis=-1)


def _softmax_predict(Z: Array) -> Array:
    classes = np.arange(Z.shape[-2])[:, None]
    return (classes == np.expand_dims(np.argmax(Z, axis=-2), -2)).astype(Z.dtype)


def _linear_loss(Z: Array, Y: Array) -> Array:
    R = Z - Y
    return 0.5 * np.sum(R * R, axis=-2).mean(axis=-1)


def _linear_accuracy(Z: Array, Y: Array) -> Array:
    return np.full(Z.shape[:-2], np.nan)


def _check_binary(Y: Array, name: str) -> None:
    if not np.isin(Y, (0.0, 1.0)).all():
        found = np.unique(Y[~np.isin(Y, (0.0, 1.0))])[:5]
        raise InitlabError(f"{name} must hold labels 0 and 1 only; found {found.tolist()}")


def _check_one_hot(Y: Array, name: str) -> None:
    _check_binary(Y, name)
    sums = Y.sum(axis=0)
    if not (sums == 1).all():
        i = int(np.flatnonzero(sums != 1)[0])
        raise InitlabError(
            f"{name} must be one-hot (one 1 per column) for the softmax head; column {i} "
            f"has {int(sums[i])} ones"
        )


def _check_real(Y: Array, name: str) -> None:
    if not np.isfinite(Y).all():
        raise InitlabError(f"{name} must be finite for the linear head")


@dataclass(frozen=True)
class Head:
    r"""An output head (see the module docstring for the formulas).

    Attributes
    ----------
    name : str
    loss : callable ``(Z, Y) -> (K,)``
    dZ : callable ``(Z, Y) -> (K, n_L, m)``, the gradient of the per-example loss
    output : callable ``Z -> A_L``
    accuracy : callable ``(Z, Y) -> (K,)``
    predict : callable ``Z -> predicted targets`` in the format of ``Y``: {0, 1} entries
        (sigmoid, :math:`\sigma(z) \ge 0.5`), one-hot columns (softmax, argmax), the logits
        (linear)
    check : callable ``(Y, name)``, raising for targets the head cannot take
    min_outputs : int
        The fewest output units the head accepts.
    nonnegative : bool
        Whether ``loss`` is never negative (nor :math:`-\infty`): :math:`\ge 0`,
        :math:`+\infty` or NaN. True for ``sigmoid`` (:math:`\max(z, 0) - z y` is
        :math:`\max(z, 0)` or :math:`\max(-z, 0)`, exactly, for :math:`y \in \{0, 1\}`,
        and :math:`\log(1 + e^{-|z|}) \ge 0`) and ``linear`` (a sum of squares); each
        term is :math:`\ge 0` after rounding, so are their rounded sum and mean. The
        training loop then tests :math:`J \le` limit for divergence without :math:`|J|`.
        False (the safe default) for ``softmax``, whose :math:`\operatorname{logsumexp}`
        is SciPy's arithmetic.
    """

    name: str
    loss: Callable[[Array, Array], Array] = field(repr=False)
    dZ: Callable[[Array, Array], Array] = field(repr=False)
    output: Callable[[Array], Array] = field(repr=False)
    accuracy: Callable[[Array, Array], Array] = field(repr=False)
    predict: Callable[[Array], Array] = field(repr=False)
    check: Callable[[Array, str], None] = field(repr=False)
    min_outputs: int = 1
    nonnegative: bool = False

    def check_targets(self, Y: object, n_out: int, m: int, name: str = "Y") -> Array:
        """`Y` as a float64 ``(n_out, m)`` array, or a clear error (a 1-D `Y` is one row)."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[None, :]
        if Y.shape != (n_out, m):
            raise InitlabError(
                f"{name} has shape {Y.shape}, but the network has {n_out} output(s) and X has "
                f"{m} examples: expected ({n_out}, {m})"
            )
        self.check(Y, name)
        return Y

    def check_outputs(self, n_out: int) -> None:
        if n_out < self.min_outputs:
            raise InitlabError(
                f"the {self.name} head needs at least {self.min_outputs} output units; the "
                f"network has {n_out}"
            )


HEADS: dict[str, Head] = {
    "sigmoid": Head(
        "sigmoid", _sigmoid_loss, dZ=lambda Z, Y: expit(Z) - Y, output=expit,
        accuracy=_sigmoid_accuracy, predict=lambda Z: (expit(Z) >= 0.5).astype(Z.dtype),
        check=_check_binary, nonnegative=True,
    ),
    "softmax": Head(
        "softmax", _softmax_loss, dZ=lambda Z, Y: _softmax(Z) - Y, output=_softmax,
        accuracy=_softmax_accuracy, predict=_softmax_predict, check=_check_one_hot, min_outputs=2,
    ),
    "linear": Head(
        "linear", _linear_loss, dZ=lambda Z, Y: Z - Y, output=lambda Z: Z,
        accuracy=_linear_accuracy, predict=lambda Z: Z, check=_check_real, nonnegative=True,
    ),
}  # fmt: skip


def get_head(name: str | Head) -> Head:
    """The head `name` (``"sigmoid"``, ``"softmax"``, ``"linear"``), or `name` if a Head."""
    if isinstance(name, Head):
        return name
    if name not in HEADS:
        raise unknown_name("head", name, HEADS)
    return HEADS[name]
