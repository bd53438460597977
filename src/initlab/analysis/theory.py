r"""Mean-field signal propagation in deep fully connected networks.

Poole et al. (2016), "Exponential expressivity in deep neural networks through transient
chaos", and Schoenholz et al. (2017), "Deep information propagation". Layout as in
:mod:`initlab.nn.network`: ``W_l`` is ``(n_l, n_{l-1})``, :math:`Z_l = W_l A_{l-1} + b_l`,
:math:`A_l = \phi(Z_l)`, :math:`A_0 = X`, and ``layer_sizes = [n_0, n_1, ..., n_L]``.

Conventions. The weights of layer :math:`l` are i.i.d. with **mean 0** and variance
:math:`\sigma_{w,l}^2 / n_{l-1}`, so :math:`\sigma_{w,l}^2 = n_{l-1} \operatorname{Var}(W_l)`
is read from the initializer's theoretical moments (:func:`sigma_w2`); biases are
i.i.d. :math:`N(0, \sigma_b^2)` (:math:`\sigma_b^2 = 0` for initlab's zero biases).
:math:`q_l` is the variance of one entry of :math:`Z_l` over weights, biases and inputs
(its mean is 0), and :math:`z \sim N(0, 1)`.

Forward (the variance map), for an input whose entries have mean square
:math:`\overline{x^2} = \frac{1}{n_0 m}\sum_{i,\mu} X_{i\mu}^2`:

.. math::

    q_1 = \sigma_{w,1}^2\, \overline{x^2} + \sigma_b^2, \qquad
    q_l = \sigma_{w,l}^2\, E_z\!\left[\phi(\sqrt{q_{l-1}}\, z)^2\right] + \sigma_b^2 .

Backward. With :math:`dZ_{l} = (W_{l+1}^T dZ_{l+1}) \odot \phi'(Z_{l})`, entry :math:`i`
of :math:`dZ_l` is a sum of :math:`n_{l+1}` terms
:math:`W_{l+1,ji}\, dZ_{l+1,j}\, \phi'(Z_{l,i})`. Treating the backward weights as
independent of the forward pass (the gradient-independence assumption, exact for the
variances as :math:`n \to \infty`), the variances of the gradients of consecutive layers
are in the ratio

.. math::

    r_l = \frac{\operatorname{Var}(dZ_l)}{\operatorname{Var}(dZ_{l+1})}
        = n_{l+1} \operatorname{Var}(W_{l+1})\, E_z\!\left[\phi'(\sqrt{q_l}\, z)^2\right]
        = \frac{n_{l+1}}{n_l}\, \chi_l, \qquad
    \chi_l = \sigma_{w,l+1}^2\, E_z\!\left[\phi'(\sqrt{q_l}\, z)^2\right],

for :math:`l = 1, \dots, L-1`. The width factor :math:`n_{l+1}/n_l` is 1 for equal widths;
for the single output unit it is :math:`1/n_{L-1}`. At the fixed point :math:`q^*` of the
variance map, :math:`\chi_1 = \sigma_w^2 E_z[\phi'(\sqrt{q^*} z)^2]` separates the ordered
phase (:math:`\chi_1 < 1`: gradients vanish, nearby inputs converge) from the chaotic one
(:math:`\chi_1 > 1`: gradients explode, nearby inputs decorrelate); gradients change by
:math:`e` every :math:`\xi_\nabla = 1/|\ln \chi_1|` layers (Schoenholz et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.optimize import brentq

from initlab._rng import child_seeds, make_rng
from initlab._validation import InitlabError, check_number
from initlab.init import catalogue as _initializers
from initlab.init.build import init_network
from initlab.nn import activations as _activations
from initlab.nn.network import backward, check_layer_sizes

Array = np.ndarray
ActivationLike = str | _activations.Activation
InitLike = str | Mapping[str, Any] | _initializers.Initializer

DEFAULT_EXAMPLES = 128
"""Gaussian inputs per network in :func:`measure`."""
DEFAULT_MEMBERS = 8
"""Independent networks averaged by :func:`measure` (their spread gives the standard error)."""
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


# --- a network's prediction -------------------------------------------------------------


def sigma_w2(init: InitLike, shape: tuple[int, int]) -> float:
    r""":math:`\sigma_w^2 = n_{in} \operatorname{Var}(W)` of `init` for a weight of `shape`.

    ``shape = (n_out, n_in)``; the variance is the initializer's theoretical one
    (``moments(shape).std ** 2``), after any truncation.

    Raises
    ------
    InitlabError
        If the entries' mean is not 0: the theory assumes zero-mean weights (a mean
        :math:`\mu` adds :math:`\mu \sum_j A_j` to every unit, a common term the
        mean-field equations leave out).
    """
    initializer = _initializers.get(init)
    moments = initializer.moments(tuple(shape))
    if abs(moments.mean) > 1e-12 * max(moments.std, 1e-300):
        raise InitlabError(
            f"mean-field theory assumes zero-mean weights, but {initializer.name} "
            f"{dict(initializer.params)} draws entries of mean {moments.mean:g} for a weight "
            f"of shape {tuple(shape)}; use a zero-mean initializer"
        )
    return shape[1] * moments.std**2


@dataclass(frozen=True)
class Prediction:
    r"""Mean-field prediction for one architecture and initializer.

    Attributes
    ----------
    layer_sizes : tuple of int
        ``(n_0, ..., n_L)``.
    init, activation : str
        Their descriptions.
    sigma_w2 : ndarray (L,)
        :math:`\sigma_{w,l}^2 = n_{l-1} \operatorname{Var}(W_l)`, layer by layer.
    sigma_b2, input_second_moment : float
        :math:`\sigma_b^2` and :math:`\overline{x^2}`.
    q : ndarray (L,)
        :math:`q_l`, the variance of :math:`Z_l`, for :math:`l = 1..L`.
    chi : ndarray (L-1,)
        :math:`\chi_l = \sigma_{w,l+1}^2 E[\phi'(\sqrt{q_l} z)^2]`, :math:`l = 1..L-1`.
    ratio : ndarray (L-1,)
        :math:`r_l = \operatorname{Var}(dZ_l) / \operatorname{Var}(dZ_{l+1})
        = (n_{l+1}/n_l) \chi_l`, :math:`l = 1..L-1`.
    """

    layer_sizes: tuple[int, ...]
    init: str
    activation: str
    sigma_w2: Array
    sigma_b2: float
    input_second_moment: float
    q: Array
    chi: Array
    ratio: Array

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays as lists."""
        return _as_dict(self)


