r"""The correlation map of two inputs through a deep random network, and its depth scales.

Poole et al. (2016), "Exponential expressivity in deep neural networks through transient
chaos"; Schoenholz et al. (2017), "Deep information propagation". Conventions as in
:mod:`initlab.analysis.theory`: weights of variance :math:`\sigma_w^2/n_{l-1}`, biases of variance
:math:`\sigma_b^2`, :math:`Z_l = W_l \phi(Z_{l-1}) + b_l`.

Two inputs give pre-activations :math:`(u_1, u_2)` whose entries are, over the weights,
jointly Gaussian with variances :math:`q_1, q_2` and covariance :math:`q_{12}`; one layer maps

.. math::

    q_{12}' = \sigma_w^2\, E\!\left[\phi(u_1)\,\phi(u_2)\right] + \sigma_b^2, \qquad
    u_1 = \sqrt{q_1}\, z_1, \quad u_2 = \sqrt{q_2}\left(c z_1 + \sqrt{1-c^2}\, z_2\right),

with :math:`c = q_{12}/\sqrt{q_1 q_2}` and :math:`z_1, z_2` independent :math:`N(0, 1)`. At
the variance fixed point :math:`q^*` (:func:`initlab.analysis.theory.fixed_point`) the correlation
map is :math:`C(c) = q_{12}'/q^*`. :math:`C(1) = 1` always; its slope (Price's theorem,
:math:`\partial E[\phi(u_1)\phi(u_2)]/\partial q_{12} = E[\phi'(u_1)\phi'(u_2)]`, and
:math:`dq_{12} = q\, dc`) at any :math:`q` is

.. math::

    \chi_c(c) = C'(c) = \frac{q\, \sigma_w^2\, E\!\left[\phi'(u_1)\,\phi'(u_2)\right]}{V(q)}
    \;\overset{q = q^*}{=}\; \sigma_w^2\, E\!\left[\phi'(u_1)\,\phi'(u_2)\right],
    \qquad \chi_c(1) = \chi_1 \text{ at } q^* .

**Where** :math:`q^*` **is 0 or infinite** the map is taken in its limit. For scale-free
units (relu, leaky relu, linear: :attr:`initlab.nn.activations.Activation.scale_free`) and
:math:`q^* = \infty` (:math:`\sigma_w^2 E[\phi(z)^2] \ge 1`), or :math:`\sigma_b = 0`,
:math:`C(c) = E[\phi(u_1)\phi(u_2)]/E[\phi(u_1)^2]` exactly, whatever :math:`q`: it is
evaluated at :math:`q = 1` with no bias term. So relu at :math:`\sigma_b^2 = 0`,
:math:`\sigma_w^2 \ge 2` has the normalized arc-cosine map, :math:`C'(1) = 1` and
:math:`c^* = 1` exactly, while :math:`\chi_1 = \sigma_w^2/2` says how the *gradients*
grow (the variance grows by the same factor, so correlations keep their slope). Otherwise
(tanh's :math:`q^* = 0`) the maps are taken at :math:`q = 10^{-20}`.

If :math:`\chi_1 < 1` (ordered) the stable fixed point is :math:`c^* = 1`; if
:math:`\chi_1 > 1` (chaotic) it is the other root :math:`c^* < 1` of :math:`C(c) = c`. Near
the fixed points, :math:`|q_l - q^*| \sim e^{-l/\xi_q}` and :math:`|c_l - c^*| \sim
e^{-l/\xi_c}` with (Schoenholz et al. 2017, eqs. 6-9)

.. math::

    \xi_q^{-1} = -\ln V'(q^*), \quad
    V'(q) = \sigma_w^2\, E\!\left[\phi'(u)^2 + \phi(u)\phi''(u)\right]
          = \frac{\sigma_w^2}{q} E\!\left[u\, \phi(u)\, \phi'(u)\right], \qquad
    \xi_c^{-1} = -\ln \chi_c(c^*),

(the second form of :math:`V'` by Gaussian integration by parts, so only :math:`\phi` and
:math:`\phi'` are needed); :math:`\xi_c = -1/\ln \chi_1` when :math:`c^* = 1`, and both
diverge on the critical line :math:`\chi_1 = 1`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.analysis import theory as theory
from initlab.analysis.gauss2d import gaussian_expectation_2d
from initlab.nn import activations as _activations

Array = np.ndarray
ActivationLike = str | _activations.Activation

_Q_MIN, _Q_MAX = 1e-20, 1e20  # q* = 0 or inf: maps evaluated in their limit, as theory.chi1
_C_GAP = 1e-10  # c* closer to 1 than this is not told apart from 1
_ROUND = 1e-12  # a slope within this of 1 is 1 (the quadrature's rounding is ~1e-15)


def _phi(act: _activations.Activation) -> Callable[[Array], Array]:
    return act.f


def _dphi(act: _activations.Activation) -> Callable[[Array], Array]:
    return lambda u: act.df(u, act.f(u))


# --- the maps -----------------------------------------------------------------------------


def covariance_map(
    act: ActivationLike, sigma_w2: float, sigma_b2: float, q1: float, q2: float, q12: float
) -> tuple[float, float, float]:
    r"""One layer of the joint map :math:`(q_1, q_2, q_{12}) \to (q_1', q_2', q_{12}')`.

    :math:`q_i' = \sigma_w^2 E[\phi(\sqrt{q_i} z)^2] + \sigma_b^2` (:func:`initlab.analysis.theory.
    variance_map`) and :math:`q_{12}' = \sigma_w^2 E[\phi(u_1)\phi(u_2)] + \sigma_b^2` with
    :math:`\operatorname{corr}(u_1, u_2) = q_{12}/\sqrt{q_1 q_2}` (0 if a variance is 0).
    """
    act = _activations.get(act)
    w2 = float(check_number("sigma_w2", sigma_w2, low=0))
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    c = q12 / math.sqrt(q1 * q2) if q1 > 0 and q2 > 0 else 0.0
    c = min(max(c, -1.0), 1.0)
    e12 = gaussian_expectation_2d(act.f, act.f, q1, q2, c)
    v1 = theory.variance_map(act, w2, b2, q1)
    v2 = theory.variance_map(act, w2, b2, q2)
    return float(v1), float(v2), w2 * e12 + b2


def _limit(act: _activations.Activation, w2: float, b2: float) -> tuple[float, float]:
    """``(q, sigma_b^2)`` at which the map at q* is evaluated (module docstring): q* itself;
    ``(1, 0)`` for scale-free units whose q* is infinite or whose bias is 0 (the map is then
    exactly that of q = 1 without bias); else q* clipped to [1e-20, 1e20]."""
    q = float(theory.fixed_point(act, w2, b2))
    if act.scale_free and (b2 == 0.0 or math.isinf(q)):
        return 1.0, 0.0
    return min(max(q, _Q_MIN), _Q_MAX), b2


def _check_wb(w2: Any, b2: Any) -> tuple[float, float]:
    return (
        float(check_number("sigma_w2", w2, low=0)),
        float(check_number("sigma_b2", b2, low=0)),
    )


def correlation_map(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    c: float | Array,
    q: float | None = None,
) -> float | Array:
    r"""One layer of the correlation map for two inputs of equal variance `q`.

    .. math::

        C(c) = \frac{\sigma_w^2\, E[\phi(u_1)\phi(u_2)] + \sigma_b^2}
                    {\sigma_w^2\, E[\phi(u_1)^2] + \sigma_b^2},
        \qquad u_i \sim N(0, q),\ \operatorname{corr}(u_1, u_2) = c .

    `q` defaults to :math:`q^*`, where the denominator is :math:`q^*`; when :math:`q^*` is 0
    or infinite the map is taken in its limit (module docstring: exactly, at :math:`q = 1`
    without bias, for scale-free units). `c` may be an array.

    Raises
    ------
    InitlabError
        If :math:`\sigma_w^2 = \sigma_b^2 = 0`: every pre-activation past the input is 0,
        and its correlation is 0/0.
    """
    act = _activations.get(act)
    w2, b2 = _check_wb(sigma_w2, sigma_b2)
    if w2 == 0.0 and b2 == 0.0:
        raise InitlabError(
            "sigma_w2 = sigma_b2 = 0: every pre-activation is 0 and its correlation is 0/0 "
            "(undefined); give sigma_w2 > 0 or sigma_b2 > 0"
        )
    q, b2 = _at(act, w2, b2, q)
    num = w2 * gaussian_expectation_2d(act.f, act.f, q, q, c) + b2
    return num / float(theory.variance_map(act, w2, b2, q))


def _at(act, w2: float, b2: float, q: float | None) -> tuple[float, float]:
    """The ``(q, sigma_b^2)`` of a map: the limit at q* (:func:`_limit`) or the given q."""
    if q is None:
        return _limit(act, w2, b2)
    return float(check_number("q", q, low=0, low_open=True)), b2


def chi_c(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    c: float | Array | None = None,
    q: float | None = None,
) -> float | Array:
    r"""The slope :math:`\chi_c = C'(c)` of :func:`correlation_map` at `c` and `q`.

    .. math::

        C'(c) = \frac{q\, \sigma_w^2\, E[\phi'(u_1)\phi'(u_2)]}{V(q)}, \qquad
        u_i \sim N(0, q),\ \operatorname{corr}(u_1, u_2) = c,

    which is :math:`\sigma_w^2 E[\phi'(u_1)\phi'(u_2)]` at :math:`q = q^*` (module
    docstring). `q` defaults to :math:`q^*` taken as :func:`correlation_map` takes it (its
    limit where :math:`q^*` is 0 or infinite), `c` to :math:`c^*`
    (:func:`correlation_fixed_point`). At :math:`c = 1` and a finite :math:`q^*` it is
    :math:`\chi_1`; for relu at :math:`\sigma_b^2 = 0` it is 1 at :math:`c = 1` for every
    :math:`\sigma_w^2`.
    """
    act = _activations.get(act)
    w2, b2 = _check_wb(sigma_w2, sigma_b2)
    c = correlation_fixed_point(act, w2, b2) if c is None else c
    q, b2 = _at(act, w2, b2, q)
    slope = gaussian_expectation_2d(_dphi(act), _dphi(act), q, q, c)
    v = float(theory.variance_map(act, w2, b2, q))
    return q * w2 * slope / v if v > 0 else 0.0 * slope  # no signal at all (sigma_w = sigma_b = 0)


def correlation_fixed_point(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    r"""The stable fixed point :math:`c^* \in [0, 1]` of :func:`correlation_map`.

    With equal variances, :math:`E[\phi(u_1)\phi(u_2)] = \sum_n a_n^2 c^n` (Hermite
    expansion), so :math:`C` is increasing and convex on :math:`[0, 1]`, and
    :math:`C(0) \ge 0`. If :math:`\chi_1 \le 1`, :math:`c^* = 1`. Otherwise
    :math:`h(c) = C(c) - c` is convex with :math:`h(1) = 0`, :math:`h'(1) = C'(1) - 1 > 0`
    and :math:`h(0) \ge 0`: it has exactly one other root in :math:`[0, 1)`, found by
    Brent's method after stepping :math:`1 - c = 2^{-k}` toward 1 until :math:`h < 0`.
    A root within :math:`10^{-10}` of 1 is reported as 1 (the chaotic phase is then
    indistinguishable from the critical line).
    """
    act = _activations.get(act)
    w2, b2 = _check_wb(sigma_w2, sigma_b2)
    if float(chi_c(act, w2, b2, 1.0)) <= 1.0 + _ROUND:
        return 1.0
    q, b2 = _limit(act, w2, b2)

    def h(c: float) -> float:
        return float(correlation_map(act, w2, b2, c, q)) - c

    if h(0.0) <= 0.0:
        return 0.0
    gap = 0.5
    while gap >= _C_GAP and h(1.0 - gap) >= 0.0:
        gap /= 2
    if gap < _C_GAP:
        return 1.0
    from scipy.optimize import brentq  # deferred: ~0.3 s to import, needed only here

    return float(brentq(h, 0.0, 1.0 - gap, xtol=1e-14, rtol=1e-15))


def _gradient_depth(chi: float) -> float:
    """1 / |ln chi_1|: inf at chi_1 = 1 (to 1e-12), 0 at chi_1 = 0 (e.g. zero weights)."""
    if abs(chi - 1) <= _ROUND:
        return math.inf
    return 0.0 if chi <= 0 else 1.0 / abs(math.log(chi))


def _depth(x: float) -> float:
    """-1 / ln x for a contraction rate x in (0, 1); inf if x >= 1 - 1e-12 (none)."""
    if not math.isfinite(x) or x >= 1.0 - _ROUND:
        return math.inf
    return 0.0 if x <= 0.0 else -1.0 / math.log(x)


@dataclass(frozen=True)
class DepthScales:
    r"""Fixed points, slopes and depth scales of one :math:`(\phi, \sigma_w^2, \sigma_b^2)`.

    Attributes
    ----------
    activation : str
    sigma_w2, sigma_b2 : float
    q_star : float
        :math:`q^*` (0: the signal dies; inf: the variance does not contract).
    chi_1 : float
        :math:`\sigma_w^2 E[\phi'(\sqrt{q^*} z)^2]`.
    c_star : float
        Stable fixed point of the correlation map.
    chi_c : float
        :math:`C'(c^*)`, the slope of :func:`correlation_map` (:func:`chi_c`): :math:`\chi_1`
        when :math:`c^* = 1` and :math:`q^*` is finite, the limit map's slope otherwise (1
        for relu at :math:`\sigma_b^2 = 0`, every :math:`\sigma_w^2`).
    xi_q, xi_c : float
        Depth scales (layers) of the convergence of :math:`q_l` to :math:`q^*` and of
        :math:`c_l` to :math:`c^*`; inf where there is no exponential convergence.
    xi_grad : float
        :math:`1/|\ln \chi_1|`: gradients change by a factor :math:`e` every
        :math:`\xi_\nabla` layers.
    phase : str
        :func:`initlab.analysis.theory.phase` of :math:`\chi_1`.
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    xi_grad: float
    phase: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data (:func:`initlab.results.records.jsonable` stores infinities as null)."""
        return asdict(self)


def variance_map_slope(act: ActivationLike, sigma_w2: float, q: float) -> float:
    r""":math:`V'(q) = \sigma_w^2 E[u\,\phi(u)\,\phi'(u)]/q`, :math:`u \sim N(0, q)`.

    The derivative of :func:`initlab.analysis.theory.variance_map` in :math:`q` (module docstring);
    its value at :math:`q^*` sets :math:`\xi_q`.
    """
    act = _activations.get(act)
    w2 = float(check_number("sigma_w2", sigma_w2, low=0))
    q = float(check_number("q", q, low=0, low_open=True))
    f = _dphi(act)
    return w2 * float(theory.gaussian_expectation(lambda u: u * act.f(u) * f(u), q)) / q


def depth_scales(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0) -> DepthScales:
    r"""Everything the mean-field theory says about depth at :math:`(\sigma_w^2, \sigma_b^2)`.

    See :class:`DepthScales` and the module docstring for the formulas. Where :math:`q^*`
    is 0 or infinite the slopes are taken in that limit (as :func:`initlab.analysis.theory.chi1`);
    :math:`\xi_q` is then inf unless the limit contracts (tanh with :math:`\sigma_w^2 < 1`:
    :math:`q_l \to 0` like :math:`\sigma_w^{2l}`).
    """
    act = _activations.get(act)
    w2, b2 = _check_wb(sigma_w2, sigma_b2)
    q_star = float(theory.fixed_point(act, w2, b2))
    chi = float(theory.chi1(act, w2, b2))
    c_star = correlation_fixed_point(act, w2, b2)
    finite = 0.0 < q_star < math.inf
    slope_c = chi if c_star == 1.0 and finite else float(chi_c(act, w2, b2, c_star))
    slope_q = variance_map_slope(act, w2, min(max(q_star, _Q_MIN), _Q_MAX))
    return DepthScales(
        activation=theory._describe(act),
        sigma_w2=w2,
        sigma_b2=b2,
        q_star=q_star,
        chi_1=chi,
        c_star=c_star,
        chi_c=slope_c,
        xi_q=_depth(slope_q),
        xi_c=_depth(slope_c),
        xi_grad=_gradient_depth(chi),
        phase=theory.phase(chi),
    )


@dataclass(frozen=True)
class CriticalPoint:
    r"""One point of the critical line :math:`\chi_1 = 1`, or why there is none.

    Attributes
    ----------
    activation : str
    sigma_b2 : float
    sigma_w2 : float
        The critical :math:`\sigma_w^2` (nan if :math:`\chi_1` does not cross 1).
    q_star : float
        :math:`q^*` there (inf for ReLU-type units with :math:`\sigma_b > 0`: on their
        critical line the variance grows without bound).
    chi_1 : float
        :math:`\chi_1` at the solution, 1 to about 1e-12 (a check on the solver).
    """

    activation: str
    sigma_b2: float
    sigma_w2: float
    q_star: float
    chi_1: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def critical_line(act: ActivationLike, sigma_b2: Sequence[float]) -> list[CriticalPoint]:
    r"""The critical :math:`\sigma_w^2` (:math:`\chi_1 = 1`) at each :math:`\sigma_b^2`.

    Solved by :func:`initlab.analysis.theory.critical_sigma_w2` (Brent's method on
    :math:`\chi_1(\sigma_w^2) - 1`, to a relative 1e-14 in :math:`\sigma_w^2`). Closed forms
    the tests hold it to: 1 for tanh and linear units at :math:`\sigma_b = 0`, 2 for ReLU and
    :math:`2/(1+a^2)` for leaky ReLU of slope :math:`a` at every :math:`\sigma_b^2`
    (their :math:`\chi_1 = \sigma_w^2 (1+a^2)/2` does not depend on :math:`q`).
    """
    act = _activations.get(act)
    points = []
    for b2 in sigma_b2:
        b2 = float(check_number("sigma_b2", b2, low=0))
        try:
            w2 = theory.critical_sigma_w2(act, b2)
        except InitlabError:
            points.append(CriticalPoint(theory._describe(act), b2, math.nan, math.nan, math.nan))
            continue
        q = float(theory.fixed_point(act, w2, b2))
        points.append(
            CriticalPoint(theory._describe(act), b2, w2, q, float(theory.chi1(act, w2, b2)))
        )
    return points
