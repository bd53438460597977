r"""Initializers: pure functions of ``(shape, rng, dtype) -> ndarray``, and their catalogue.

Weights use initlab's (and PyTorch's) layout: ``W_l`` has shape ``(n_l, n_{l-1})`` =
``(fan_out, fan_in)``; Keras and JAX kernels are ``(fan_in, fan_out)``, so their fans are
read from the other axis (:func:`compute_fans` is the one place that reads them).
An :class:`Initializer` is a callable built by a registered builder from its parameters; it
also states its theoretical moments, so that samples can be checked against them.

One general :func:`variance_scaling` draws every zero-mean fan-scaled scheme; each named
scheme is a one-line specialization. Family names hide real differences, so where the
frameworks differ both variants exist under explicit names (``docs/initializers.md``):

- ``he_normal``, ``glorot_normal``, ``lecun_normal`` (Keras, JAX) draw a normal
  **truncated** at two standard deviations and rescaled to the target variance;
- ``kaiming_normal``, ``xavier_normal`` (PyTorch) draw an **untruncated** normal, scaled by
  a gain (:func:`initlab.init.gains.calculate_gain`);
- ``trunc_normal`` (PyTorch) truncates to absolute bounds ``[a, b]``; ``truncated_normal``
  (Keras) truncates at ``mean +- 2 stddev``; neither rescales.

Every initializer draws in float64 from the generator it is given, using only methods that
NumPy's ``Generator`` and ``RandomState`` share, and casts to `dtype` at the end, so the
legacy stream reproduces ``np.random.randn(n_l, n_{l-1}) * scale`` exactly.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab._rng import RNG
from initlab._validation import InitlabError, check_number, unknown_name
from initlab.init import truncnorm as _truncnorm
from initlab.init.gains import calculate_gain

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Moments:
    """Theoretical mean, standard deviation and support of an initializer's entries."""

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf


@dataclass(frozen=True)
class Initializer:
    """A named, parameterized initializer.

    Call it as ``init(shape, rng, dtype=np.float64)`` to draw an array.

    Attributes
    ----------
    name : str
        Registry name.
    params : dict
        The parameters it was built with (JSON-serializable).
    draw : callable
        ``draw(shape, rng) -> float64 ndarray``.
    moments : callable
        ``moments(shape) -> Moments``: theoretical moments for that shape.
    """

    name: str
    params: Mapping[str, Any]
    draw: Callable[[Shape, RNG], np.ndarray] = field(repr=False)
    moments: Callable[[Shape], Moments] = field(repr=False)

    def __call__(self, shape: Shape, rng: RNG, dtype: Any = np.float64) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        return np.asarray(self.draw(shape, rng), dtype=np.float64).astype(dtype, copy=False)


def compute_fans(shape: Shape) -> tuple[int, int]:
    r"""Return ``(fan_in, fan_out)`` of a weight of `shape` in initlab's layout.

    For a 2-D weight ``(n_out, n_in)``: fan_in = n_in, fan_out = n_out. For more axes,
    PyTorch's rule: ``(out, in, *receptive)`` with fan_in = in * prod(receptive),
    fan_out = out * prod(receptive).
    """
    if len(shape) < 2:
        raise InitlabError(f"fans need a weight of at least 2 dimensions; got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_FANS: dict[str, Callable[[int, int], float]] = {
    "fan_in": lambda fan_in, fan_out: fan_in,
    "fan_out": lambda fan_in, fan_out: fan_out,
    "fan_avg": lambda fan_in, fan_out: (fan_in + fan_out) / 2,
}


def _fan(shape: Shape, mode: str) -> float:
    n = _FANS[mode](*compute_fans(shape))
    if n <= 0:
        raise InitlabError(f"{mode} of shape {shape} is 0: an empty weight has no scale")
    return n


