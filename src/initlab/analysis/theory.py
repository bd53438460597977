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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from initlab._rng import child_seeds, make_rng
from initlab._validation import InitlabError, check_number
from initlab.analysis.meanfield import (
    CRITICAL_TOL,
    ActivationLike,
    Array,
    _check_q,
    _dphi2,
    chi1,
    critical_sigma_w2,
    fixed_point,
    gaussian_expectation,
    phase,
    phase_diagram,
    variance_map,
)
from initlab.init import catalogue as _initializers
from initlab.init.build import init_network
from initlab.nn import activations as _activations
from initlab.nn.network import backward, check_layer_sizes

__all__ = [
    "CRITICAL_TOL",
    "DEFAULT_EXAMPLES",
    "DEFAULT_MEMBERS",
    "ActivationLike",
    "Array",
    "InitLike",
    "Measurement",
    "Prediction",
    "_check_q",
    "chi1",
    "critical_sigma_w2",
    "fixed_point",
    "gaussian_expectation",
    "measure",
    "phase",
    "phase_diagram",
    "predict",
    "sigma_w2",
    "variance_map",
]

InitLike = str | Mapping[str, Any] | _initializers.Initializer

DEFAULT_EXAMPLES = 128
"""Gaussian inputs per network in :func:`measure`."""
DEFAULT_MEMBERS = 8
"""Independent networks averaged by :func:`measure` (their spread gives the standard error)."""


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
    nets = [
        _measure_one(sizes, initializer, act, m, b, make_rng(c)) for c in child_seeds(seed, members)
    ]
    q_k, ratio_k, x2 = (np.array(v) for v in zip(*nets, strict=True))
    return Measurement(sizes, q_k, ratio_k, float(np.mean(x2)), m, seed, b * b)


def _measure_one(sizes, initializer, act, m: int, b: float, rng) -> tuple[list, Array, float]:
    """One network of :func:`measure`: its mean Z_l^2, gradient ratios and input mean x^2."""
    net = init_network(sizes, initializer, activation=act, seed=rng)
    if b > 0:
        net.biases = [b * rng.standard_normal(bias.shape) for bias in net.biases]
    X = rng.standard_normal((sizes[0], m))
    G = rng.standard_normal((1, sizes[-1], m))
    Zs, As = net.forward(X)
    dZs: list[Array] = []
    backward(G, net.weights, Zs, As, act, dZs=dZs)
    g = np.array([np.mean(dZ * dZ) for dZ in dZs])
    return [np.mean(Z * Z) for Z in Zs], g[:-1] / g[1:], float(np.mean(X * X))
