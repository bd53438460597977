r"""Initializers: pure functions of ``(shape, rng, dtype) -> ndarray``, and their catalogue.

Weights use initlab's (and PyTorch's) layout: ``W_l`` has shape ``(n_l, n_{l-1})`` =
``(fan_out, fan_in)``, a convolution ``(out, in, *kernel)``; Keras and JAX kernels are
``(*kernel, in, out)``. :func:`compute_fans` is the one place that reads fans (other layouts
through its axes); :func:`keras_shape`, :func:`torch_shape`, :func:`to_keras` and
:func:`from_keras` convert between the two layouts.
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
  (Keras, JAX) truncates at ``mean + [lower, upper] stddev``, default +-2; neither rescales.

The shared types and the registry are in :mod:`.base`; the fixed-distribution schemes in
:mod:`.schemes`, the structured matrices (orthogonal, identity, dirac, delta-orthogonal,
sparse, STFT) in :mod:`.matrices`; importing them registers them, and they are re-exported
here.

Every initializer draws in float64 from the generator it is given, using only methods that
NumPy's ``Generator`` and ``RandomState`` share, and casts to `dtype` at the end, so the
legacy stream reproduces ``np.random.randn(n_l, n_{l-1}) * scale`` exactly.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.init.base import (
    FANS,
    INFO,
    REGISTRY,
    Axes,
    Initializer,
    Moments,
    SchemeInfo,
    Shape,
    choice,
    compute_fans,
    fan,
    register,
    scaled,
)
from initlab.init.gains import calculate_gain
from initlab.init.layout import from_keras, keras_shape, to_keras, torch_shape
from initlab.init.matrices import delta_orthogonal, dirac, eye, identity, orthogonal, sparse, stft
from initlab.init.schemes import (
    constant,
    normal,
    ones,
    random,
    random_normal,
    random_uniform,
    trunc_normal,
    truncated_normal,
    uniform,
    zeros,
)

__all__ = [
    "Initializer",
    "Moments",
    "SchemeInfo",
    "Shape",
    "available",
    "catalogue",
    "compute_fans",
    "constant",
    "delta_orthogonal",
    "dirac",
    "eye",
    "from_keras",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he",
    "he_normal",
    "he_uniform",
    "identity",
    "kaiming_normal",
    "kaiming_uniform",
    "keras_shape",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "random",
    "random_normal",
    "random_uniform",
    "register",
    "sparse",
    "stft",
    "to_keras",
    "torch_shape",
    "trunc_normal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

_DATA_DEPENDENT = {
    "lsuv": "LSUV (Mishkin & Matas 2016) is data-dependent: it rescales a network's weights "
    "on a batch, so it is not a (shape, rng) initializer. Use "
    "initlab.init.lsuv.lsuv_network(layer_sizes, X, ...) or initlab.lsuv(net, X), or "
    'init = {name = "lsuv", ...} in an experiment spec',
}


def available() -> list[str]:
    """Names of all registered initializers."""
    return sorted(REGISTRY)


def catalogue() -> list[SchemeInfo]:
    """One :class:`SchemeInfo` per registered initializer, sorted by name."""
    return [INFO[name] for name in available()]


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
    if spec not in REGISTRY:
        raise unknown_name("initializer", spec, REGISTRY)
    _check_params(spec, REGISTRY[spec], params)
    return REGISTRY[spec](**params)


# --- variance scaling -------------------------------------------------------------------

_TRUNCATED = "normal truncated at +-2 sigma, rescaled"
_NORMAL = "normal (untruncated)"
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")
_AXES = {"in_axis": 1, "out_axis": 0, "batch_axis": ()}  # initlab's and PyTorch's layout


def _axes_param(name: str, axes: Any) -> int | list[int]:
    if isinstance(axes, int) and not isinstance(axes, bool):
        return axes
    if isinstance(axes, list | tuple) and all(
        isinstance(a, int) and not isinstance(a, bool) for a in axes
    ):
        return list(axes)
    raise InitlabError(f"{name} must be an integer axis or a list of them; got {axes!r}")


def _vs(name: str, scale: float, mode: str, distribution: str, *axes: Axes, params=None):
    """``variance_scaling`` under `name`; `axes` = (in_axis, out_axis, batch_axis)."""
    given = {k: _axes_param(k, a) for k, a in zip(_AXES, axes or _AXES.values(), strict=True)}
    params = dict(params or {})
    params.update({k: a for k, a in given.items() if a != _axes_param(k, _AXES[k])})

    def std(shape: Shape) -> float:
        return math.sqrt(scale / fan(shape, mode, given))

    return scaled(name, params, distribution, std)


@register(
    "variance_scaling",
    "per `distribution`",
    "Var = scale/n, n = fan_in | fan_out | (fan_in+fan_out)/2 | sqrt(fan_in*fan_out)",
    "Keras VarianceScaling, jax variance_scaling",
)
def variance_scaling(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    in_axis: Axes = 1,
    out_axis: Axes = 0,
    batch_axis: Axes = (),
) -> Initializer:
    r"""Zero-mean entries of variance :math:`v = \text{scale} / n`.

    Parameters
    ----------
    scale : float
        Positive factor.
    mode : {"fan_in", "fan_out", "fan_avg", "fan_geo_avg"}
        :math:`n` is fan_in, fan_out, :math:`(\text{fan\_in} + \text{fan\_out}) / 2` or
        :math:`\sqrt{\text{fan\_in} \cdot \text{fan\_out}}` (:func:`compute_fans`).
    distribution : {"normal", "truncated_normal", "uniform"}
        ``"normal"``: :math:`N(0, v)`, untruncated (JAX's meaning; Keras reads "normal" as
        truncated and calls this one "untruncated_normal").
        ``"truncated_normal"``: :math:`N(0, \sigma^2)` truncated to :math:`[-2\sigma, 2\sigma]`
        with :math:`\sigma = \sqrt{v} / 0.8796...`, so that the variance *after* truncation is
        :math:`v` (0.8796... is the standard deviation of N(0, 1) truncated to [-2, 2]).
        ``"uniform"``: :math:`U(-\sqrt{3v}, \sqrt{3v})`.
    in_axis, out_axis, batch_axis : int or list of int
        The axes :func:`compute_fans` reads; the defaults ``1, 0, ()`` are initlab's layout
        ``(out, in, *receptive)``. JAX's defaults, for a ``(*receptive, in, out)`` kernel, are
        ``-2, -1, ()``.

    Complex dtypes draw as JAX does, with :math:`E|W|^2 = v` (:func:`initlab.init.base.scaled`);
    the truncated one is rescaled exactly, where JAX's constant leaves :math:`1.0187\,v`.

    References
    ----------
    Keras ``VarianceScaling``; JAX ``jax.nn.initializers.variance_scaling``.
    """
    scale = check_number("scale", scale, low=0, low_open=True)
    mode = choice("mode", mode, FANS)
    distribution = choice("distribution", distribution, _DISTRIBUTIONS)
    params = {"scale": scale, "mode": mode, "distribution": distribution}
    axes = (in_axis, out_axis, batch_axis)
    return _vs("variance_scaling", scale, mode, distribution, *axes, params=params)


@register("he_normal", _TRUNCATED, "Var = 2/fan_in", "Keras HeNormal, jax he_normal")
def he_normal(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(2, "fan_in", "truncated_normal")``: a **truncated** normal,
    cut at :math:`\pm 2\sigma` and rescaled to variance :math:`2/\text{fan\_in}` (He et al. 2015,
    as Keras and JAX define it). PyTorch's untruncated version is ``kaiming_normal``."""
    return _vs("he_normal", 2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis)