def _choice(name: str, value: Any, options: Mapping[str, Any] | tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InitlabError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


# --- registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemeInfo:
    """One catalogue line: what a registered scheme draws and its frameworks' names."""

    name: str
    distribution: str
    formula: str
    equivalent: str


_REGISTRY: dict[str, Callable[..., Initializer]] = {}
_INFO: dict[str, SchemeInfo] = {}

_DATA_DEPENDENT = {
    "lsuv": "LSUV (Mishkin & Matas 2016) is data-dependent: it rescales a network's weights "
    "on a batch, so it is not a (shape, rng) initializer. Use initlab.lsuv.lsuv_network(...) "
    'or initlab.lsuv.lsuv(net, X), or init = {name = "lsuv", ...} in an experiment spec',
}


def register(
    name: str, distribution: str = "", formula: str = "", equivalent: str = ""
) -> Callable[[Callable[..., Initializer]], Callable[..., Initializer]]:
    """Decorator registering an initializer builder under `name`, with its catalogue line."""

    def deco(builder: Callable[..., Initializer]) -> Callable[..., Initializer]:
        _REGISTRY[name] = builder
        _INFO[name] = SchemeInfo(name, distribution, formula, equivalent)
        return builder

    return deco


def available() -> list[str]:
    """Names of all registered initializers."""
    return sorted(_REGISTRY)


def catalogue() -> list[SchemeInfo]:
    """One :class:`SchemeInfo` per registered initializer, sorted by name."""
    return [_INFO[name] for name in available()]


def _check_params(name: str, builder: Callable[..., Initializer], params: Mapping) -> None:
    accepted = inspect.signature(builder).parameters
    takes = f"it accepts: {', '.join(accepted)}" if accepted else "it takes no parameters"
    unknown = [p for p in params if p not in accepted]
    if unknown:
        words = "parameter" if len(unknown) == 1 else "parameters"
        listed = ", ".join(repr(p) for p in unknown)
        raise InitlabError(f"unknown {words} {listed} for initializer {name!r}; {takes}")
    missing = [p for p, v in accepted.items() if v.default is v.empty and p not in params]
    if missing:
        raise InitlabError(f"initializer {name!r} needs parameter {missing[0]!r}; {takes}")


def get(spec: str | Mapping[str, Any] | Initializer, **params: Any) -> Initializer:
    """Build an initializer from a name, a table ``{"name": ..., **params}`` or an Initializer.

    Raises
    ------
    InitlabError
        For an unknown name (listing the valid ones), an unknown or missing parameter
        (naming it and listing the accepted ones), or an invalid parameter value.

    Examples
    --------
    >>> get("he_normal").name
    'he_normal'
    >>> get({"name": "random", "scale": 0.01}).params
    {'scale': 0.01}
    """
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise InitlabError(f"an initializer table needs a 'name' key; got {dict(spec)}")
        params = {**{k: v for k, v in spec.items() if k != "name"}, **params}
        spec = spec["name"]
    if not isinstance(spec, str):
        raise InitlabError(f"an initializer is a name or a table with a 'name'; got {spec!r}")
    if spec in _DATA_DEPENDENT:
        raise InitlabError(_DATA_DEPENDENT[spec])
    if spec not in _REGISTRY:
        raise unknown_name("initializer", spec, _REGISTRY)
    _check_params(spec, _REGISTRY[spec], params)
    return _REGISTRY[spec](**params)


# --- variance scaling -------------------------------------------------------------------

_SQRT3 = math.sqrt(3.0)
_TRUNCATED = "normal truncated at +-2 sigma, rescaled"
_NORMAL = "normal (untruncated)"
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


def _scaled(name: str, params: Mapping, distribution: str, std: Callable[[Shape], float]):
    """Zero-mean entries of standard deviation ``std(shape)`` (after any truncation)."""

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        s = std(shape)
        if distribution == "uniform":
            return rng.uniform(-_SQRT3 * s, _SQRT3 * s, shape)
        if distribution == "truncated_normal":  # sigma = s / 0.8796 before truncation
            return _truncnorm.sample(rng, shape, -2.0, 2.0, s / _truncnorm.STD_2SIGMA)
        x = rng.standard_normal(shape)
        x *= s
        return x

    def moments(shape: Shape) -> Moments:
        s = std(shape)
        if distribution == "uniform":
            return Moments(0.0, s, -_SQRT3 * s, _SQRT3 * s)
        if distribution == "normal":
            return Moments(0.0, s)
        bound = 2.0 * (s / _truncnorm.STD_2SIGMA)
        return Moments(0.0, s, -bound, bound)

    return Initializer(name, dict(params), draw, moments)


def _vs(name: str, params: Mapping, scale: float, mode: str, distribution: str):
    return _scaled(name, params, distribution, lambda shape: math.sqrt(scale / _fan(shape, mode)))


@register(
    "variance_scaling",
    "per `distribution`",
    "Var = scale/n, n = fan_in | fan_out | (fan_in+fan_out)/2",
    "Keras VarianceScaling, jax variance_scaling",
)
def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
) -> Initializer:
    r"""Zero-mean entries of variance :math:`v = \text{scale} / n`.

    Parameters
    ----------
    scale : float
        Positive factor.
    mode : {"fan_in", "fan_out", "fan_avg"}
        :math:`n` is fan_in, fan_out or :math:`(\text{fan\_in} + \text{fan\_out}) / 2`
        (:func:`compute_fans`).
    distribution : {"normal", "truncated_normal", "uniform"}
        ``"normal"``: :math:`N(0, v)`, untruncated (JAX's meaning; Keras reads "normal" as
        truncated and calls this one "untruncated_normal").
        ``"truncated_normal"``: :math:`N(0, \sigma^2)` truncated to :math:`[-2\sigma, 2\sigma]`
        with :math:`\sigma = \sqrt{v} / 0.8796...`, so that the variance *after* truncation is
        :math:`v` (0.8796... is the standard deviation of N(0, 1) truncated to [-2, 2]).
        ``"uniform"``: :math:`U(-\sqrt{3v}, \sqrt{3v})`.

    References
    ----------
    Keras ``VarianceScaling``; JAX ``jax.nn.initializers.variance_scaling``.
    """
    scale = check_number("scale", scale, low=0, low_open=True)
    mode = _choice("mode", mode, _FANS)
    distribution = _choice("distribution", distribution, _DISTRIBUTIONS)
    params = {"scale": scale, "mode": mode, "distribution": distribution}
    return _vs("variance_scaling", params, scale, mode, distribution)


