r"""Hidden-layer activations, each with its derivative beside it.

An :class:`Activation` maps pre-activations :math:`Z` to :math:`A = \phi(Z)` and gives
:math:`\phi'(Z)` (from `Z` and the already computed `A`, whichever is cheaper). It also
says what "saturated" means for it, for diagnostics, and is usable on arbitrary arrays so
that signal-propagation theory can integrate it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from initlab._validation import check_number, unknown_name

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    r"""An elementwise nonlinearity :math:`\phi` with its derivative.

    Attributes
    ----------
    name : str
        Registry name.
    params : dict
        Its parameters (``{"slope": a}`` for leaky ReLU).
    f : callable
        ``f(Z) -> A``.
    df : callable
        ``df(Z, A) -> dA/dZ``, elementwise.
    saturated : callable
        ``saturated(Z, A) -> bool array``: tanh and sigmoid outside the central 99% of their
        output range; ReLU-type units exactly 0 (dead).
    """

    name: str
    params: dict[str, Any]
    f: Callable[[Array], Array] = field(repr=False)
    df: Callable[[Array, Array], Array] = field(repr=False)
    saturated: Callable[[Array, Array], Array] = field(repr=False)

    def __call__(self, Z: Array) -> Array:
        return self.f(Z)

    @property
    def spec(self) -> dict[str, Any]:
        """Its whole identity as plain data, ``{"name": ..., **params}``: what :func:`get`
        takes back, and what a record stores."""
        return {"name": self.name, **self.params}


def _tanh() -> Activation:
    return Activation("tanh", {}, np.tanh, lambda Z, A: 1.0 - A * A, lambda Z, A: np.abs(A) > 0.99)


def _sigmoid() -> Activation:
    return Activation(
        "sigmoid",
        {},
        expit,
        lambda Z, A: A * (1.0 - A),
        lambda Z, A: np.abs(A - 0.5) > 0.495,
    )


def _relu() -> Activation:
    return Activation(
        "relu",
        {},
        lambda Z: np.maximum(Z, 0.0),
        lambda Z, A: (Z > 0).astype(Z.dtype),
        lambda Z, A: A == 0,
    )


def _leaky_relu(slope: float = 0.01) -> Activation:
    slope = check_number("slope", slope, low=0, high=1, high_open=True)
    return Activation(
        "leaky_relu",
        {"slope": slope},
        lambda Z: np.where(Z > 0, Z, slope * Z),
        lambda Z, A: np.where(Z > 0, 1.0, slope).astype(Z.dtype),
        lambda Z, A: Z <= 0,
    )


def _linear() -> Activation:
    return Activation(
        "linear",
        {},
        lambda Z: Z,
        lambda Z, A: np.ones_like(Z),
        lambda Z, A: np.zeros(Z.shape, bool),
    )


_REGISTRY: dict[str, Callable[..., Activation]] = {
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
}

HIDDEN = ("tanh", "sigmoid", "relu", "leaky_relu", "linear")


def available() -> list[str]:
    """Names of the supported hidden activations."""
    return sorted(_REGISTRY)


def get(name: str | Mapping[str, Any] | Activation, **params: Any) -> Activation:
    """Return the activation `name` built with `params` (``slope`` for leaky_relu).

    `name` may also be a table ``{"name": "leaky_relu", "slope": 0.1}`` (an
    :attr:`Activation.spec`), or an Activation (returned as is).

    Raises
    ------
    InitlabError
        For an unknown name (the message lists the valid ones) or an invalid parameter.
    """
    if isinstance(name, Activation):
        return name
    if isinstance(name, Mapping):
        table = dict(name)
        return get(table.pop("name", None), **{**table, **params})
    if name not in _REGISTRY:
        raise unknown_name("activation", name, _REGISTRY)
    try:
        return _REGISTRY[name](**params)
    except TypeError:
        from initlab._validation import InitlabError

        raise InitlabError(
            f"activation {name!r} takes no parameters {sorted(params)}"
            + ("; leaky_relu takes 'slope'" if name != "leaky_relu" else "")
        ) from None
