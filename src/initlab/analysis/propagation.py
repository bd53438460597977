r"""Correlations through depth: the mean-field prediction beside random networks of finite width.

Setup (that of Poole et al. 2016, Fig. 2, and Schoenholz et al. 2017, Fig. 1): two inputs
whose pre-activations :math:`h^0_a, h^0_b \in \mathbb{R}^N` have, over the :math:`N` units,
mean square :math:`q_0` each and correlation :math:`c_0` exactly; then :math:`L` layers of
width :math:`N`, :math:`h^l = W_l\, \phi(h^{l-1}) + b_l` with :math:`W_l` i.i.d.
:math:`N(0, \sigma_w^2/N)` and :math:`b_l` i.i.d. :math:`N(0, \sigma_b^2)` (the same bias for
both inputs). The measured correlation of layer :math:`l` is

.. math::

    \hat c_l = \frac{\langle h^l_a, h^l_b\rangle}{\lVert h^l_a\rVert\, \lVert h^l_b\rVert},

and the prediction iterates :func:`initlab.analysis.correlation.covariance_map` from
:math:`(q_0, q_0, c_0 q_0)`. :math:`\hat c_l` differs from the prediction by the
finite-width fluctuation of the weights, :math:`O(1/\sqrt N)` per network, and has a bias
of order :math:`1/N`; the standard error over :math:`K` independent networks measures the
first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._rng import child_seeds, make_rng
from initlab._validation import InitlabError, check_number
from initlab.analysis import theory as theory
from initlab.analysis.correlation import ActivationLike, covariance_map
from initlab.init import catalogue as _initializers
from initlab.nn import activations as _activations

Array = np.ndarray


@dataclass(frozen=True)
class CorrelationStudy:
    r"""Predicted and measured correlations :math:`c_l`, layer by layer.

    Attributes
    ----------
    activation : str
    sigma_w2, sigma_b2, q0 : float
    c0 : ndarray (P,)
        Starting correlations.
    predicted : ndarray (P, L + 1)
        :math:`c_l` of the mean-field map, :math:`l = 0..L`.
    measured : ndarray (K, P, L + 1)
        :math:`\hat c_l`, network by network.
    width, seed : int
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q0: float
    c0: Array
    predicted: Array
    measured: Array
    width: int
    seed: int

    @property
    def mean(self) -> Array:
        """Measured :math:`c_l`, mean over the K networks, (P, L + 1)."""
        return self.measured.mean(axis=0)

    @property
    def se(self) -> Array:
        """Standard error of :attr:`mean` (spread over the networks / sqrt(K))."""
        K = self.measured.shape[0]
        if K < 2:
            return np.full(self.measured.shape[1:], np.nan)
        return self.measured.std(axis=0, ddof=1) / math.sqrt(K)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "activation": self.activation,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "q0": self.q0,
            "c0": self.c0.tolist(),
            "predicted": self.predicted.tolist(),
            "measured": self.measured.tolist(),
            "width": self.width,
            "seed": self.seed,
        }


def predict_correlations(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    q0: float,
    c0: Sequence[float],
    depth: int,
) -> Array:
    r"""Iterate the joint map from :math:`(q_0, q_0, c_0 q_0)`: :math:`c_l`, (P, depth + 1)."""
    act = _activations.get(act)
    out = np.empty((len(c0), depth + 1))
    for p, c in enumerate(c0):
        q1 = q2 = q0
        q12 = c * q0
        out[p, 0] = c
        for l in range(1, depth + 1):
            q1, q2, q12 = covariance_map(act, sigma_w2, sigma_b2, q1, q2, q12)
            out[p, l] = q12 / math.sqrt(q1 * q2) if q1 > 0 and q2 > 0 else math.nan
    return out


def _inputs(rng: np.random.Generator, N: int, q0: float, c0: Array) -> Array:
    """(N, 2P) pre-activations: column pairs of mean square q0 and correlation c0, exactly."""
    cols = []
    for c in c0:
        e, _ = np.linalg.qr(rng.standard_normal((N, 2)))  # orthonormal pair
        e *= math.sqrt(N * q0)
        cols += [e[:, 0], c * e[:, 0] + math.sqrt(1 - c * c) * e[:, 1]]
    return np.stack(cols, axis=1)


def _correlations(H: Array) -> Array:
    a, b = H[:, 0::2], H[:, 1::2]
    return np.sum(a * b, axis=0) / np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))


