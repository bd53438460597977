r"""The catalogue's constant and fixed-distribution schemes.

The post's zeros and random; constants; PyTorch's, Keras's and JAX's plain distributions
(same family names, different parameters and truncation rules). Import them from
:mod:`initlab.init.catalogue`, which registers and re-exports them.
"""

from __future__ import annotations

import math

import numpy as np

from initlab._rng import RNG
from initlab._validation import InitlabError, check_number
from initlab.init import truncnorm as _truncnorm
from initlab.init.base import Initializer, Moments, Shape, deterministic, register, scaled


def _full(name: str, params: dict, value: float) -> Initializer:
    return deterministic(
        name,
        params,
        lambda shape: np.full(shape, float(value)),
        lambda shape: Moments(value, 0.0, value, value),
    )


@register("zeros", "constant", "W = 0", "torch zeros_, Keras Zeros, jax zeros")
def zeros() -> Initializer:
    r"""All entries 0: :math:`W = 0`. Leaves every hidden unit of a layer identical."""
    return _full("zeros", {}, 0.0)


@register(
    "random",
    "normal (untruncated)",
    "std = scale (default 10)",
    "the post: np.random.randn(n_l, n_l-1) * 10",
)
def random(scale: float = 10.0) -> Initializer:
    r"""The post's random init: :math:`W_{ij} = s \, z_{ij}`, :math:`z_{ij} \sim N(0, 1)`.

    Parameters
    ----------
    scale : float
        The factor :math:`s` (the post uses 10).
    """
    scale = check_number("scale", scale, low=0, low_open=True)
    return scaled("random", {"scale": scale}, "normal", lambda shape: scale)


@register("constant", "constant", "W = value", "torch constant_, Keras Constant, jax constant")
def constant(value: float) -> Initializer:
    r"""Every entry equal to `value`: :math:`W_{ij} = c`."""
    value = check_number("value", value)
    return _full("constant", {"value": value}, value)


@register("ones", "constant", "W = 1", "torch ones_, Keras Ones, jax ones")
def ones() -> Initializer:
    r"""Every entry 1: :math:`W_{ij} = 1`."""
    return _full("ones", {}, 1.0)


def _uniform(name: str, params: dict, low: float, high: float) -> Initializer:
    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        return rng.uniform(low, high, shape)

    moments = Moments((low + high) / 2, (high - low) / math.sqrt(12.0), low, high)
    return Initializer(name, params, draw, lambda shape: moments)


def _normal(name: str, params: dict, mean: float, std: float) -> Initializer:
    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        x = rng.standard_normal(shape)
        x *= std
        x += mean
        return x

    return Initializer(name, params, draw, lambda shape: Moments(mean, std))


def _truncated(name: str, params: dict, mean: float, std: float, a: float, b: float):
    """N(mean, std^2) conditioned on [a, b] (absolute bounds, a < b), not rescaled."""
    if not a < b:
        raise InitlabError(f"the truncation interval needs a < b; got [{a}, {b}] for {name}")
    lo, hi = (a - mean) / std, (b - mean) / std
    if not _truncnorm.mass(lo, hi) > 0:
        raise InitlabError(
            f"[{a}, {b}] lies {min(abs(lo), abs(hi)):.4g} std from the mean {mean}: "
            f"N(mean, std^2) gives it probability 0 in float64, so {name} cannot sample it"
        )
    z_mean, z_std = _truncnorm.moments(lo, hi)

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        x = _truncnorm.sample(rng, shape, lo, hi, std)
        x += mean
        return np.clip(x, a, b, out=x)  # rounding of mean + std * z may pass a bound by 1 ulp

    moments = Moments(mean + std * z_mean, std * z_std, a, b)
    return Initializer(name, params, draw, lambda shape: moments)


@register("uniform", "uniform", "U(a, b), default U(0, 1)", "torch uniform_; jax uniform(s)=U(0,s)")
def uniform(a: float = 0.0, b: float = 1.0) -> Initializer:
    r""":math:`U(a, b)`: PyTorch's ``uniform_`` (``jax.nn.initializers.uniform(s)`` is
    :math:`U(0, s)`). Mean :math:`(a+b)/2`, variance :math:`(b-a)^2/12`."""
    a, b = check_number("a", a), check_number("b", b)
    if b <= a:
        raise InitlabError(f"b must be > a ({a}) for uniform(a, b); got b={b}")
    return _uniform("uniform", {"a": a, "b": b}, a, b)


