r"""What every initializer shares: the :class:`Initializer` type, fans, the registry.

:mod:`initlab.init.catalogue` and the scheme modules (:mod:`.schemes`, :mod:`.matrices`)
import from here, so none of them imports another.

Layout: initlab's (and PyTorch's) weights are ``(out, in, *receptive)``; :func:`compute_fans`
reads another layout given its axes (``in_axis``, ``out_axis``, ``batch_axis``, JAX's names).

Complex dtypes follow JAX and PyTorch for the zero-mean scaled schemes: the complex entry
:math:`W = X + iY` has :math:`E|W|^2 = v`, the real target variance (:func:`scaled`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.init import truncnorm as _truncnorm

Shape = tuple[int, ...]
Axes = int | Sequence[int]


@dataclass(frozen=True)
class Moments:
    """Theoretical mean, standard deviation and support of an initializer's entries.

    They describe the real draws; the complex draws of :func:`scaled` have
    :math:`E|W|^2` = ``std**2`` too.
    """

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf


def check_shape(shape: Any) -> Shape:
    """Return `shape` as a tuple of Python ints, or raise naming the bad entry."""
    if isinstance(shape, str | bytes) or not isinstance(shape, Sequence | np.ndarray):
        raise InitlabError(f"shape must be a sequence of non-negative integers; got {shape!r}")
    sizes = []
    for s in shape:
        try:
            n = operator.index(s)
        except TypeError:
            n = None
        if n is None or isinstance(s, bool | np.bool_) or n < 0:
            raise InitlabError(
                f"shape must hold non-negative integers; got {s!r} in shape {tuple(shape)!r}"
            )
        sizes.append(int(n))
    return tuple(sizes)


def check_rng(rng: Any) -> RNG:
    """A Generator or RandomState as is; an integer seed as ``make_rng(seed)``; else raise.

    ``None`` is refused: initlab has no global random state to fall back on.
    """
    if isinstance(rng, np.random.Generator | np.random.RandomState):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return make_rng(int(rng))
    raise InitlabError(
        "rng must be a numpy Generator or RandomState, or a non-negative integer seed; "
        f"got {rng!r} (initlab has no global random state: pass np.random.default_rng(seed))"
    )


@dataclass(frozen=True)
class Initializer:
    """A named, parameterized initializer.

    Call it as ``init(shape, rng, dtype=np.float64)`` to draw an array. `shape` holds
    non-negative integers; `rng` is a NumPy ``Generator`` or ``RandomState``, or an integer
    seed (converted by :func:`initlab.make_rng`, default stream); `dtype` is a floating dtype,
    or a complex one for the initializers that define complex draws (`draw_complex`).

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
    draw_complex : callable or None
        ``draw_complex(shape, rng) -> complex128 ndarray``; None: complex dtypes refused.
    fill : callable or None
        ``fill(out, rng) -> bool``: write ``draw(out.shape, rng)``'s very numbers into the
        float64 array `out` without a temporary, consuming `rng` the same way, and return
        True; or return False (not for this rng) and leave both untouched.
    """

    name: str
    params: Mapping[str, Any]
    draw: Callable[[Shape, RNG], np.ndarray] = field(repr=False)
    moments: Callable[[Shape], Moments] = field(repr=False)
    draw_complex: Callable[[Shape, RNG], np.ndarray] | None = field(default=None, repr=False)
    fill: Callable[[np.ndarray, RNG], bool] | None = field(default=None, repr=False)

    def draw_into(self, out: np.ndarray, rng: RNG) -> None:
        """``out[...] = self(out.shape, rng, out.dtype)``, the same numbers, without the
        temporary where :attr:`fill` takes a float64 `out` (a population's layers are drawn
        straight into their stacked array this way: no per-member array, no stacking copy).
        """
        if out.dtype == np.float64 and self.fill is not None and self.fill(out, rng):
            return
        out[...] = self(out.shape, rng, out.dtype)

    def __call__(self, shape: Shape, rng: RNG | int, dtype: Any = np.float64) -> np.ndarray:
        shape, rng = check_shape(shape), check_rng(rng)
        try:
            dt = np.dtype(dtype)
        except TypeError as e:
            raise InitlabError(f"dtype must be a NumPy dtype; got {dtype!r}") from e
        if dt.kind == "f":
            return np.asarray(self.draw(shape, rng), dtype=np.float64).astype(dt, copy=False)
        if dt.kind == "c" and self.draw_complex is not None:
            return np.asarray(self.draw_complex(shape, rng)).astype(dt, copy=False)
        if dt.kind == "c":
            raise InitlabError(
                f"initializer {self.name!r} draws real numbers only; got dtype {dt} (complex "
                "draws exist for variance_scaling, its schemes, random and the constants)"
            )
        raise InitlabError(
            f"dtype must be a floating (or complex) type; got {dt} for initializer "
            f"{self.name!r} (casting would truncate the draws; cast the result yourself)"
        )


def deterministic(name: str, params: Mapping, values: Callable[[Shape], np.ndarray], moments):
    """An initializer whose array depends on the shape only; complex dtypes get it exactly."""

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        return values(shape)

    return Initializer(name, dict(params), draw, moments, draw)


# --- fans -------------------------------------------------------------------------------


def _axes(name: str, axes: Axes, ndim: int, shape: Shape) -> list[int]:
    listed = [axes] if isinstance(axes, int) else list(axes)
    for a in listed:
        if not -ndim <= a < ndim:
            raise InitlabError(f"{name} {a} is out of range for shape {shape}")
    return [a % ndim for a in listed]


def compute_fans(
    shape: Shape, in_axis: Axes = 1, out_axis: Axes = 0, batch_axis: Axes = ()
) -> tuple[int, int]:
    r"""Return ``(fan_in, fan_out)`` of a weight of `shape`.

    .. math::

        \text{fan\_in} = n_\text{in}\, r, \quad \text{fan\_out} = n_\text{out}\, r, \quad
        r = \prod_{a \notin \text{in} \cup \text{out} \cup \text{batch}} \text{shape}_a

    where :math:`n_\text{in}` (:math:`n_\text{out}`) is the product of the sizes of the
    `in_axis` (`out_axis`) axes and :math:`r` the receptive field (JAX's ``_compute_fans``).
    The defaults read initlab's and PyTorch's layout ``(out, in, *receptive)``, as
    ``torch.nn.init._calculate_fan_in_and_fan_out``; ``in_axis=-2, out_axis=-1`` reads
    Keras's and JAX's ``(*receptive, in, out)``. Keras's ``input_axes=I, output_axes=O``
    multiply only the listed sizes: that is ``in_axis=I, out_axis=O`` with every other
    axis in `batch_axis`.
    """
    shape = check_shape(shape)
    if len(shape) < 2:
        raise InitlabError(f"fans need a weight of at least 2 dimensions; got shape {shape}")
    n = len(shape)
    ins, outs = _axes("in_axis", in_axis, n, shape), _axes("out_axis", out_axis, n, shape)
    batch = _axes("batch_axis", batch_axis, n, shape)
    named = ins + outs + batch
    if len(set(named)) != len(named):
        raise InitlabError(
            f"in_axis {in_axis}, out_axis {out_axis} and batch_axis {batch_axis} must name "
            f"distinct axes of shape {shape}"
        )
    receptive = math.prod(s for a, s in enumerate(shape) if a not in named)
    fan_in = math.prod(shape[a] for a in ins) * receptive
    return fan_in, math.prod(shape[a] for a in outs) * receptive


FANS: dict[str, Callable[[int, int], float]] = {
    "fan_in": lambda fan_in, fan_out: fan_in,
    "fan_out": lambda fan_in, fan_out: fan_out,
    "fan_avg": lambda fan_in, fan_out: (fan_in + fan_out) / 2,
    "fan_geo_avg": lambda fan_in, fan_out: math.sqrt(fan_in * fan_out),
}


def fan(shape: Shape, mode: str, axes: Mapping[str, Axes] | None = None) -> float:
    """The fan `mode` names (a key of :data:`FANS`), refusing 0 (an empty weight)."""
    n = FANS[mode](*compute_fans(shape, **(axes or {})))
    if n <= 0:
        raise InitlabError(f"{mode} of shape {shape} is 0: an empty weight has no scale")
    return n


def choice(name: str, value: Any, options: Mapping[str, Any] | tuple[str, ...]) -> str:
    """`value` if it is one of `options`, else an error listing them."""
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


REGISTRY: dict[str, Callable[..., Initializer]] = {}
INFO: dict[str, SchemeInfo] = {}


def register(
    name: str, distribution: str = "", formula: str = "", equivalent: str = ""
) -> Callable[[Callable[..., Initializer]], Callable[..., Initializer]]:
    """Decorator registering an initializer builder under `name`, with its catalogue line."""

    def deco(builder: Callable[..., Initializer]) -> Callable[..., Initializer]:
        REGISTRY[name] = builder
        INFO[name] = SchemeInfo(name, distribution, formula, equivalent)
        return builder

    return deco


# --- zero-mean scaled draws, real and complex -------------------------------------------

SQRT3 = math.sqrt(3.0)
COMPLEX_STD_2SIGMA = math.sqrt((1 - 5 * math.exp(-4.0)) / (1 - math.exp(-4.0)))
r"""RMS modulus of a complex normal with :math:`E|Z|^2 = 1` truncated to :math:`|Z| \le 2`:
0.96196... (:math:`|Z|^2` is Exp(1) conditioned on :math:`\le 4`). JAX divides by
0.95311 = :math:`\sqrt{1 - 5e^{-4}}` instead, the same integral without dividing by
:math:`P(|Z| \le 2) = 1 - e^{-4}`, so its complex truncated draws have variance
1.0187 times the target."""


def _complex(shape: Shape, rng: RNG, distribution: str, s: float) -> np.ndarray:
    if distribution == "normal":  # X, Y ~ N(0, s^2/2): E|W|^2 = s^2
        x, y = rng.standard_normal(shape), rng.standard_normal(shape)
        return (x + 1j * y) * (s / math.sqrt(2.0))
    if distribution == "uniform":  # uniform on the disk of radius s sqrt(2): E|W|^2 = s^2
        r, theta = np.sqrt(2.0 * rng.uniform(0.0, 1.0, shape)), rng.uniform(0.0, 2 * np.pi, shape)
    else:  # |W|^2 / sigma^2 ~ Exp(1) conditioned on <= 4, by inversion; sigma = s / 0.96196
        t = rng.uniform(0.0, -math.expm1(-4.0), shape)
        r, theta = np.sqrt(-np.log1p(-t)), rng.uniform(0.0, 2 * np.pi, shape)
        s /= COMPLEX_STD_2SIGMA
    return s * r * np.exp(1j * theta)


def scaled(name: str, params: Mapping, distribution: str, std: Callable[[Shape], float]):
    r"""Zero-mean entries of standard deviation ``std(shape)`` (after any truncation).

    `distribution` is ``"normal"`` (untruncated), ``"uniform"`` (:math:`U(\pm\sqrt 3 s)`) or
    ``"truncated_normal"`` (cut at :math:`\pm 2\sigma`, :math:`\sigma = s / 0.8796`). Complex
    draws, as JAX's ``variance_scaling``: ``"normal"`` has independent real and imaginary
    parts of variance :math:`s^2/2`; ``"uniform"`` is uniform on the disk of radius
    :math:`\sqrt 2 s`; ``"truncated_normal"`` is the complex normal with
    :math:`E|Z|^2 = \sigma^2` conditioned on :math:`|Z| \le 2\sigma`, with
    :math:`\sigma = s /` :data:`COMPLEX_STD_2SIGMA`. All three have :math:`E|W|^2 = s^2`.
    """

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        s = std(shape)
        if distribution == "uniform":
            return rng.uniform(-SQRT3 * s, SQRT3 * s, shape)
        if distribution == "truncated_normal":  # sigma = s / 0.8796 before truncation
            return _truncnorm.sample(rng, shape, -2.0, 2.0, s / _truncnorm.STD_2SIGMA)
        x = rng.standard_normal(shape)
        x *= s
        return x

    def moments(shape: Shape) -> Moments:
        s = std(shape)
        if distribution == "uniform":
            return Moments(0.0, s, -SQRT3 * s, SQRT3 * s)
        if distribution == "normal":
            return Moments(0.0, s)
        bound = 2.0 * (s / _truncnorm.STD_2SIGMA)
        return Moments(0.0, s, -bound, bound)

    def draw_complex(shape: Shape, rng: RNG) -> np.ndarray:
        return _complex(shape, rng, distribution, std(shape))

    def fill(out: np.ndarray, rng: RNG) -> bool:
        # a Generator's normals into `out`: the same stream and numbers as `draw`'s
        if distribution != "normal" or not isinstance(rng, np.random.Generator):
            return False
        rng.standard_normal(out=out)
        out *= std(out.shape)
        return True

    return Initializer(name, dict(params), draw, moments, draw_complex, fill)