def study_correlations(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    *,
    c0: Sequence[float] = (0.1, 0.5, 0.9, 0.99),
    depth: int = 20,
    width: int = 1000,
    members: int = 8,
    seed: int = 0,
    q0: float | None = None,
) -> CorrelationStudy:
    r"""Measure :math:`\hat c_l` on `members` networks and predict :math:`c_l` (module docstring).

    Parameters
    ----------
    act : str or Activation
    sigma_w2, sigma_b2 : float
    c0 : sequence of float
        Starting correlations in [-1, 1], all measured in the same networks.
    depth, width : int
        L and N.
    members : int
        Independent networks K (child seeds of `seed`); at least 2 for error bars.
    q0 : float, optional
        Starting mean square; default :math:`q^*` if finite and positive, else 1.

    Returns
    -------
    CorrelationStudy

    Notes
    -----
    The products run on one BLAS thread (``threadpoolctl``), as training's do, so a seed
    gives the same bits at any thread count.
    """
    act = _activations.get(act)
    w2 = float(check_number("sigma_w2", sigma_w2, low=0))
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    depth = int(check_number("depth", depth, low=1, integer=True))
    N = int(check_number("width", width, low=2, integer=True))
    members = int(check_number("members", members, low=1, integer=True))
    seed = int(check_number("seed", seed, low=0, integer=True))
    c0 = np.asarray(c0, dtype=np.float64).ravel()
    if c0.size == 0 or np.any(~np.isfinite(c0)) or np.any(np.abs(c0) > 1):
        raise InitlabError(f"c0 must be correlations in [-1, 1]; got {c0}")
    if q0 is None:
        q_star = float(theory.fixed_point(act, w2, b2))
        q0 = q_star if 0 < q_star < math.inf else 1.0
    q0 = float(check_number("q0", q0, low=0, low_open=True))
    init = _initializers.get({"name": "normal", "mean": 0.0, "std": math.sqrt(w2 / N)})
    with threadpool_limits(limits=1, user_api="blas"):  # same bits at any thread count
        measured = _measure(act, init, b2, q0, c0, depth, N, members, seed)
    predicted = predict_correlations(act, w2, b2, q0, c0.tolist(), depth)
    return CorrelationStudy(theory._describe(act), w2, b2, q0, c0, predicted, measured, N, seed)


def _measure(act, init, b2, q0, c0, depth, N, members, seed) -> np.ndarray:
    r""":math:`\hat c_l` per member, start and layer: ``(members, len(c0), depth + 1)``."""
    measured = np.empty((members, c0.size, depth + 1))
    for k, child in enumerate(child_seeds(seed, members)):
        measured[k] = _network(act, init, b2, q0, c0, depth, N, child)
    return measured


def _network(act, init, b2, q0, c0, depth, N, seed) -> np.ndarray:
    r""":math:`\hat c_l` of the one network drawn from `seed`: ``(len(c0), depth + 1)``."""
    out = np.empty((c0.size, depth + 1))
    rng = make_rng(seed)
    H = _inputs(rng, N, q0, c0)
    out[:, 0] = _correlations(H)
    for l in range(1, depth + 1):
        b = math.sqrt(b2) * rng.standard_normal((N, 1))
        H = init((N, N), rng) @ act.f(H) + b
        out[:, l] = _correlations(H)
    return out


def network_correlations(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    q0: float,
    c0: Sequence[float],
    depth: int,
    width: int,
    seed: int,
    draw: int,
) -> Array:
    r""":math:`\hat c_l` of network `draw` of :func:`study_correlations` (same `seed`):
    ``(len(c0), depth + 1)``, the same bits as row `draw` of its ``measured``, computed
    alone (its generator is ``child_seeds(seed, draw + 1)[draw]``, which does not depend
    on how many networks are drawn), on one BLAS thread."""
    act = _activations.get(act)
    init = _initializers.get({"name": "normal", "mean": 0.0, "std": math.sqrt(sigma_w2 / width)})
    child = child_seeds(seed, draw + 1)[draw]
    with threadpool_limits(limits=1, user_api="blas"):
        return _network(act, init, sigma_b2, q0, np.asarray(c0, dtype=np.float64), depth,
                        width, child)  # fmt: skip


def study_from_dict(data: dict[str, Any]) -> CorrelationStudy:
    """Rebuild a :class:`CorrelationStudy` from :meth:`CorrelationStudy.as_dict` (stored JSON)."""
    return CorrelationStudy(
        data["activation"],
        data["sigma_w2"],
        data["sigma_b2"],
        data["q0"],
        np.asarray(data["c0"], dtype=float),
        np.asarray(data["predicted"], dtype=float),
        np.asarray(data["measured"], dtype=float),
        int(data["width"]),
        int(data["seed"]),
    )
