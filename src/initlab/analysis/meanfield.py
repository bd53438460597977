r"""Mean-field maps of one layer: Gaussian expectations, the variance map, q*, chi_1, the
critical line and the phase.

The formulas are in :mod:`initlab.analysis.theory`'s docstring (which re-exports every
public name here): :math:`q_l = \sigma_w^2 E_z[\phi(\sqrt{q_{l-1}} z)^2] + \sigma_b^2`
and :math:`\chi_1 = \sigma_w^2 E_z[\phi'(\sqrt{q^*} z)^2]` (Poole et al. 2016;
Schoenholz et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial.legendre import leggauss

from initlab._validation import InitlabError, check_number
from initlab.nn import activations as _activations

Array = np.ndarray
ActivationLike = str | _activations.Activation
CRITICAL_TOL = 0.01
r""":func:`phase` calls :math:`|\ln\chi_1| \le 0.01` critical: gradients change by less than
a factor :math:`e` over 100 layers."""

_NODES = 96  # Gauss-Legendre nodes per half-line
_Z_MAX = 10.0  # P(|z| > 10) = 1.5e-23
_Q_MIN, _Q_MAX = 1e-20, 1e20  # range of fixed points searched (and of tested accuracy)
_FLAT = 1e-12  # |ln V(q) - ln q| below this at Q_MIN or Q_MAX: the map is flat there
_G_TOL = 4e-15  # stop when |ln V(q) - ln q| (rounding ~1e-15) or the bracket is this small
_MAX_STEPS = 100


# --- Gaussian expectations --------------------------------------------------------------


@lru_cache(maxsize=4)
def _legendre(n: int) -> tuple[Array, Array]:
    t, w = leggauss(n)
    return (t + 1) / 2, w / 2  # on [0, 1]


def _rule(q: Array) -> tuple[Array, Array]:
    """Nodes ``u = sqrt(q) z`` and weights for E_z[f(sqrt(q) z)], shape ``q.shape + (2n,)``."""
    s = np.sqrt(q)[..., None]
    a = 1.0 / np.maximum(s, 1.0)  # the scale on which f(s z) varies in z: min(1, 1/s)
    b = np.arcsinh(_Z_MAX / a)
    t, w = _legendre(_NODES)
    e = np.exp(b * t)
    z = a * (e - 1 / e) / 2  # a sinh(b t)
    weight = (w / math.sqrt(8.0 * math.pi)) * a * b * (e + 1 / e) * np.exp(-0.5 * z * z)
    u = s * z
    return np.concatenate([u, -u], axis=-1), np.concatenate([weight, weight], axis=-1)


def _check_q(q: Any) -> Array:
    q = np.asarray(q, dtype=np.float64)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise InitlabError(f"q must be finite and >= 0 (a variance); got {q}")
    return q


def gaussian_expectation(f: Callable[[Array], Array], q: float | Array) -> float | Array:
    r"""Return :math:`E_z[f(\sqrt{q}\, z)]`, :math:`z \sim N(0, 1)`, by quadrature.

    .. math::

        E_z[f(\sqrt q z)] = \int_0^{Z} \left[f(\sqrt q z) + f(-\sqrt q z)\right]
            \frac{e^{-z^2/2}}{\sqrt{2\pi}}\, dz, \qquad z = a \sinh(b t),\ t \in [0, 1],

    with :math:`Z = 10` (the tail beyond carries 1.5e-23 of the mass),
    :math:`a = \min(1, 1/\sqrt q)` and :math:`b = \operatorname{asinh}(Z/a)`, integrated in
    :math:`t` by 96-point Gauss-Legendre on each half-line (192 evaluations of `f`).

    Why not plain Gauss-Hermite: :math:`\phi(\sqrt q z)` varies on the scale
    :math:`1/\sqrt q` in :math:`z`, and the nodes of a 101-point Gauss-Hermite rule are
    about 0.2 apart near 0. That rule is exact to 1e-9 for :math:`E[\tanh'(\sqrt q z)^2]`
    at :math:`q = 1`, but 30% off at :math:`q = 30` and useless at :math:`q = 10^3`, where
    a large random init (the post's ``random``, :math:`q \approx 10^5`) lives. The
    :math:`\sinh` map puts nodes densely where :math:`\phi` varies and geometrically
    sparser in the Gaussian tails, and the split at :math:`z = 0` puts no node on the kink
    of ReLU-type units. Tested (``tests/test_theory.py``) against closed forms, against
    Gauss-Hermite at small :math:`q` and against adaptive quadrature: relative error below
    1e-12 for :math:`0 \le q \le 10^{20}` (measured: 2e-12 at :math:`10^{24}`, 1e-10 at
    :math:`10^{30}`, as the nodes spread over more decades of :math:`z`).

    Parameters
    ----------
    f : callable
        Elementwise, vectorized: ``f(u) -> array`` of ``u``'s shape.
    q : float or ndarray
        Variance(s) :math:`\ge 0`; arrays give an array of the same shape.

    Returns
    -------
    float or ndarray
    """
    q = _check_q(q)
    u, weight = _rule(q)
    result = np.sum(weight * f(u), axis=-1)
    return float(result) if result.ndim == 0 else result


def _phi2(act: _activations.Activation) -> Callable[[Array], Array]:
    return lambda u: act.f(u) ** 2


def _dphi2(act: _activations.Activation) -> Callable[[Array], Array]:
    return lambda u: act.df(u, act.f(u)) ** 2


# --- the mean-field maps ----------------------------------------------------------------


def _check_nonneg(name: str, x: Any) -> Array:
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InitlabError(f"{name} must be finite and >= 0; got {x}")
    return x


def _scalar_or_array(x: Array) -> float | Array:
    return float(x) if np.ndim(x) == 0 else x


def variance_map(
    act: ActivationLike, sigma_w2: float | Array, sigma_b2: float | Array, q: float | Array
) -> float | Array:
    r"""One layer of the forward variance map.

    .. math::

        V(q) = \sigma_w^2\, E_z\!\left[\phi(\sqrt q\, z)^2\right] + \sigma_b^2

    the variance of :math:`Z_l` when :math:`Z_{l-1}` has variance :math:`q`. Arguments
    broadcast against each other.

    Parameters
    ----------
    act : str or Activation
        :math:`\phi`, a name of :mod:`initlab.nn.activations` or an Activation object.
    sigma_w2, sigma_b2 : float or ndarray
        :math:`n_{l-1} \operatorname{Var}(W_l)` and :math:`\operatorname{Var}(b_l)`.
    q : float or ndarray
        :math:`q_{l-1}`.
    """
    act = _activations.get(act)
    w2, b2 = _check_nonneg("sigma_w2", sigma_w2), _check_nonneg("sigma_b2", sigma_b2)
    return _scalar_or_array(w2 * gaussian_expectation(_phi2(act), q) + b2)


def fixed_point(
    act: ActivationLike, sigma_w2: float | Array, sigma_b2: float | Array = 0.0
) -> float | Array:
    r"""The stable fixed point :math:`q^* = V(q^*)` of :func:`variance_map`.

    :math:`V(q)/q` decreases in :math:`q` for every supported :math:`\phi` (:math:`V` is
    increasing and concave for tanh and sigmoid, linear for ReLU-type units), so
    :math:`V(q) - q` changes sign at most once on :math:`q > 0`, from + to -: that root is
    the largest fixed point, the one the layers converge to from any :math:`q_1 > 0`. It is
    the root of :math:`g(x) = \ln V(e^x) - x` on :math:`e^x \in [10^{-20}, 10^{20}]`, found
    by the Illinois variant of regula falsi (:math:`g` is close to linear in :math:`x`).

    Returns 0 when the map does not expand even at :math:`q = 10^{-20}` (e.g. tanh with
    :math:`\sigma_b = 0`, :math:`\sigma_w^2 \le 1`: the signal dies), and ``inf`` when it
    does not contract even at :math:`q = 10^{20}` (ReLU-type units with
    :math:`\sigma_w^2 E[\phi(z)^2] \ge 1`: the variance grows without bound or, exactly at 1
    with :math:`\sigma_b = 0`, every :math:`q` is fixed); both decided to
    :math:`|g| \le 10^{-12}`. Arguments broadcast.
    """
    act = _activations.get(act)
    w2, b2 = np.broadcast_arrays(
        _check_nonneg("sigma_w2", sigma_w2), _check_nonneg("sigma_b2", sigma_b2)
    )
    shape, w2, b2 = w2.shape, w2.ravel(), b2.ravel()

    def g(x: Array, k: Array) -> Array:  # ln V(e^x) - x for the entries k
        with np.errstate(divide="ignore"):
            return np.log(w2[k] * gaussian_expectation(_phi2(act), np.exp(x)) + b2[k]) - x

    every = np.arange(w2.size)
    a, b = np.full(w2.size, math.log(_Q_MIN)), np.full(w2.size, math.log(_Q_MAX))
    ga, gb = g(a, every), g(b, every)
    q = np.where(gb >= -_FLAT, np.inf, 0.0)
    k = np.flatnonzero((gb < -_FLAT) & (ga > _FLAT))  # g(a) > 0 > g(b): a root between
    a, b, ga, gb = a[k], b[k], ga[k], gb[k]
    side = np.zeros(k.size)
    for _ in range(_MAX_STEPS):
        x = (a * gb - b * ga) / (gb - ga)
        gx = g(x, k)
        right = gx > 0  # the root is right of x
        gb = np.where(right & (side > 0), gb / 2, gb)  # Illinois: halve the end kept twice
        ga = np.where(~right & (side < 0), ga / 2, ga)
        a, ga = np.where(right, x, a), np.where(right, gx, ga)
        b, gb = np.where(right, b, x), np.where(right, gb, gx)
        side = np.where(right, 1.0, -1.0)
        done = (np.abs(gx) <= _G_TOL) | (b - a <= _G_TOL * np.abs(x))
        q[k[done]] = np.exp(x[done])
        k, a, b, ga, gb, side = (v[~done] for v in (k, a, b, ga, gb, side))
        if k.size == 0:
            break
    return _scalar_or_array(q.reshape(shape))


def chi1(
    act: ActivationLike, sigma_w2: float | Array, sigma_b2: float | Array = 0.0
) -> float | Array:
    r""":math:`\chi_1 = \sigma_w^2\, E_z[\phi'(\sqrt{q^*}\, z)^2]` at the fixed point.

    Gradients grow (:math:`\chi_1 > 1`, chaotic phase) or shrink (:math:`\chi_1 < 1`,
    ordered phase) by :math:`\chi_1` per layer of equal width deep in the network
    (Poole et al. 2016; Schoenholz et al. 2017). At :math:`q^* = 0` or
    ``inf`` the expectation is taken at :math:`q = 10^{-20}` or :math:`10^{20}`, its limit,
    which for tanh at :math:`q^* = 0` is :math:`\phi'(0)^2 = 1` and for ReLU-type units is
    independent of :math:`q` (:math:`\phi'` is scale-free). Arguments broadcast.
    """
    act = _activations.get(act)
    q = np.clip(fixed_point(act, sigma_w2, sigma_b2), _Q_MIN, _Q_MAX)
    w2 = _check_nonneg("sigma_w2", sigma_w2)
    return _scalar_or_array(w2 * gaussian_expectation(_dphi2(act), q))


def critical_sigma_w2(act: ActivationLike, sigma_b2: float = 0.0) -> float:
    r"""The :math:`\sigma_w^2` at which :math:`\chi_1(\sigma_w^2, \sigma_b^2) = 1`.

    1 for tanh and linear units at :math:`\sigma_b = 0`, 2 for ReLU (He et al. 2015), and
    :math:`2/(1 + a^2)` for leaky ReLU of slope :math:`a`. Solved by Brent's method after
    doubling (or halving) :math:`\sigma_w^2` from 1 until :math:`\chi_1 - 1` changes sign.

    Raises
    ------
    InitlabError
        If :math:`\chi_1` does not cross 1 for :math:`2^{-30} \le \sigma_w^2 \le 2^{30}`.
    """
    act = _activations.get(act)
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))

    def excess(w2: float) -> float:
        return float(chi1(act, w2, b2)) - 1.0

    lo = hi = 1.0
    for _ in range(30):
        if excess(hi) >= 0:
            break
        lo, hi = hi, 2 * hi
    for _ in range(30):
        if excess(lo) < 0:
            break
        lo, hi = lo / 2, lo
    if not excess(lo) < 0 <= excess(hi):
        raise InitlabError(
            f"chi_1 of {act.name} does not cross 1 for 2**-30 <= sigma_w^2 <= 2**30 at "
            f"sigma_b^2 = {b2}: this activation has no order-to-chaos transition there"
        )
    from scipy.optimize import brentq  # deferred: ~0.3 s to import, needed only here

    return float(brentq(excess, lo, hi, xtol=1e-13, rtol=1e-14))


def phase_diagram(act: ActivationLike, sigma_w2_grid: Any, sigma_b2_grid: Any) -> Array:
    r""":math:`\chi_1` on a grid, for the order-to-chaos diagram.

    Returns
    -------
    ndarray (len(sigma_b2_grid), len(sigma_w2_grid))
        ``chi[i, j]`` is :math:`\chi_1` at :math:`(\sigma_w^2, \sigma_b^2)` =
        ``(sigma_w2_grid[j], sigma_b2_grid[i])``: rows are :math:`\sigma_b^2`, as
        ``contour(sigma_w2_grid, sigma_b2_grid, chi)`` expects.
    """
    w2 = np.asarray(sigma_w2_grid, dtype=np.float64).ravel()
    b2 = np.asarray(sigma_b2_grid, dtype=np.float64).ravel()
    W2, B2 = np.meshgrid(w2, b2)
    return np.asarray(chi1(act, W2, B2))


def phase(chi: float, tol: float = CRITICAL_TOL) -> str:
    r"""``"ordered"``, ``"critical"`` (:math:`|\ln \chi_1| \le` `tol`) or ``"chaotic"``."""
    if chi > 0 and abs(math.log(chi)) <= tol:
        return "critical"
    return "ordered" if chi < 1 else "chaotic"