@register(
    "he_uniform",
    "uniform",
    "U(-b, b), b = sqrt(6/fan_in), Var = 2/fan_in",
    "Keras HeUniform, jax he_uniform (= torch kaiming_uniform_, relu)",
)
def he_uniform(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(2, "fan_in", "uniform")``:
    :math:`U(-\sqrt{6/\text{fan\_in}}, \sqrt{6/\text{fan\_in}})` (Keras, JAX)."""
    return _vs("he_uniform", 2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis)


@register(
    "glorot_normal", _TRUNCATED, "Var = 2/(fan_in+fan_out)", "Keras GlorotNormal, jax glorot_normal"
)
def glorot_normal(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(1, "fan_avg", "truncated_normal")``: a **truncated** normal of
    variance :math:`2/(\text{fan\_in}+\text{fan\_out})` (Glorot & Bengio 2010, as Keras and JAX
    define it). PyTorch's untruncated version is ``xavier_normal``."""
    return _vs("glorot_normal", 1.0, "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis)


@register(
    "glorot_uniform",
    "uniform",
    "U(-b, b), b = sqrt(6/(fan_in+fan_out))",
    "Keras GlorotUniform, jax glorot_uniform (= torch xavier_uniform_, gain 1)",
)
def glorot_uniform(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(1, "fan_avg", "uniform")``:
    :math:`U(-b, b)`, :math:`b = \sqrt{6/(\text{fan\_in}+\text{fan\_out})}` (Keras, JAX)."""
    return _vs("glorot_uniform", 1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis)


@register("lecun_normal", _TRUNCATED, "Var = 1/fan_in", "Keras LecunNormal, jax lecun_normal")
def lecun_normal(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(1, "fan_in", "truncated_normal")``: a **truncated** normal of
    variance :math:`1/\text{fan\_in}` (LeCun et al. 1998; Klambauer et al. 2017; Keras, JAX)."""
    return _vs("lecun_normal", 1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis)


@register(
    "lecun_uniform",
    "uniform",
    "U(-b, b), b = sqrt(3/fan_in)",
    "Keras LecunUniform, jax lecun_uniform",
)
def lecun_uniform(in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()) -> Initializer:
    r"""``variance_scaling(1, "fan_in", "uniform")``:
    :math:`U(-\sqrt{3/\text{fan\_in}}, \sqrt{3/\text{fan\_in}})` (Keras, JAX)."""
    return _vs("lecun_uniform", 1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis)


def _kaiming(name: str, a: float, mode: str, nonlinearity: str, distribution: str):
    a = check_number("a", a)
    mode = choice("mode", mode, ("fan_in", "fan_out"))
    gain = calculate_gain(nonlinearity, a)
    params = {"a": a, "mode": mode, "nonlinearity": nonlinearity}
    return _vs(name, gain * gain, mode, distribution, params=params)


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
    return _vs(name, gain * gain, "fan_avg", distribution, params={"gain": gain})


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
    return _vs("he", 2.0, "fan_in", "normal")


@register("xavier", _NORMAL, "Var = 1/fan_in", "the post's 'Xavier' (an untruncated LeCun normal)")
def xavier() -> Initializer:
    r"""The post's Xavier init: :math:`W_{ij} = z_{ij}\sqrt{1 / n_{l-1}}`, :math:`z \sim N(0,1)`.

    Variance :math:`1/\text{fan\_in}`. This is the post's definition, not Glorot & Bengio's
    :math:`2/(\text{fan\_in}+\text{fan\_out})` (see ``glorot_normal``, ``xavier_normal``).
    """
    return _vs("xavier", 1.0, "fan_in", "normal")
