r"""LSUV (Mishkin & Matas 2016) for any torch module, and forward passes that stop early.

Import :func:`lsuv` from :mod:`initlab.torch`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.analysis.coordcheck import text_table
from initlab.init import catalogue as _initializers
from initlab.init.lsuv import LSUV_PARAMS, LSUVReport, _check_options
from initlab.nn import activations as _activations
from initlab.torch._apply import LAYERS, _copy_into, _run, infer_activation, layer_order

logger = logging.getLogger(__name__)


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted output is captured."""


def _output_of(module: nn.Module, layer: nn.Module, batch: Any) -> np.ndarray:
    """`layer`'s output on `batch` (its first call), float64 numpy; the pass stops there."""
    got = []

    def hook(mod, inputs, output):
        got.append(output.detach().to("cpu", torch.float64).numpy().copy())
        raise _Stop

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            _run(module, batch)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not got:
        raise InitlabError(f"{type(layer).__name__} was not called by the forward pass")
    return got[0]


# --- LSUV ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleLSUVReport(LSUVReport):
    """:class:`~initlab.init.lsuv.LSUVReport` (arrays ``(L, 1)``) with the layers' names."""

    layers: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = ["layer", "iterations", "variance", "converged"]
        rows = [[n, str(int(self.iterations[l, 0])), f"{self.variances[l, 0]:.6f}",
                 str(bool(self.converged[l, 0]))] for l, n in enumerate(self.layers)]  # fmt: skip
        return text_table([head, *rows])


def lsuv(
    module: nn.Module,
    batch: Any,
    *,
    tol: float = LSUV_PARAMS["tol"],
    max_iter: int = LSUV_PARAMS["max_iter"],
    measure: str = LSUV_PARAMS["measure"],
    orthonormal: int | RNG | None = 0,
    layers: Sequence[str] | None = None,
    activation: str | _activations.Activation | None = None,
) -> ModuleLSUVReport:
    r"""LSUV (Mishkin & Matas 2016) on any module, in place, through forward hooks.

    The algorithm and options of :func:`initlab.init.lsuv.lsuv`: optionally pre-initialize every
    measured layer's weight with an orthonormal matrix (``orthogonal``, gain 1, of the
    weight's ``(shape[0], prod(shape[1:]))`` view) and its bias with 0; then, layer by layer
    in forward order, measure the variance :math:`v_l` of the layer's output over the batch
    (all entries: examples, units, positions) and set :math:`W_l \leftarrow W_l / \sqrt{v_l}`
    until :math:`|v_l - 1| <` tol or `max_iter` rescalings. Each measurement is one forward
    pass, stopped at the layer measured.

    Parameters
    ----------
    module : nn.Module
    batch : Tensor or tuple of Tensors
        The input, examples first: ``module(batch)`` (or ``module(*batch)``), at least 2
        examples.
    tol, max_iter, measure
        As in :func:`initlab.init.lsuv.lsuv`. ``measure="activation"`` measures
        :math:`\phi(Z_l)` (:func:`infer_activation`, or `activation`) for every layer but
        the last, whose output is always measured as is.
    orthonormal : int or Generator or None
        Seed of the orthonormal pre-initialization (layers drawn in forward order from one
        generator, as :func:`initlab.init.lsuv.lsuv_network` draws them); None rescales the
        module's current weights (LSUV on top of another scheme, e.g. after :func:`apply`).
        The default, 0, is the paper's algorithm; :func:`initlab.init.lsuv.lsuv`, which takes an
        already initialized network, defaults to None.
    layers : sequence of str, optional
        Names of the layers to scale; default every :data:`LAYERS` module the forward pass
        calls.

    Returns
    -------
    ModuleLSUVReport
    """
    tol, max_iter, measure = _check_options(tol, max_iter, measure)
    names = _layers(module, batch, layers)
    mods = dict(module.named_modules())
    act = _measured_activation(module, measure, activation)
    if orthonormal is not None:
        _orthonormal([mods[n] for n in names], orthonormal)
    L = len(names)
    iterations, variances = np.zeros((L, 1), int), np.zeros((L, 1))
    for l, n in enumerate(names):
        phi = act if l < L - 1 else None
        iterations[l, 0], variances[l, 0] = _scale(module, n, mods[n], batch, tol, max_iter, phi)
    converged = np.abs(variances - 1.0) < tol
    return ModuleLSUVReport(iterations, variances, converged, tol, max_iter, measure, tuple(names))


def _layers(module: nn.Module, batch: Any, layers: Sequence[str] | None) -> list[str]:
    """The layers to scale, checked: `layers`, or every LAYERS module in forward order."""
    names = layer_order(module, batch) if layers is None else list(layers)
    mods = dict(module.named_modules())
    missing = [n for n in names if n not in mods or not isinstance(mods[n], LAYERS)]
    if missing or not names:
        raise InitlabError(f"layers {missing} are not Linear/Conv/ConvTranspose layers of module")
    return names


def _measured_activation(
    module: nn.Module, measure: str, activation: str | _activations.Activation | None
) -> _activations.Activation | None:
    """The activation measured after each layer (``measure="activation"``), else None."""
    act = None
    if measure == "activation":
        act = infer_activation(module) if activation is None else _activations.get(activation)
        if act.name not in ("relu", "leaky_relu", "linear"):
            logger.warning("LSUV: %s outputs cannot reach variance 1", act.name)
    return act


def _orthonormal(layers: Sequence[nn.Module], seed: int | RNG) -> None:
    """Orthonormal weights (drawn in the order of `layers` from one generator), zero biases."""
    rng, ortho = make_rng(seed), _initializers.get("orthogonal")
    for m in layers:
        _copy_into(m.weight, ortho(tuple(m.weight.shape), rng))
        if m.bias is not None:
            _copy_into(m.bias, np.zeros(tuple(m.bias.shape)))


def _scale(
    module: nn.Module,
    name: str,
    layer: nn.Module,
    batch: Any,
    tol: float,
    max_iter: int,
    act: _activations.Activation | None,
) -> tuple[int, float]:
    """Rescale `layer`'s weight until its output (or ``act`` of it) has variance 1 within tol."""
    iterations = 0
    while True:
        Y = _output_of(module, layer, batch)
        if Y.shape[0] < 2:
            raise InitlabError(f"LSUV needs a batch of at least 2 examples; got {Y.shape[0]}")
        v = float(np.var(act.f(Y) if act is not None else Y))
        if not v > 0:
            raise InitlabError(f"LSUV: the output of layer {name!r} has variance {v} on the batch")
        if abs(v - 1.0) < tol or iterations >= max_iter:
            return iterations, v
        with torch.no_grad():
            layer.weight.div_(math.sqrt(v))
        iterations += 1
