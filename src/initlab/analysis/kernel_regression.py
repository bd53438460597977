r"""Predictions of infinitely wide networks: the NNGP posterior and NTK gradient descent.

Lee et al. 2018 (Bayesian inference with the NNGP kernel :math:`K`) and Lee et al. 2019
(gradient descent with the NTK :math:`\Theta`). Layout as everywhere in initlab: targets
``Y`` are ``(n_out, m)``, one column per example; kernels are ``K[i, j] = K(x_i, x_j)``,
``(m, m)`` on the training set and ``(m*, m)`` from test to training inputs.

**GP posterior** (:func:`gp_posterior`): mean :math:`K_{*X} (K + \sigma^2 I)^{-1} Y^T` and
variance :math:`K_{**} - K_{*X}(K + \sigma^2 I)^{-1}K_{X*}`, by a Cholesky factor of
:math:`K + (\sigma^2 + \epsilon\,\overline{K_{ii}}) I` with the stated relative jitter
:math:`\epsilon` (:data:`JITTER` = 1e-10 by default).

**NTK gradient descent** (:func:`ntk_predict`). initlab's full-batch GD on the MSE cost
:math:`J = \frac{1}{2m}\sum_i \lVert f(x_i) - y_i\rVert^2` (the ``linear`` head) at rate
:math:`\eta`, on a network linearized around its initial parameters, moves the training
residual :math:`r_t = f_t(X) - Y` as :math:`r_{t+1} = (I - \tfrac{\eta}{m}\Theta) r_t`, so
after :math:`t` steps

.. math::

    f_t(x_*) = f_0(x_*) - \Theta_{*X}\, \Theta^{-1}\left(I - (I - \tfrac{\eta}{m}\Theta)^t
    \right) (f_0(X) - Y),

and :math:`f_\infty(x_*) = f_0(x_*) - \Theta_{*X}\Theta^{-1}(f_0(X) - Y)`; with
:math:`f_0 = 0` (the mean over initializations) these are the kernel's mean predictions.
Computed from the eigendecomposition :math:`\Theta = V \operatorname{diag}(\lambda) V^T`
(:func:`numpy.linalg.eigh`): :math:`\Theta^{-1}(I - (I - \eta\Theta/m)^t)` has eigenvalues
:math:`-\operatorname{expm1}(t \log(1 - \eta\lambda/m))/\lambda`, which tends to
:math:`t\eta/m` as :math:`\lambda \to 0`; eigenvalues below :data:`RCOND`
:math:`\lambda_{max}` are taken as 0 (that limit; a pseudo-inverse at :math:`t = \infty`).
The continuous-time flow of Lee et al. is the limit :math:`\eta \to 0` with :math:`\eta t`
fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from initlab._validation import InitlabError, check_number

Array = np.ndarray
JITTER = 1e-10
r"""Relative jitter :math:`\epsilon` added to the diagonal before the Cholesky factor."""
RCOND = 1e-12
r"""Eigenvalues of :math:`\Theta` below this times the largest are treated as zero."""


def _square(K: Array, name: str) -> Array:
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or not np.all(np.isfinite(K)):
        raise InitlabError(f"{name} must be a finite square matrix; got shape {K.shape}")
    return K


def _targets(Y: Array, m: int) -> Array:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != m:
        raise InitlabError(f"Y has shape {Y.shape}; expected (n_out, {m}), one column per example")
    return Y


def _cross(K: Array, m: int, name: str) -> Array:
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[1] != m:
        raise InitlabError(f"{name} has shape {K.shape}; expected (m_test, {m})")
    return K


def gp_posterior(
    K_train: Array,
    K_cross: Array,
    Y: Array,
    K_test_diag: Array | None = None,
    *,
    noise: float = 0.0,
    jitter: float = JITTER,
) -> tuple[Array, Array | None]:
    r"""Posterior mean ``(n_out, m*)`` and variance ``(m*,)`` of the NNGP (module docstring).

    Parameters
    ----------
    K_train : ndarray (m, m)
    K_cross : ndarray (m*, m)
        Kernel from test to training inputs.
    Y : ndarray (n_out, m)
    K_test_diag : ndarray (m*,), optional
        :math:`K(x_*, x_*)`; the variance is returned only if given.
    noise : float
        Observation noise variance :math:`\sigma^2`.
    jitter : float
        :math:`\epsilon`; raise it if the factorization fails.
    """
    from scipy.linalg import cho_factor, cho_solve

    K = _square(K_train, "K_train")
    m = K.shape[0]
    Y, Kx = _targets(Y, m), _cross(K_cross, m, "K_cross")
    noise = float(check_number("noise", noise, low=0))
    jitter = float(check_number("jitter", jitter, low=0))
    shift = noise + jitter * float(np.mean(np.diag(K)))
    try:
        factor = cho_factor(K + shift * np.eye(m), lower=True)
    except np.linalg.LinAlgError:
        raise InitlabError(
            f"the kernel plus {shift:.3g} I is not positive definite (Cholesky failed); "
            "raise jitter or noise"
        ) from None
    mean = (Kx @ cho_solve(factor, Y.T)).T
    if K_test_diag is None:
        return mean, None
    var = np.asarray(K_test_diag, dtype=np.float64) - np.einsum(
        "ij,ji->i", Kx, cho_solve(factor, Kx.T)
    )
    return mean, var


def _filter(lam: Array, t: float, rate: float) -> Array:
    r""":math:`(1 - (1 - \eta\lambda/m)^t)/\lambda` per eigenvalue (``rate`` = eta/m)."""
    top = max(float(lam.max()), 0.0)
    small = lam <= RCOND * top
    safe = np.where(small, 1.0, lam)
    if math.isinf(t):
        return np.where(small, 0.0, 1.0 / safe)
    x = rate * safe
    stable = x < 0.5  # expm1/log1p keep the digits of 1 - (1 - x)^t for small x
    with np.errstate(invalid="ignore"):  # (1 - x)^t < 0 for 1 < x < 2: an oscillating mode
        decay = np.where(
            stable, -np.expm1(t * np.log1p(-np.where(stable, x, 0.0))), 1.0 - np.power(1.0 - x, t)
        )
    return np.where(small, t * rate, decay / safe)


def ntk_predict(
    T_train: Array,
    T_cross: Array,
    Y: Array,
    *,
    times: Array | list[float] = (math.inf,),
    learning_rate: float | None = None,
    f0_train: Array | None = None,
    f0_test: Array | None = None,
) -> Array:
    r"""Test outputs of NTK gradient descent after each of `times` steps (module docstring).

    Parameters
    ----------
    T_train : ndarray (m, m)
    T_cross : ndarray (m*, m)
    Y : ndarray (n_out, m)
    times : sequence of float
        Steps :math:`t` (``inf``: the end of training).
    learning_rate : float
        :math:`\eta`; needed for finite times, and below :math:`2m/\lambda_{max}` (else GD
        diverges and so does the prediction: refused).
    f0_train, f0_test : ndarray (n_out, m), (n_out, m*), optional
        A network's initial outputs (default 0, the mean over initializations).

    Returns
    -------
    ndarray (len(times), n_out, m*)
    """
    T = _square(T_train, "T_train")
    m = T.shape[0]
    Y, Tx = _targets(Y, m), _cross(T_cross, m, "T_cross")
    f0 = np.zeros_like(Y) if f0_train is None else _targets(f0_train, m)
    g0 = np.zeros((Y.shape[0], Tx.shape[0])) if f0_test is None else np.asarray(f0_test)
    lam, V = np.linalg.eigh(T)
    times = [float(t) for t in np.atleast_1d(times)]
    finite = [t for t in times if not math.isinf(t)]
    if finite and learning_rate is None:
        raise InitlabError("ntk_predict needs learning_rate for finite times")
    rate = 0.0 if learning_rate is None else float(learning_rate) / m
    if finite and rate * lam.max() >= 2.0:
        raise InitlabError(
            f"learning_rate {learning_rate:g} >= 2 m / lambda_max = {2 / (lam.max() / m):.4g}: "
            "gradient descent diverges on this kernel"
        )
    R = V.T @ (f0 - Y).T  # residual in the eigenbasis, (m, n_out)
    out = np.empty((len(times), Y.shape[0], Tx.shape[0]))
    for i, t in enumerate(times):
        out[i] = g0 - (Tx @ (V @ (_filter(lam, t, rate)[:, None] * R))).T
    return out


@dataclass(frozen=True)
class Scores:
    """Test mean squared error (mean over entries) and accuracy (NaN for regression)."""

    mse: float
    accuracy: float


def regression_targets(labels: Array, n_classes: int) -> Array:
    r"""Class labels ``(1, m)`` as regression targets: :math:`\pm 1` for two classes
    ``(1, m)``, else one-hot minus :math:`1/C` ``(C, m)`` (Lee et al. 2018's centring)."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    if n_classes == 2:
        return (2.0 * labels - 1.0)[None, :]
    return np.eye(n_classes)[:, labels] - 1.0 / n_classes


def scores(prediction: Array, Y: Array) -> Scores:
    """:class:`Scores` of `prediction` ``(n_out, m)`` against :func:`regression_targets`."""
    P, Y = np.asarray(prediction, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    mse = float(np.mean((P - Y) ** 2))
    if Y.shape[0] == 1:
        acc = float(np.mean(np.sign(P[0]) == np.sign(Y[0])))
    else:
        acc = float(np.mean(P.argmax(axis=0) == Y.argmax(axis=0)))
    return Scores(mse, acc)


def condition_number(K: Array) -> float:
    r""":math:`\lambda_{max}/\lambda_{min}` of a symmetric PSD kernel matrix (inf if
    :math:`\lambda_{min} \le 0` in rounding)."""
    lam = np.linalg.eigvalsh(_square(K, "K"))
    return float(lam[-1] / lam[0]) if lam[0] > 0 else math.inf