def _describe(obj: Any) -> str:
    params = ",".join(f"{k}={v}" for k, v in obj.params.items())
    return f"{obj.name}:{params}" if params else obj.name


def predict(
    layer_sizes: Sequence[int],
    init: InitLike,
    activation: ActivationLike,
    *,
    input_second_moment: float,
    sigma_b2: float = 0.0,
) -> Prediction:
    r"""Per-layer forward variances and backward gradient-variance ratios of a network.

    Iterates the variance map from :math:`q_1 = \sigma_{w,1}^2 \overline{x^2} +
    \sigma_b^2` and evaluates :math:`\chi_l` and :math:`r_l = (n_{l+1}/n_l)\chi_l` (module
    docstring), with each layer's own :math:`\sigma_{w,l}^2` (:func:`sigma_w2`; it differs
    between layers for fan-averaged inits on unequal widths). :math:`q_L` is the variance
    of the logit :math:`Z_L`; the output's sigmoid never enters.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_{L-1}, 1]``, as for :func:`initlab.init_network`.
    init : str, dict or Initializer
        Anything :func:`initlab.init.catalogue.get` accepts; it must draw zero-mean entries.
    activation : str or Activation
        The hidden activation.
    input_second_moment : float
        :math:`\overline{x^2}`, the mean of :math:`X_{i\mu}^2` over features and examples
        (1 for standard Gaussian inputs).
    sigma_b2 : float
        Bias variance (0 for initlab's zero biases).

    Returns
    -------
    Prediction
    """
    sizes = check_layer_sizes(layer_sizes)
    initializer = _initializers.get(init)
    act = _activations.get(activation)
    x2 = float(check_number("input_second_moment", input_second_moment, low=0))
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    w2 = np.array([sigma_w2(initializer, (n, n_prev)) for n_prev, n in pairwise(sizes)])
    q = [w2[0] * x2 + b2]
    for l in range(1, len(w2)):
        q.append(variance_map(act, w2[l], b2, q[-1]))
    q_hidden = np.array(q[:-1])
    chi = w2[1:] * gaussian_expectation(_dphi2(act), q_hidden)
    widths = np.array(sizes[1:], dtype=np.float64)
    ratio = widths[1:] / widths[:-1] * chi
    return Prediction(
        sizes, _describe(initializer), _describe(act), w2, b2, x2, np.array(q), chi, ratio
    )