@register("normal", "normal (untruncated)", "N(mean, std^2), default N(0, 1)", "torch normal_")
def normal(mean: float = 0.0, std: float = 1.0) -> Initializer:
    r""":math:`N(\mu, \sigma^2)`, untruncated: PyTorch's ``normal_`` (JAX's ``normal(s)`` is
    :math:`N(0, s^2)`)."""
    mean, std = check_number("mean", mean), check_number("std", std, low=0)
    return _normal("normal", {"mean": mean, "std": std}, mean, std)


@register(
    "trunc_normal",
    "normal truncated to [a, b], not rescaled",
    "N(mean, std^2) on [a, b], absolute bounds, default [-2, 2]",
    "torch trunc_normal_",
)
def trunc_normal(
    mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Initializer:
    r""":math:`N(\mu, \sigma^2)` conditioned on :math:`a \le W_{ij} \le b`, **absolute**
    bounds, **not rescaled**: PyTorch's ``trunc_normal_``. The variance is below
    :math:`\sigma^2` (:math:`0.774\,\sigma^2` for the defaults).

    Any :math:`a < b` is accepted, also an interval that does not contain the mean
    (``[1, 3]`` with mean 0, as PyTorch and JAX sample it), as long as float64 gives it a
    positive probability. Sampled exactly (:mod:`initlab.init.truncnorm`).
    """
    mean, std = check_number("mean", mean), check_number("std", std, low=0, low_open=True)
    a, b = check_number("a", a), check_number("b", b)
    if b <= a:
        raise InitlabError(f"b must be > a ({a}) for trunc_normal; got b={b}")
    params = {"mean": mean, "std": std, "a": a, "b": b}
    return _truncated("trunc_normal", params, mean, std, a, b)


@register(
    "random_normal", "normal (untruncated)", "N(mean, stddev^2), stddev 0.05", "Keras RandomNormal"
)
def random_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    r""":math:`N(\mu, \sigma^2)`, untruncated, with Keras's ``RandomNormal`` defaults
    (:math:`\sigma = 0.05`)."""
    mean, stddev = check_number("mean", mean), check_number("stddev", stddev, low=0)
    return _normal("random_normal", {"mean": mean, "stddev": stddev}, mean, stddev)


@register("random_uniform", "uniform", "U(minval, maxval), default +-0.05", "Keras RandomUniform")
def random_uniform(minval: float = -0.05, maxval: float = 0.05) -> Initializer:
    r""":math:`U(\text{minval}, \text{maxval})` with Keras's ``RandomUniform`` defaults
    (:math:`\pm 0.05`)."""
    minval, maxval = check_number("minval", minval), check_number("maxval", maxval)
    if maxval <= minval:
        raise InitlabError(f"maxval must be > minval ({minval}); got maxval={maxval}")
    return _uniform("random_uniform", {"minval": minval, "maxval": maxval}, minval, maxval)


@register(
    "truncated_normal",
    "normal truncated at mean + [lower, upper] stddev, not rescaled",
    "std = 0.8796 stddev for [-2, 2], default stddev 0.05",
    "Keras TruncatedNormal; jax truncated_normal(stddev, lower=, upper=)",
)
def truncated_normal(
    mean: float = 0.0, stddev: float = 0.05, lower: float = -2.0, upper: float = 2.0
) -> Initializer:
    r""":math:`N(\mu, \sigma^2)` conditioned on
    :math:`\mu + l\sigma \le W_{ij} \le \mu + u\sigma`, **not rescaled**: Keras's
    ``TruncatedNormal(mean, stddev)`` (:math:`l, u = -2, 2`) and JAX's
    ``truncated_normal(stddev, lower=l, upper=u)`` (:math:`\mu = 0`; JAX's default stddev is
    0.01). For :math:`[-2, 2]` the standard deviation of the entries is
    :math:`0.87962566\,\sigma`, not :math:`\sigma`; ``variance_scaling``'s truncated normal
    rescales, this one does not.

    Parameters
    ----------
    mean, stddev : float
        Mean and standard deviation of the normal before truncation.
    lower, upper : float
        Bounds in units of `stddev` from `mean` (JAX's ``lower``, ``upper``), lower < upper.
    """
    mean = check_number("mean", mean)
    stddev = check_number("stddev", stddev, low=0, low_open=True)
    lower, upper = check_number("lower", lower), check_number("upper", upper)
    if not lower < upper:
        raise InitlabError(f"upper must be > lower ({lower}); got upper={upper}")
    params = {"mean": mean, "stddev": stddev, "lower": lower, "upper": upper}
    a, b = mean + lower * stddev, mean + upper * stddev
    return _truncated("truncated_normal", params, mean, stddev, a, b)
