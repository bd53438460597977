r"""LSUV (Mishkin & Matas 2016) for any torch module, without side effects.

Import :func:`lsuv` from :mod:`initlab.torch`.

**What is scaled.** Every Linear, Conv, ConvTranspose and Embedding module the forward pass
calls, in the order of their first call, and every ``nn.MultiheadAttention``'s projections:
the q, k and v blocks of its packed ``in_proj_weight`` (or its separate ``q/k/v_proj_weight``),
measured as ``F.linear`` of the attention's own inputs, and its ``out_proj``, measured as the
attention's output (torch uses ``out_proj``'s weight inside ``F.multi_head_attention_forward``
and never calls the module). Models that call ``F.scaled_dot_product_attention`` on their own
Linear layers (GPT-style) are covered as Linear layers. Recurrent layers (``nn.RNN``/``LSTM``/
``GRU``: gates saturate, so their output is not proportional to one weight's scale), modules
the forward pass never calls and a weight tied to one already scaled (a readout sharing the
embedding's) are skipped, and the report lists them with the reason.

**No side effects.** Every measurement runs in eval mode (dropout off, BatchNorm reading its
running statistics, never updating them), under ``torch.no_grad``, inside
:func:`torch.random.fork_rng` and with one thread (:func:`initlab.torch._threads.one_thread`);
afterwards each module's ``training`` flag, every buffer (running statistics,
``num_batches_tracked``) and torch's CPU random state are exactly as they were, even after an
error. Only the scaled weights (and, with ``orthonormal``, their biases) change.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.analysis.coordcheck import text_table
from initlab.init import catalogue as _initializers
from initlab.init.lsuv import LSUV_PARAMS, LSUVReport, _check_options
from initlab.nn import activations as _activations
from initlab.torch._apply import _run, infer_activation, layer_order
from initlab.torch._params import EMBEDDING, LAYERS
from initlab.torch._threads import one_thread

logger = logging.getLogger(__name__)

RECURRENT_SKIP = "recurrent: gates saturate, its output is not proportional to a weight's scale"
NOT_CALLED = "not called by the forward pass"


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted output is captured."""


@dataclass
class _Target:
    """A weight (or a block of rows of one) that LSUV rescales, and how to see its output."""

    name: str
    module: nn.Module  # the module whose call is hooked
    weight: torch.Tensor
    rows: slice  # of the weight
    bias: torch.Tensor | None
    bias_rows: slice
    capture: Callable[..., torch.Tensor]  # (args, kwargs) before the call, or (output,) after
    before: bool = False


@contextlib.contextmanager
def quiet(module: nn.Module) -> Iterator[None]:
    """Eval mode, no grad, torch's RNG forked, one thread; then every mode flag and every
    buffer restored exactly (as they were on entry), even on an error."""
    modes = [(m, m.training) for m in module.modules()]
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad(), one_thread():
            module.eval()
            yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, training in modes:
            m.training = training


def _measure(module: nn.Module, t: _Target, batch: Any) -> np.ndarray:
    """`t`'s output on `batch` (first call), float64 numpy; the pass stops there."""
    got = []

    def before(mod, args, kwargs):
        got.append(t.capture(args, kwargs))
        raise _Stop

    def after(mod, args, output):
        got.append(t.capture(output))
        raise _Stop

    if t.before:
        handle = t.module.register_forward_pre_hook(before, with_kwargs=True)
    else:
        handle = t.module.register_forward_hook(after)
    try:
        _run(module, batch)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not got:
        raise InitlabError(f"layer {t.name!r} was not called by the forward pass")
    return got[0].detach().to("cpu", torch.float64).numpy()


def _attention(name: str, m: nn.MultiheadAttention) -> list[_Target]:
    """The q, k, v projections (measured on the attention's inputs) and out_proj."""
    E, out = m.embed_dim, []
    for k, which in enumerate("qkv"):
        rows = slice(k * E, (k + 1) * E)
        if m._qkv_same_embed_dim:
            W, label, wrows = m.in_proj_weight, f"{name}.in_proj_weight:{which}", rows
        else:
            W, label = getattr(m, f"{which}_proj_weight"), f"{name}.{which}_proj_weight"
            wrows = slice(None)
        b = m.in_proj_bias

        def capture(args, kwargs, k=k, W=W, wrows=wrows, b=b, rows=rows):
            x = args[k] if len(args) > k else kwargs[("query", "key", "value")[k]]
            return F.linear(x, W[wrows], None if b is None else b[rows])

        out.append(_Target(label, m, W, wrows, b, rows, capture, before=True))
    o = m.out_proj
    out.append(_Target(f"{name}.out_proj", m, o.weight, slice(None), o.bias, slice(None),
                       lambda y: y[0]))  # fmt: skip
    return out


