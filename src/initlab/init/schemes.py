r"""The catalogue's fixed-distribution and matrix schemes (registered in :mod:`.initializers`).

The post's zeros and random; constants; PyTorch's and Keras's plain distributions (same
family names, different parameters and truncation rules); and the structured matrices:
orthogonal, identity and sparse. Import them from :mod:`initlab.init.catalogue`, which
re-exports them.
"""

from __future__ import annotations

import math

import numpy as np

from initlab._rng import RNG
from initlab._validation import InitlabError, check_number
from initlab.init import truncnorm as _truncnorm
from initlab.init.catalogue import Initializer, Moments, Shape, _scaled, register


def _full(name: str, params: dict, value: float) -> Initializer:
    return Initializer(
        name,
        params,
        lambda shape, rng: np.full(shape, float(value)),
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
    return _scaled("random", {"scale": scale}, "normal", lambda shape: scale)


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
    """N(mean, std^2) conditioned on [a, b] (absolute bounds), not rescaled."""
    lo, hi = (a - mean) / std, (b - mean) / std
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


def _check_truncation(mean: float, std: float, a: float, b: float) -> None:
    if a >= mean:
        raise InitlabError(f"a must be < mean ({mean}): [a, b] must contain the mean; got a={a}")
    if b <= mean:
        raise InitlabError(f"b must be > mean ({mean}): [a, b] must contain the mean; got b={b}")


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

    Sampled exactly by inversion of the normal CDF (:mod:`initlab.init.truncnorm`).
    """
    mean, std = check_number("mean", mean), check_number("std", std, low=0, low_open=True)
    a, b = check_number("a", a), check_number("b", b)
    _check_truncation(mean, std, a, b)
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
    "normal truncated at mean +-2 stddev, not rescaled",
    "std = 0.8796 stddev, default stddev 0.05",
    "Keras TruncatedNormal; jax truncated_normal",
)
def truncated_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    r""":math:`N(\mu, \sigma^2)` conditioned on :math:`|W_{ij} - \mu| \le 2\sigma`,
    **not rescaled**: Keras's ``TruncatedNormal`` (and JAX's ``truncated_normal(stddev)``
    for :math:`\mu = 0`). The standard deviation of the entries is
    :math:`0.87962566\,\sigma`, not :math:`\sigma`; ``variance_scaling``'s truncated normal
    rescales, this one does not."""
    mean = check_number("mean", mean)
    stddev = check_number("stddev", stddev, low=0, low_open=True)
    params = {"mean": mean, "stddev": stddev}
    return _truncated(
        "truncated_normal", params, mean, stddev, mean - 2 * stddev, mean + 2 * stddev
    )


def _check_gain(gain: float) -> float:
    return check_number("gain", gain, low=0, low_open=True)


@register(
    "orthogonal",
    "Haar (semi-)orthogonal, times gain",
    "W W^T = gain^2 I (rows <= cols), else W^T W",
    "torch orthogonal_, Keras Orthogonal, jax orthogonal",
)
def orthogonal(gain: float = 1.0) -> Initializer:
    r"""A uniformly (Haar) distributed (semi-)orthogonal matrix times `gain` (Saxe et al. 2014).

    The weight is viewed as ``(rows, cols) = (shape[0], prod(shape[1:]))``, as in PyTorch.
    A Gaussian matrix :math:`A` (transposed if rows < cols) is factored :math:`A = QR` and
    :math:`Q \leftarrow Q \operatorname{diag}(\operatorname{sign} R_{ii})`: without the sign
    correction :math:`Q` is not Haar distributed (Mezzadri 2007). Then
    :math:`W W^T = g^2 I` if rows <= cols, else :math:`W^T W = g^2 I`. Each entry has mean 0
    and variance :math:`g^2 / \max(\text{rows}, \text{cols})`.
    """
    gain = _check_gain(gain)

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        if len(shape) < 2:
            raise InitlabError(f"orthogonal needs at least 2 dimensions; got shape {shape}")
        rows = shape[0]
        cols = math.prod(shape[1:])
        A = rng.standard_normal((rows, cols))
        if rows < cols:
            A = A.T
        Q, R = np.linalg.qr(A)
        Q *= np.where(np.diag(R) < 0, -1.0, 1.0)
        if rows < cols:
            Q = Q.T
        return gain * Q.reshape(shape)

    def moments(shape: Shape) -> Moments:
        n = max(shape[0], math.prod(shape[1:]))
        return Moments(0.0, gain / math.sqrt(n), -gain, gain)

    return Initializer("orthogonal", {"gain": gain}, draw, moments)


def _eye(name: str, gain: float) -> Initializer:
    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        if len(shape) != 2:
            raise InitlabError(f"{name} needs a 2-D weight; got shape {shape}")
        return gain * np.eye(*shape)

    def moments(shape: Shape) -> Moments:
        f = min(shape) / math.prod(shape)  # fraction of entries on the diagonal
        return Moments(gain * f, gain * math.sqrt(f * (1 - f)), 0.0, gain)

    return Initializer(name, {"gain": gain}, draw, moments)


@register("identity", "constant", "W = gain * I (ones on the main diagonal)", "Keras Identity")
def identity(gain: float = 1.0) -> Initializer:
    r""":math:`W = g I`: ones on the main diagonal of a 2-D weight, zeros elsewhere, also
    when it is not square (Keras's ``Identity``)."""
    return _eye("identity", _check_gain(gain))


@register("eye", "constant", "W = gain * I (ones on the main diagonal)", "torch eye_ (gain 1)")
def eye(gain: float = 1.0) -> Initializer:
    r""":math:`W = g I` (PyTorch's ``eye_`` for :math:`g = 1`): the same matrix as
    ``identity``, under PyTorch's name."""
    return _eye("eye", _check_gain(gain))


@register(
    "sparse",
    "normal, ceil(sparsity*rows) zeros per column",
    "N(0, std^2) off the zeros, default std 0.01",
    "torch sparse_",
)
def sparse(sparsity: float, std: float = 0.01) -> Initializer:
    r"""PyTorch's ``sparse_`` (Martens 2010) for a 2-D weight ``(rows, cols)``.

    Every entry is :math:`N(0, \sigma^2)`, then in each column a uniformly random set of
    :math:`z = \lceil \text{sparsity} \cdot \text{rows} \rceil` rows is set to 0. Entry
    variance :math:`\sigma^2 (1 - z/\text{rows})`.
    """
    sparsity = check_number("sparsity", sparsity, low=0, high=1, high_open=True)
    std = check_number("std", std, low=0)

    def zeros_per_column(shape: Shape) -> int:
        if len(shape) != 2:
            raise InitlabError(f"sparse needs a 2-D weight; got shape {shape}")
        return math.ceil(sparsity * shape[0])

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        z = zeros_per_column(shape)
        W = rng.standard_normal(shape) * std
        ranks = np.argsort(rng.random(shape), axis=0)  # a uniform permutation per column
        np.put_along_axis(W, ranks[:z], 0.0, axis=0)
        return W

    def moments(shape: Shape) -> Moments:
        kept = 1.0 - zeros_per_column(shape) / shape[0]
        return Moments(0.0, std * math.sqrt(kept))

    return Initializer("sparse", {"sparsity": sparsity, "std": std}, draw, moments)
