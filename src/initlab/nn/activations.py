r"""Hidden-layer activations, each with its derivative beside it.

An :class:`Activation` maps pre-activations :math:`Z` to :math:`A = \phi(Z)` and gives
:math:`\phi'(Z)` (from `Z` and the already computed `A`, whichever is cheaper). It also
says what "saturated" means for it, for diagnostics, and is usable on arbitrary arrays so
that signal-propagation theory can integrate it.

``erf`` is :math:`\phi(z) = \operatorname{erf}(z)`, :math:`\phi'(z) = (2/\sqrt\pi)
e^{-z^2}`: the sigmoid-shaped unit whose Gaussian kernels have closed forms (Williams 1997,
"Computing with infinite networks"), as in neural-tangents' ``stax.Erf()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf, expit

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
    scale_free : bool
        Positively homogeneous of degree 1, :math:`\phi(a z) = a\,\phi(z)` for
        :math:`a > 0` (relu, leaky relu, linear): then every Gaussian expectation of
        :math:`\phi(u_1)\phi(u_2)` scales with :math:`\sqrt{q_1 q_2}` and the correlation
        map does not depend on :math:`q` (:mod:`initlab.analysis.correlation`).
    """

    name: str
    params: dict[str, Any]
    f: Callable[[Array], Array] = field(repr=False)
    df: Callable[[Array, Array], Array] = field(repr=False)
    saturated: Callable[[Array, Array], Array] = field(repr=False)
    scale_free: bool = False

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
        scale_free=True,
    )


def _leaky_relu(slope: float = 0.01) -> Activation:
    slope = check_number("slope", slope, low=0, high=1, high_open=True)
    return Activation(
        "leaky_relu",
        {"slope": slope},
        lambda Z: np.where(Z > 0, Z, slope * Z),
        lambda Z, A: np.where(Z > 0, 1.0, slope).astype(Z.dtype),
        lambda Z, A: Z <= 0,
        scale_free=True,
    )


def _linear() -> Activation:
    return Activation(
        "linear",
        {},
        lambda Z: Z,
        lambda Z, A: np.ones_like(Z),
        lambda Z, A: np.zeros(Z.shape, bool),
        scale_free=True,
    )


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf() -> Activation:
    return Activation(
        "erf",
        {},
        erf,
        lambda Z, A: _TWO_OVER_SQRT_PI * np.exp(-Z * Z),
        lambda Z, A: np.abs(A) > 0.99,
    )


_REGISTRY: dict[str, Callable[..., Activation]] = {
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
    "erf": _erf,
}

HIDDEN = ("tanh", "sigmoid", "relu", "leaky_relu", "linear", "erf")


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
