r"""Two-dimensional Gaussian expectations :math:`E[f(u_1)\,g(u_2)]` of correlated pairs.

The quadrature behind :mod:`initlab.analysis.correlation` (re-exported there): the
Cholesky factor :math:`u_2 = \sqrt{q_2}(c z_1 + \sqrt{1-c^2} z_2)` and an iterated rule,
each one-dimensional rule being that of :func:`initlab.analysis.theory.gaussian_expectation`
split where its argument is 0 (see :func:`gaussian_expectation_2d`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.polynomial.legendre import leggauss

from initlab._validation import InitlabError
from initlab.analysis.meanfield import _check_q

Array = np.ndarray

_NODES = 128  # Gauss-Legendre nodes per side of each split
_Z_MAX = 10.0  # P(|z| > 10) = 1.5e-23
_A_MIN = 1e-10  # smallest node scale (as at q = 1e20 in theory.gaussian_expectation)


# --- two-dimensional Gaussian expectations ----------------------------------------------


@lru_cache(maxsize=4)
def _legendre(n: int) -> tuple[Array, Array]:
    t, w = leggauss(n)
    return (t + 1) / 2, w / 2  # on [0, 1]


def _split_rule(z0: Array, a: Array, nodes: int = _NODES) -> tuple[Array, Array]:
    """Nodes and weights for E_z[f(z)] on [-Z, Z], split at `z0`, dense on the scale `a`.

    ``z = z0 +- a sinh(b t)``, ``t`` in [0, 1], one `nodes`-point Gauss-Legendre rule each
    side; the weights include the standard normal density. Shapes: ``z0.shape + (2 n,)``.
    """
    t, w = _legendre(nodes)
    z0, a = np.asarray(z0)[..., None], np.asarray(a)[..., None]
    sides = []
    for sign, length in ((1.0, _Z_MAX - z0), (-1.0, _Z_MAX + z0)):
        b = np.arcsinh(np.maximum(length, 0.0) / a)
        e = np.exp(b * t)
        sides.append((z0 + sign * a * (e - 1 / e) / 2, w * a * b * (e + 1 / e) / 2))
    z = np.concatenate([sides[0][0], sides[1][0]], axis=-1)
    weight = np.concatenate([sides[0][1], sides[1][1]], axis=-1)
    return z, weight * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _expectation_2d(f: Callable, g: Callable, q1: float, q2: float, c: float) -> float:
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    r = math.sqrt(max(1.0 - c * c, 0.0))
    # outer: split at u1 = 0; dense where f varies (1/s1), where g(s2 c z1) varies
    # (1/(s2 |c|)) and where the inner mean s2 c z1 crosses the inner kink (r/|c|)
    tiny = 1e-300
    a1 = min(1.0, 1.0 / max(s1, tiny), 1.0 / max(s2 * abs(c), tiny))
    a1 = max(min(a1, r / max(abs(c), tiny)) if r > 0 else a1, _A_MIN)
    z1, w1 = _split_rule(np.array(0.0), np.array(a1))
    # inner, given z1: u2 = mu + s z2, split where u2 = 0, dense on the scale 1/s
    mu, s = s2 * c * z1, s2 * r
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(s > 0, np.clip(-mu / s, -_Z_MAX, _Z_MAX), 0.0)
    a2 = np.full(z1.shape, max(min(1.0, 1.0 / s) if s > 0 else 1.0, _A_MIN))
    z2, w2 = _split_rule(z0, a2)
    inner = np.sum(w2 * g(mu[:, None] + s * z2), axis=-1)
    return float(np.sum(w1 * f(s1 * z1) * inner))


def gaussian_expectation_2d(
    f: Callable[[Array], Array],
    g: Callable[[Array], Array],
    q1: float | Array,
    q2: float | Array,
    c: float | Array,
) -> float | Array:
    r"""Return :math:`E[f(u_1)\, g(u_2)]` for :math:`(u_1, u_2)` jointly Gaussian, mean 0.

    .. math::

        u_1 = \sqrt{q_1}\, z_1, \qquad u_2 = \sqrt{q_2}\,(c z_1 + \sqrt{1 - c^2}\, z_2),

    :math:`\operatorname{Var} u_i = q_i`, :math:`\operatorname{corr}(u_1, u_2) = c`: the
    Cholesky factor of the covariance. The integral is iterated: over :math:`z_2` given
    :math:`z_1` (:math:`u_2` is then :math:`N(\mu, s^2)`, :math:`\mu = \sqrt{q_2} c z_1`,
    :math:`s = \sqrt{q_2(1-c^2)}`), then over :math:`z_1`. Each one-dimensional rule is that
    of :func:`initlab.analysis.theory.gaussian_expectation` moved to the point where its argument is
    0: split there (so no node sits on the kink of ReLU-type units or the jump of their
    derivative), :math:`z = z_0 \pm a \sinh(b t)` up to :math:`|z| = 10` and 128-point
    Gauss-Legendre in :math:`t` on each side, nodes dense on the scale :math:`a` on which the
    integrand varies (:math:`1/s` inside; outside the least of :math:`1/\sqrt{q_1}`,
    :math:`1/(\sqrt{q_2}|c|)` and :math:`\sqrt{1-c^2}/|c|`, the last being where the inner
    mean crosses the inner kink). 256 x 256
    evaluations of `g`, 256 of `f` (96 points, as in one dimension, leave 5e-9 where
    :math:`1 - c = 10^{-12}` puts the outer nodes over 7 decades).

    Why not a Gauss-Hermite product rule on the Cholesky factor: its nodes straddle the
    kink line :math:`u_2 = 0`, which is oblique in :math:`(z_1, z_2)`, so for ReLU it
    converges only algebraically (measured, 100 x 100 nodes: errors of 6e-4 in
    :math:`E[\phi(u_1)\phi(u_2)]` and 9e-3 in :math:`E[\phi'(u_1)\phi'(u_2)]` at
    :math:`c = 0.3`), and it fails for large
    :math:`q` as in one dimension. Measured against closed forms (the arc-cosine kernel of
    ReLU and its derivative, the arc-sine kernel of erf, linear units; ``tests/
    test_correlation.py``): error below 2e-13 (relative to :math:`\sqrt{q_1 q_2}` for
    ReLU and linear units) for :math:`-1 \le c \le 1` (including :math:`1 - c = 10^{-12}`
    and :math:`c = \pm 1`), :math:`10^{-6} \le q_1 \le 10^{6}` and
    :math:`q_2 \in \{q_1, 2.5 q_1\}`.

    Parameters
    ----------
    f, g : callable
        Elementwise, vectorized.
    q1, q2 : float or ndarray
        Variances :math:`\ge 0`.
    c : float or ndarray
        Correlation in :math:`[-1, 1]`. Arguments broadcast; arrays give an array.
    """
    q1, q2 = _check_q(q1), _check_q(q2)
    c = np.asarray(c, dtype=np.float64)
    if not np.all(np.isfinite(c)) or np.any(np.abs(c) > 1):
        raise InitlabError(f"c must be a correlation in [-1, 1]; got {c}")
    q1, q2, c = np.broadcast_arrays(q1, q2, c)
    out = np.array([_expectation_2d(f, g, *v) for v in zip(q1.flat, q2.flat, c.flat, strict=True)])
    return float(out[0]) if c.ndim == 0 else out.reshape(c.shape)
