r"""Initializers: pure functions of ``(shape, rng, dtype) -> ndarray``.

Weights use initlab's layout: ``W_l`` has shape ``(n_l, n_{l-1})`` = ``(fan_out, fan_in)``.
An :class:`Initializer` is a callable built by a registered builder from its parameters;
it also states its theoretical moments so that samples can be checked against them.

Every initializer draws in float64 from the generator it is given and casts to `dtype`
at the end, so the legacy stream reproduces ``np.random.randn(n_l, n_{l-1}) * scale``
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._rng import RNG
from ._validation import InitlabError, check_number, unknown_name

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


_REGISTRY: dict[str, Callable[..., Initializer]] = {}


def register(name: str) -> Callable[[Callable[..., Initializer]], Callable[..., Initializer]]:
    """Decorator registering an initializer builder under `name`."""

    def deco(builder: Callable[..., Initializer]) -> Callable[..., Initializer]:
        _REGISTRY[name] = builder
        return builder

    return deco


def available() -> list[str]:
    """Names of all registered initializers."""
    return sorted(_REGISTRY)


def get(spec: str | Mapping[str, Any] | Initializer, **params: Any) -> Initializer:
    """Build an initializer from a name, a table ``{"name": ..., **params}`` or an Initializer.

    Examples
    --------
    >>> get("he")                           # doctest: +SKIP
    >>> get({"name": "random", "scale": 10})  # doctest: +SKIP
    """
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise InitlabError(f"an initializer table needs a 'name' key; got {dict(spec)}")
        params = {**{k: v for k, v in spec.items() if k != "name"}, **params}
        spec = spec["name"]
    if spec not in _REGISTRY:
        raise unknown_name("initializer", spec, _REGISTRY)
    try:
        return _REGISTRY[spec](**params)
    except TypeError as exc:  # unexpected keyword
        raise InitlabError(f"invalid parameters for initializer {spec!r}: {exc}") from None


# --- the post's four ------------------------------------------------------------------


def _scaled_normal(name: str, params: Mapping[str, Any], std: Callable[[Shape], float]):
    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        return rng.standard_normal(shape) * std(shape)

    return Initializer(name, dict(params), draw, lambda shape: Moments(0.0, std(shape)))


@register("zeros")
def zeros() -> Initializer:
    r"""All entries 0: :math:`W = 0`. Leaves every hidden unit of a layer identical."""
    return Initializer("zeros", {}, lambda shape, rng: np.zeros(shape), lambda s: Moments(0, 0, 0, 0))


@register("random")
def random(scale: float = 10.0) -> Initializer:
    r"""The post's random init: :math:`W_{ij} = s \, z_{ij}`, :math:`z_{ij} \sim N(0, 1)`.

    Parameters
    ----------
    scale : float
        The factor :math:`s` (the post uses 10).
    """
    scale = check_number("scale", scale, low=0, low_open=True)
    return _scaled_normal("random", {"scale": scale}, lambda shape: scale)


@register("he")
def he() -> Initializer:
    r"""The post's He init: :math:`W_{ij} = z_{ij}\sqrt{2 / n_{l-1}}`, :math:`z \sim N(0,1)`.

    Variance :math:`2/\text{fan\_in}` (He et al. 2015), an untruncated normal.
    """
    return _scaled_normal("he", {}, lambda shape: math.sqrt(2.0 / compute_fans(shape)[0]))


@register("xavier")
def xavier() -> Initializer:
    r"""The post's Xavier init: :math:`W_{ij} = z_{ij}\sqrt{1 / n_{l-1}}`, :math:`z \sim N(0,1)`.

    Variance :math:`1/\text{fan\_in}`. This is the post's definition, not Glorot & Bengio's
    :math:`2/(\text{fan\_in}+\text{fan\_out})` (see ``glorot_normal``).
    """
    return _scaled_normal("xavier", {}, lambda shape: math.sqrt(1.0 / compute_fans(shape)[0]))