# --- a network's measurement ------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    r"""Per-layer variances measured on K independent networks.

    Attributes
    ----------
    layer_sizes : tuple of int
    q_members : ndarray (K, L)
        Mean of :math:`Z_l^2` over units and examples, network by network.
    ratio_members : ndarray (K, L-1)
        :math:`\overline{dZ_l^2} / \overline{dZ_{l+1}^2}`, network by network.
    input_second_moment : float
        Mean of :math:`X^2` over all the inputs drawn.
    m, seed : int
        Examples per network and the seed.
    sigma_b2 : float
        Variance of the biases drawn.
    """

    layer_sizes: tuple[int, ...]
    q_members: Array
    ratio_members: Array
    input_second_moment: float
    m: int
    seed: int
    sigma_b2: float

    @property
    def members(self) -> int:
        return self.q_members.shape[0]

    @property
    def q(self) -> Array:
        """Measured :math:`q_l`, mean over the networks, shape (L,)."""
        return self.q_members.mean(axis=0)

    @property
    def ratio(self) -> Array:
        """Measured :math:`r_l`, mean over the networks, shape (L-1,)."""
        return self.ratio_members.mean(axis=0)

    @property
    def q_se(self) -> Array:
        """Standard error of :attr:`q`: spread over the networks / sqrt(K) (nan for K=1)."""
        return _standard_error(self.q_members)

    @property
    def ratio_se(self) -> Array:
        """Standard error of :attr:`ratio` (nan for K = 1)."""
        return _standard_error(self.ratio_members)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields, the means and their standard errors (None for K = 1)."""
        stats = {"q": self.q, "q_se": self.q_se, "ratio": self.ratio, "ratio_se": self.ratio_se}
        clean = {k: [None if math.isnan(x) else x for x in v.tolist()] for k, v in stats.items()}
        return {**_as_dict(self), **clean}


def _standard_error(x: Array) -> Array:
    if x.shape[0] < 2:
        return np.full(x.shape[1:], np.nan)
    return x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])


def _as_dict(obj: Any) -> dict[str, Any]:
    return {
        k: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
        for k, v in vars(obj).items()
    }


def measure(
    layer_sizes: Sequence[int],
    init: InitLike,
    activation: ActivationLike,
    *,
    m: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    members: int = DEFAULT_MEMBERS,
    sigma_b2: float = 0.0,
) -> Measurement:
    r"""Measure the quantities :func:`predict` predicts, on `members` independent networks.

    Network k is ``init_network(layer_sizes, init, activation=...)`` drawn from the k-th
    child seed of `seed` (:func:`initlab._rng.child_seeds`), with biases
    :math:`N(0, \sigma_b^2)` (zero for :math:`\sigma_b^2 = 0`, initlab's default), on its
    own input :math:`X \sim N(0, 1)` of shape ``(n_0, m)``. Its forward pass is
    :meth:`initlab.nn.network.Network.forward`; its backward pass is
    :func:`initlab.nn.network.backward` seeded with the top gradient
    :math:`dZ_L = G \sim N(0, 1)^{n_L \times m}` drawn independently of everything else. An
    independent top signal is what the gradient-independence
    assumption of the theory describes; a real cost's :math:`dZ_L` depends on :math:`Z_L`.

    Statistics, per network: :math:`\overline{Z_l^2}` (mean over units and examples; the
    theory's :math:`q_l`, the mean being 0) and
    :math:`\overline{dZ_l^2} / \overline{dZ_{l+1}^2}`. Averaging over ``n_l * m`` entries
    leaves, at width 1000, a spread between networks of < 1% for a tanh layer's
    :math:`q_l`, but up to 8% for ReLU's deeper layers (its examples become correlated, so
    the finite-width fluctuations of the weights are common to them all), and about
    :math:`\sqrt{2/n} = 4.5\%` for every :math:`r_l`, whatever `m` (below the single output
    unit, :math:`dZ_{l+1}` is nearly one vector for all examples). The output's own
    :math:`q_L` is a mean over the `m` examples only (10-20% for tanh, ~100% for ReLU).
    The spread over the K networks gives the standard errors (:attr:`Measurement.q_se`).

    Parameters
    ----------
    layer_sizes, init, activation
        As for :func:`predict`.
    m : int
        Examples per network.
    seed : int
        Seed of the whole measurement (weights, biases, inputs and top gradients).
    members : int
        Independent networks K; at least 2 for standard errors.
    sigma_b2 : float
        Variance of the biases drawn.
    """
    sizes = check_layer_sizes(layer_sizes)
    initializer = _initializers.get(init)
    act = _activations.get(activation)
    m = int(check_number("m", m, low=1, integer=True))
    members = int(check_number("members", members, low=1, integer=True))
    seed = int(check_number("seed", seed, low=0, integer=True))
    b = math.sqrt(float(check_number("sigma_b2", sigma_b2, low=0)))
    q_members, ratio_members, x2 = [], [], []
    for child in child_seeds(seed, members):
        rng = make_rng(child)
        net = init_network(sizes, initializer, activation=act, seed=rng)
        if b > 0:
            net.biases = [b * rng.standard_normal(bias.shape) for bias in net.biases]
        X = rng.standard_normal((sizes[0], m))
        G = rng.standard_normal((1, sizes[-1], m))
        Zs, As = net.forward(X)
        dZs: list[Array] = []
        backward(G, net.weights, Zs, As, act, dZs=dZs)
        g = np.array([np.mean(dZ * dZ) for dZ in dZs])
        q_members.append([np.mean(Z * Z) for Z in Zs])
        ratio_members.append(g[:-1] / g[1:])
        x2.append(np.mean(X * X))
    q_k, ratio_k = np.array(q_members), np.array(ratio_members)
    return Measurement(sizes, q_k, ratio_k, float(np.mean(x2)), m, seed, b * b)