@register("he_normal", _TRUNCATED, "Var = 2/fan_in", "Keras HeNormal, jax he_normal")
def he_normal() -> Initializer:
    r"""``variance_scaling(2, "fan_in", "truncated_normal")``: a **truncated** normal,
    cut at :math:`\pm 2\sigma` and rescaled to variance :math:`2/\text{fan\_in}` (He et al. 2015,
    as Keras and JAX define it). PyTorch's untruncated version is ``kaiming_normal``."""
    return _vs("he_normal", {}, 2.0, "fan_in", "truncated_normal")


@register(
    "he_uniform",
    "uniform",
    "U(-b, b), b = sqrt(6/fan_in), Var = 2/fan_in",
    "Keras HeUniform, jax he_uniform (= torch kaiming_uniform_, relu)",
)
def he_uniform() -> Initializer:
    r"""``variance_scaling(2, "fan_in", "uniform")``:
    :math:`U(-\sqrt{6/\text{fan\_in}}, \sqrt{6/\text{fan\_in}})` (Keras, JAX)."""
    return _vs("he_uniform", {}, 2.0, "fan_in", "uniform")


@register(
    "glorot_normal", _TRUNCATED, "Var = 2/(fan_in+fan_out)", "Keras GlorotNormal, jax glorot_normal"
)
def glorot_normal() -> Initializer:
    r"""``variance_scaling(1, "fan_avg", "truncated_normal")``: a **truncated** normal of
    variance :math:`2/(\text{fan\_in}+\text{fan\_out})` (Glorot & Bengio 2010, as Keras and JAX
    define it). PyTorch's untruncated version is ``xavier_normal``."""
    return _vs("glorot_normal", {}, 1.0, "fan_avg", "truncated_normal")


@register(
    "glorot_uniform",
    "uniform",
    "U(-b, b), b = sqrt(6/(fan_in+fan_out))",
    "Keras GlorotUniform, jax glorot_uniform (= torch xavier_uniform_, gain 1)",
)
def glorot_uniform() -> Initializer:
    r"""``variance_scaling(1, "fan_avg", "uniform")``:
    :math:`U(-b, b)`, :math:`b = \sqrt{6/(\text{fan\_in}+\text{fan\_out})}` (Keras, JAX)."""
    return _vs("glorot_uniform", {}, 1.0, "fan_avg", "uniform")


@register("lecun_normal", _TRUNCATED, "Var = 1/fan_in", "Keras LecunNormal, jax lecun_normal")
def lecun_normal() -> Initializer:
    r"""``variance_scaling(1, "fan_in", "truncated_normal")``: a **truncated** normal of
    variance :math:`1/\text{fan\_in}` (LeCun et al. 1998; Klambauer et al. 2017; Keras, JAX)."""
    return _vs("lecun_normal", {}, 1.0, "fan_in", "truncated_normal")


@register(
    "lecun_uniform",
    "uniform",
    "U(-b, b), b = sqrt(3/fan_in)",
    "Keras LecunUniform, jax lecun_uniform",
)
def lecun_uniform() -> Initializer:
    r"""``variance_scaling(1, "fan_in", "uniform")``:
    :math:`U(-\sqrt{3/\text{fan\_in}}, \sqrt{3/\text{fan\_in}})` (Keras, JAX)."""
    return _vs("lecun_uniform", {}, 1.0, "fan_in", "uniform")


