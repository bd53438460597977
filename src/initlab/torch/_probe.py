r"""What a torch model computes at initialization, layer by layer: the measurements behind
:func:`initlab.torch.audit`.

One pass with autograd and a few passes with forward-mode AD, all through module hooks:

* **forward**: for every Linear/Conv/ConvTranspose layer (:data:`~initlab.torch.LAYERS`) the
  second moments :math:`\overline{x^2}` of its input and :math:`\overline{z^2}` of its output
  (means over every entry of the batch); for the activation module that consumes the output
  (found by tensor identity, through ``Identity``/``Flatten``/``Dropout``) the fraction of
  saturated entries (tanh, sigmoid: initlab's rule, outside the central 99% of the range)
  and of dead units (a unit, i.e. a feature or a channel, whose every entry on the batch
  is saturated by that rule: for ReLU, 0 on every example);
* **backward**: :math:`\lVert dZ\rVert^2` summed over the batch, from the loss, and the
  relative weight gradient :math:`\lVert\nabla_W\rVert / \lVert W\rVert`. Without a loss
  the model's output is back-propagated against a fixed Gaussian direction,
  :math:`L = \langle f(x), u\rangle`, :math:`u \sim N(0, I)`: unit-variance output
  gradients, the setting of the mean-field backward theory;
* **Jacobian**: with :math:`J_l = \partial z_l / \partial x` (the input :math:`x`: the batch
  if it is floating point, else the output of the first ``Embedding``), the gain
  :math:`g_l = E_v \lVert J_l v\rVert^2 / E_v\lVert v\rVert^2`, :math:`v \sim N(0, I)`,
  estimated by Hutchinson's trace estimator with ``probes`` forward-mode JVPs (each gives
  every layer's :math:`J_l v` at once); it is the mean of the squared singular values of
  :math:`J_l` over the input's directions. The largest singular value of the whole model's
  :math:`J` by power iteration, :math:`v \leftarrow J^T J v / \lVert J^T J v\rVert` (a JVP,
  then a VJP): over a batch the Jacobian is block diagonal (one block per example, when
  nothing couples the examples), so this is the largest over the examples.

Measured in the model's training mode (what the first step of training computes: BatchNorm
on batch statistics) with dropout off; afterwards the modes, every buffer, the parameters'
``.grad`` and torch's random state are as they were. Attention runs on PyTorch's math
kernel, the one with forward-mode derivatives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from initlab._validation import InitlabError
from initlab.torch._apply import ACTIVATIONS, LAYERS, _run, activation_of, fans
from initlab.torch._threads import one_thread

TRANSPARENT = (nn.Identity, nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
"""Modules that pass a layer's output on to its activation without changing what the
theory sees (dropout is off during the audit)."""
OTHER_ACTIVATIONS = (nn.GELU, nn.SiLU, nn.ELU, nn.Softplus, nn.Mish)
"""Activation modules the audit follows but initlab's theory has no map for."""


@dataclass
class LayerProbe:
    """Measurements of one layer (module docstring); ``None`` where not measured."""

    name: str
    type: str
    fan_in: int
    sigma_w2: float
    sigma_b2: float
    in_ms: float
    out_ms: float
    numel_in: int
    numel_out: int
    grad_n2: float | None = None
    wgrad_rel: float | None = None
    jac_in: float | None = None
    jac_out: float | None = None
    act: str | None = None
    act_spec: dict[str, Any] | None = None
    saturated: float | None = None
    dead: float | None = None
    source: tuple[str, str | None] | None = None
    r"""``(layer, activation)``: the input is that layer's output through that activation
    (None: directly); None: the input comes from elsewhere (a chain starts here)."""


@dataclass
class BlockProbe:
    """A repeated block (a residual block, a Transformer layer): its output stream."""

    name: str
    in_ms: float
    out_ms: float
    grad_n2: float | None = None
    jac_out: float | None = None
    layers: list[str] = field(default_factory=list)


@dataclass
class Probe:
    """Everything measured: the layers in forward order, the blocks, the input's second
    moment, the Jacobian's largest singular value and where it starts, the loss."""

    layers: list[LayerProbe]
    blocks: list[BlockProbe]
    input_ms: float
    sv_max: float | None
    jacobian_input: str | None
    loss: float | None
    loss_name: str