def _targets(
    module: nn.Module, batch: Any, layers: Sequence[str] | None
) -> tuple[list[_Target], list[tuple[str, str]]]:
    """The weights to scale in forward order, and the layers skipped with the reason."""
    kinds = (*LAYERS, *EMBEDDING, nn.MultiheadAttention, nn.RNNBase)
    inner = {id(m.out_proj) for m in module.modules() if isinstance(m, nn.MultiheadAttention)}
    candidates = {n: m for n, m in module.named_modules()
                  if isinstance(m, kinds) and id(m) not in inner}  # fmt: skip
    order = layer_order(module, batch, kinds)
    targets, skipped, owner = [], [], {}
    for n in order:
        m = candidates.get(n)
        tied = owner.get(id(getattr(m, "weight", None)))
        if tied is not None:
            skipped.append((n, f"its weight is {tied}'s (tied), already scaled there"))
        elif isinstance(m, nn.MultiheadAttention):
            targets += _attention(n, m)
        elif isinstance(m, nn.RNNBase):
            skipped.append((n, RECURRENT_SKIP))
        elif m is not None:
            targets.append(_Target(n, m, m.weight, slice(None), getattr(m, "bias", None),
                                   slice(None), lambda y: y))  # fmt: skip
            owner[id(m.weight)] = n
    skipped += [(n, NOT_CALLED) for n in candidates if n not in order]
    if layers is not None:
        known = {t.name: t for t in targets}
        missing = [n for n in layers if n not in known]
        if missing or not layers:
            raise InitlabError(
                f"layers {missing or list(layers)} are not layers LSUV can scale in this "
                f"module; those are: {', '.join(known) or 'none'}"
            )
        targets = [known[n] for n in layers]
    if not targets:
        raise InitlabError("LSUV found no Linear, Conv, Embedding or attention layer to scale")
    return targets, skipped


# --- LSUV ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleLSUVReport(LSUVReport):
    """:class:`~initlab.init.lsuv.LSUVReport` (arrays ``(L, 1)``) with the layers' names, and the
    layers LSUV skipped with the reason (``skipped``: ``(name, why)`` pairs)."""

    layers: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        head = ["layer", "iterations", "variance", "converged"]
        rows = [[n, str(int(self.iterations[l, 0])), f"{self.variances[l, 0]:.6f}",
                 str(bool(self.converged[l, 0]))] for l, n in enumerate(self.layers)]  # fmt: skip
        rows += [[n, "-", "-", f"skipped: {why}"] for n, why in self.skipped]
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
    r"""LSUV (Mishkin & Matas 2016) on any module, in place, through hooks, without side
    effects (module docstring: what is scaled, what is restored).

    The algorithm and options of :func:`initlab.init.lsuv.lsuv`: optionally pre-initialize every
    measured weight with an orthonormal matrix (``orthogonal``, gain 1, of the weight's
    ``(shape[0], prod(shape[1:]))`` view; an attention block's own rows) and its bias with 0;
    then, layer by layer in forward order, measure the variance :math:`v_l` of the layer's
    output over the batch (all entries: examples, units, positions) and set
    :math:`W_l \leftarrow W_l / \sqrt{v_l}` until :math:`|v_l - 1| <` tol or `max_iter`
    rescalings. Each measurement is one forward pass in eval mode, stopped at the layer.

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
        Names of the layers to scale (module paths; ``"attn.in_proj_weight:q"``,
        ``"attn.out_proj"`` for attention); default every one the forward pass calls.

    Returns
    -------
    ModuleLSUVReport
        Per scaled layer: rescalings, final variance, converged; and the skipped layers.

    Raises
    ------
    InitlabError
        Naming the layer by its module path (a zero-variance output, a layer not called).
    """
    tol, max_iter, measure = _check_options(tol, max_iter, measure)
    act = _measured_activation(module, measure, activation)
    with quiet(module):
        targets, skipped = _targets(module, batch, layers)
        if orthonormal is not None:
            _orthonormal(targets, orthonormal)
        L = len(targets)
        iterations, variances = np.zeros((L, 1), int), np.zeros((L, 1))
        for l, t in enumerate(targets):
            phi = act if l < L - 1 else None
            iterations[l, 0], variances[l, 0] = _scale(module, t, batch, tol, max_iter, phi)
    for n, why in skipped:
        logger.info("LSUV skipped %s: %s", n, why)
    converged = np.abs(variances - 1.0) < tol
    return ModuleLSUVReport(iterations, variances, converged, tol, max_iter, measure,
                            tuple(t.name for t in targets), tuple(skipped))  # fmt: skip


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


def _orthonormal(targets: Sequence[_Target], seed: int | RNG) -> None:
    """Orthonormal weights (drawn in the order of `targets` from one generator), zero biases."""
    rng, ortho = make_rng(seed), _initializers.get("orthogonal")
    with torch.no_grad():
        for t in targets:
            W = t.weight[t.rows]
            W.copy_(torch.from_numpy(ortho(tuple(W.shape), rng)))
            if isinstance(t.module, nn.Embedding) and t.module.padding_idx is not None:
                W[t.module.padding_idx].zero_()  # the padding row stays 0, as torch keeps it
            if t.bias is not None:
                t.bias[t.bias_rows].zero_()


def _scale(
    module: nn.Module,
    t: _Target,
    batch: Any,
    tol: float,
    max_iter: int,
    act: _activations.Activation | None,
) -> tuple[int, float]:
    """Rescale `t`'s weight until its output (or ``act`` of it) has variance 1 within tol."""
    iterations = 0
    while True:
        Y = _measure(module, t, batch)
        if Y.shape[0] < 2:
            raise InitlabError(f"LSUV needs a batch of at least 2 examples; got {Y.shape[0]}")
        v = float(np.var(act.f(Y) if act is not None else Y))
        if not v > 0:
            raise InitlabError(
                f"LSUV: the output of layer {t.name!r} has variance {v} on the batch"
            )
        if abs(v - 1.0) < tol or iterations >= max_iter:
            return iterations, v
        t.weight[t.rows].div_(math.sqrt(v))
        iterations += 1