def _kaiming(name: str, a: float, mode: str, nonlinearity: str, distribution: str):
    a = check_number("a", a)
    mode = _choice("mode", mode, ("fan_in", "fan_out"))
    gain = calculate_gain(nonlinearity, a)
    params = {"a": a, "mode": mode, "nonlinearity": nonlinearity}
    return _vs(name, params, gain * gain, mode, distribution)


@register(
    "kaiming_normal",
    _NORMAL,
    "std = gain/sqrt(fan), gain = calculate_gain(nonlinearity, a)",
    "torch kaiming_normal_",
)
def kaiming_normal(
    a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    r""":math:`N(0, g^2/n)`, **untruncated**, :math:`g` = ``calculate_gain(nonlinearity, a)``,
    :math:`n` = fan_in or fan_out (`mode`): PyTorch's ``kaiming_normal_`` (He et al. 2015).
    The defaults give :math:`g = \sqrt 2`, variance :math:`2/\text{fan\_in}`."""
    return _kaiming("kaiming_normal", a, mode, nonlinearity, "normal")


@register("kaiming_uniform", "uniform", "U(-b, b), b = gain*sqrt(3/fan)", "torch kaiming_uniform_")
def kaiming_uniform(
    a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    r""":math:`U(-b, b)`, :math:`b = g\sqrt{3/n}`, :math:`g` = ``calculate_gain(nonlinearity,
    a)``, :math:`n` = fan_in or fan_out: PyTorch's ``kaiming_uniform_``. (``nn.Linear`` itself
    calls it with ``a = sqrt(5)``, giving variance :math:`1/(3\,\text{fan\_in})`.)"""
    return _kaiming("kaiming_uniform", a, mode, nonlinearity, "uniform")


def _xavier(name: str, gain: float, distribution: str):
    gain = check_number("gain", gain, low=0, low_open=True)
    return _vs(name, {"gain": gain}, gain * gain, "fan_avg", distribution)


@register("xavier_normal", _NORMAL, "std = gain*sqrt(2/(fan_in+fan_out))", "torch xavier_normal_")
def xavier_normal(gain: float = 1.0) -> Initializer:
    r""":math:`N(0, g^2 \cdot 2/(\text{fan\_in}+\text{fan\_out}))`, **untruncated**: PyTorch's
    ``xavier_normal_``. Not the post's ``xavier`` (variance :math:`1/\text{fan\_in}`)."""
    return _xavier("xavier_normal", gain, "normal")


@register(
    "xavier_uniform",
    "uniform",
    "U(-b, b), b = gain*sqrt(6/(fan_in+fan_out))",
    "torch xavier_uniform_",
)
def xavier_uniform(gain: float = 1.0) -> Initializer:
    r""":math:`U(-b, b)`, :math:`b = g\sqrt{6/(\text{fan\_in}+\text{fan\_out})}`: PyTorch's
    ``xavier_uniform_`` (``glorot_uniform`` for :math:`g = 1`)."""
    return _xavier("xavier_uniform", gain, "uniform")


# --- the post's He and Xavier (its zeros and random are in _schemes) --------------------


@register("he", _NORMAL, "Var = 2/fan_in", "the post's He (= torch kaiming_normal_ defaults)")
def he() -> Initializer:
    r"""The post's He init: :math:`W_{ij} = z_{ij}\sqrt{2 / n_{l-1}}`, :math:`z \sim N(0,1)`.

    Variance :math:`2/\text{fan\_in}` (He et al. 2015), an untruncated normal.
    """
    return _vs("he", {}, 2.0, "fan_in", "normal")


@register("xavier", _NORMAL, "Var = 1/fan_in", "the post's 'Xavier' (an untruncated LeCun normal)")
def xavier() -> Initializer:
    r"""The post's Xavier init: :math:`W_{ij} = z_{ij}\sqrt{1 / n_{l-1}}`, :math:`z \sim N(0,1)`.

    Variance :math:`1/\text{fan\_in}`. This is the post's definition, not Glorot & Bengio's
    :math:`2/(\text{fan\_in}+\text{fan\_out})` (see ``glorot_normal``, ``xavier_normal``).
    """
    return _vs("xavier", {}, 1.0, "fan_in", "normal")


# The constant, plain-distribution and matrix schemes live in a second module (this one
# would pass 400 lines); importing it registers them, and they are re-exported here.
from initlab.init.schemes import (  # noqa: E402, F401
    constant,
    eye,
    identity,
    normal,
    ones,
    orthogonal,
    random,
    random_normal,
    random_uniform,
    sparse,
    trunc_normal,
    truncated_normal,
    uniform,
    zeros,
)