def ms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean())


def first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, tuple | list):
        return next((t for t in x if isinstance(t, torch.Tensor)), None)
    return None


def blocks(model: nn.Module) -> list[str]:
    """Names of the repeated blocks: non-leaf children of an ``nn.Sequential`` or
    ``nn.ModuleList`` that hold a layer and whose type occurs at least twice among the
    children of the model's containers."""
    kids = [
        (f"{name}.{k}" if name else k, c)
        for name, m in model.named_modules()
        if isinstance(m, nn.Sequential | nn.ModuleList)
        for k, c in m.named_children()
    ]
    types = [type(c) for _, c in kids]
    return [
        n
        for n, c in kids
        if types.count(type(c)) >= 2
        and any(True for _ in c.children())
        and any(isinstance(s, LAYERS) for s in c.modules())
    ]


@contextmanager
def quiet(model: nn.Module) -> Iterator[None]:
    """Training mode with dropout off, the math attention kernel, torch's RNG forked;
    modes, buffers and ``.grad`` restored on exit (module docstring); one torch and one BLAS
    thread (:func:`~initlab.torch._threads.one_thread`)."""
    modes = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    grads = [(p, p.grad) for p in model.parameters()]
    attention = [(m, m.dropout) for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    try:
        with torch.random.fork_rng(devices=[]), sdpa_kernel(SDPBackend.MATH), one_thread():
            model.train()  # (an eval-mode MultiheadAttention takes a kernel without JVPs)
            for m in model.modules():
                if isinstance(m, TRANSPARENT[2:]):
                    m.eval()
            for m, _ in attention:
                m.dropout = 0.0
            yield
    finally:
        for m, p in attention:
            m.dropout = p
        for m, mode in modes.items():
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for p, g in grads:
            p.grad = g


class Hooks:
    """Forward hooks on layers, activations, transparent modules and blocks; they call
    ``on_layer(name, module, x, z)``, ``on_block(name, x, y)`` and track where each
    layer's input came from."""

    def __init__(self, model: nn.Module, block_names: list[str]) -> None:
        self.tags: dict[int, tuple[str, str | None]] = {}
        self.keep: list[torch.Tensor] = []  # ids stay unique while their tensors live
        self.on_layer: Callable = lambda *a: None
        self.on_act: Callable = lambda *a: None
        self.on_block: Callable = lambda *a: None
        self.handles = []
        kinds = tuple(ACTIVATIONS) + OTHER_ACTIVATIONS
        for n, m in model.named_modules():
            if isinstance(m, LAYERS):
                self.handles.append(m.register_forward_hook(self._layer(n)))
            elif isinstance(m, kinds):
                self.handles.append(m.register_forward_hook(self._act(n)))
            elif isinstance(m, TRANSPARENT):
                self.handles.append(m.register_forward_hook(self._pass))
            if n in block_names:
                self.handles.append(m.register_forward_hook(self._block(n)))

    def _tag(self, t: torch.Tensor, tag: tuple[str, str | None]) -> None:
        self.keep.append(t)
        self.tags[id(t)] = tag

    def _layer(self, name: str) -> Callable:
        def hook(mod, inputs, out):
            x = first_tensor(inputs)
            self.on_layer(name, mod, x, out, self.tags.get(id(x)))
            self._tag(out, (name, None))

        return hook

    def _act(self, name: str) -> Callable:
        def hook(mod, inputs, out):
            x = first_tensor(inputs)
            tag = self.tags.get(id(x))
            if tag is not None and tag[1] is None:
                self.on_act(tag[0], mod, x, out)
                self._tag(out, (tag[0], name))

        return hook

    def _pass(self, mod, inputs, out):
        tag = self.tags.get(id(first_tensor(inputs)))
        if tag is not None and isinstance(out, torch.Tensor):
            self._tag(out, tag)

    def _block(self, name: str) -> Callable:
        def hook(mod, inputs, out):
            self.on_block(name, first_tensor(inputs), first_tensor(out))

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.tags.clear()
        self.keep.clear()


def _unit_axis(t: torch.Tensor, layer: nn.Module) -> int:
    return 1 if not isinstance(layer, nn.Linear) and t.ndim > 2 else t.ndim - 1


def _weight_stats(mod: nn.Module) -> tuple[int, float, float]:
    r"""``(fan_in, sigma_w2, sigma_b2)``: PyTorch's fan_in (for Linear and Conv, the number
    of terms each output sums), :math:`\sigma_w^2 = n_{in}\,\overline{W^2}` and
    :math:`\sigma_b^2 = \overline{b^2}` of the weights as they are."""
    W = mod.weight.detach().double()
    fan_in = fans(mod)[0]
    b = getattr(mod, "bias", None)
    b2 = 0.0 if b is None else ms(b)
    return int(fan_in), float(fan_in * W.pow(2).mean()), b2


def _act_stats(r: LayerProbe, mod: nn.Module, z: torch.Tensor, a: torch.Tensor, axis: int) -> None:
    """Name the activation that consumes `r`'s output, and its dead and saturated parts."""
    r.act = type(mod).__name__
    act = activation_of(mod)
    if act is None:
        return
    r.act_spec = act.spec
    Z, A = z.detach().double().cpu().numpy(), a.detach().double().cpu().numpy()
    sat = act.saturated(Z, A)
    other = tuple(i for i in range(sat.ndim) if i != axis)
    r.dead = float(sat.all(axis=other).mean())
    r.saturated = float(sat.mean()) if act.name in ("tanh", "sigmoid") else None


def forward_backward(model, batch, loss_fn, names, gen):
    hooks = Hooks(model, names)
    layers: dict[str, LayerProbe] = {}
    mods: dict[str, nn.Module] = {}
    outs: dict[str, torch.Tensor] = {}
    grads: dict[str, float] = {}
    blks: dict[str, BlockProbe] = {}

    def grab(key):
        def h(g):
            grads[key] = grads.get(key, 0.0) + float(g.detach().double().pow(2).sum())

        return h

    def on_layer(name, mod, x, z, tag):
        if name in layers or x is None:
            return
        fan_in, w2, b2 = _weight_stats(mod)
        layers[name] = LayerProbe(name, type(mod).__name__, fan_in, w2, b2, ms(x), ms(z),
                                  x[0].numel(), z[0].numel(), source=tag)  # fmt: skip
        mods[name], outs[name] = mod, z
        if z.requires_grad:
            z.register_hook(grab(name))

    def on_act(layer, mod, z, a):
        r = layers.get(layer)
        if r is not None and r.act is None:
            _act_stats(r, mod, z, a, _unit_axis(z, mods[layer]))

    def on_block(name, x, y):
        if name in blks or x is None or y is None:
            return
        blks[name] = BlockProbe(name, ms(x), ms(y))
        if y.requires_grad:
            y.register_hook(grab("block:" + name))

    hooks.on_layer, hooks.on_act, hooks.on_block = on_layer, on_act, on_block
    try:
        out = _run(model, batch)
        loss = _loss(out, loss_fn, gen)
        weights = [mods[n].weight for n in layers]
        dW = torch.autograd.grad(loss, weights, allow_unused=True) if loss.requires_grad \
            else [None] * len(weights)  # fmt: skip
    finally:
        hooks.remove()
    for (n, r), g in zip(layers.items(), dW, strict=True):
        r.grad_n2 = grads.get(n)
        w = float(mods[n].weight.detach().double().norm())
        if g is not None and w > 0:  # (a zero weight, e.g. Fixup's, has no relative gradient)
            r.wgrad_rel = float(g.double().norm()) / w
    for n, b in blks.items():
        b.grad_n2 = grads.get("block:" + n)
        b.layers = [m for m in layers if m.startswith(n + ".")]
    info = (float(loss.detach()) if loss_fn is not None else None,
            "loss_fn" if loss_fn is not None else "<f(x), u>, u ~ N(0, I)")  # fmt: skip
    return list(layers.values()), list(blks.values()), info


def _loss(out: Any, loss_fn: Callable | None, gen: torch.Generator) -> torch.Tensor:
    if loss_fn is not None:
        loss = loss_fn(out)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise InitlabError(f"loss_fn must return a scalar tensor; got {got}")
        return loss.reshape(())
    y = first_tensor(out)
    if y is None or not y.is_floating_point():
        raise InitlabError("the model's output is not a floating-point tensor: pass loss_fn")
    u = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.dtype)
    return (y * u).sum()
