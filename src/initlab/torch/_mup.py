r"""Width (SP, NTK, muP) and depth parametrizations of any torch module, from base shapes.

**Base shapes are data.** For every parameter, :class:`BaseShapes` says which of its
dimensions are "infinite" (grow with the width) and their size in the base model; a finite
dimension is ``None``. :func:`base_shapes` reads them off two models that differ only in
their widths (``mup``'s ``base`` and ``delta``); they save to JSON. A parameter's width
multipliers are :math:`r_i = n_i / n_{0,i}` on its infinite dimensions and 1 elsewhere; as
in ``mup`` (``InfShape.width_mult``) the *fan-in* multiplier :math:`r_{in}` of a tensor is
that of its last infinite dimension and the fan-out one :math:`r_{out}` its first's. A
tensor is *fixed* (no infinite dimension), *vector-like* (one: embeddings, biases,
LayerNorm gains, input weights, the readout) or *matrix-like* (two: hidden weights).
A *readout* is a ``Linear`` whose weight has a finite fan-out and an infinite fan-in.

**muP** (Yang et al. 2022, "Tensor Programs V", Table 3 and Sec. 6 / App. B) is applied in
``mup``'s form, so that the two can be held to each other: the readout multiplies its input
by :math:`c_{out} / r` (``output_mult``; ``mup.MuReadout``), its weight and bias are
multiplied by :math:`\sqrt r` once (converting SP's :math:`1/\text{fan-in}` variance) or
zeroed (``zero_readout``); the bias of every other ``Linear``/``Conv`` with an infinite
fan-in is multiplied by :math:`\sqrt{r_{in}}` (``mup.layer.rescale_linear_bias``); every
declared attention module gets logits :math:`c_{attn}\, q \cdot k / d_{head}` instead of
:math:`q \cdot k / \sqrt{d_{head}}` (Sec. 4 of TP V); declared queries can start at zero;
declared input modules multiply their output by :math:`c_{in}` (``input_mult``). The
per-tensor learning rates (:func:`param_groups`) are ``mup``'s:

==============  ==========================  ===========================
tensor          SGD, momentum               Adam, AdamW
==============  ==========================  ===========================
fixed           :math:`\eta`                :math:`\eta`
vector-like     :math:`\eta\, r`            :math:`\eta`
matrix-like     :math:`\eta\, r_{out}/r_{in}`  :math:`\eta / r_{in}`
==============  ==========================  ===========================

**The two deliberate choices, each switchable to mup's convention.**

- ``eps="table3"`` (default): the readout's Adam :math:`\epsilon` is divided by :math:`r`.
  Adam on :math:`w` with :math:`\epsilon / r` is exactly Adam on the effective weight
  :math:`W = w / r` with :math:`\epsilon`, so every effective weight sees one
  :math:`\epsilon`, as in TP V's Table 3 and in initlab's own networks
  (:mod:`initlab.init.parametrization`). ``eps="mup"`` keeps one :math:`\epsilon` for every
  tensor, as ``MuAdam`` does.
- ``tied_rescale=False`` (default): a readout that shares its weight with an embedding
  (``mup.MuSharedReadout``) is not rescaled by :math:`\sqrt r`: the shared tensor keeps the
  embedding's :math:`\Theta(1)` initialization, which the readout's :math:`1/r` multiplier
  already makes muP's readout (logits :math:`O(n^{-1/2})` at initialization). ``mup``
  multiplies it by :math:`\sqrt r`, which makes the embedding grow like :math:`\sqrt n`;
  ``tied_rescale=True`` does the same.

Weight decay follows ``mup`` by default (``weight_decay="mup"``): every tensor's
:math:`\eta_g \lambda_g` equals the base's :math:`\eta \lambda`, so AdamW's decoupled decay
per step (and SGD's L2 pull) does not change with width; ``weight_decay="fixed"`` gives every
tensor the same :math:`\lambda` (torch's default, and initlab's NumPy networks'), whose decay
then shrinks with each tensor's learning rate.

**SP** changes nothing. **NTK** keeps SP's initialization and scales learning rates as
:mod:`initlab.init.parametrization`'s table (matrix-like and readout: SGD
:math:`\eta / r_{in}`, Adam :math:`\eta / \sqrt{r_{in}}`).

**Depth** (:class:`Residual`): each declared residual branch's output is multiplied by
:math:`(L / L_0)^{-\alpha}`; :math:`\alpha = 1/2` is depth-muP (Yang et al. 2023, "Tensor
Programs VI"), :math:`\alpha = 1` CompleteP (Dey et al. 2025). The parameters inside the
blocks then train at :math:`\eta\, m^{2\alpha - 1}` (SGD) or :math:`\eta\, m^{\alpha - 1}`
(Adam), :math:`m = L / L_0`, so that each block's output moves by :math:`\Theta(1/L)` per
step (the update of a branch output is :math:`\propto` multiplier² × lr under SGD and
multiplier × lr under Adam); their Adam :math:`\epsilon` is multiplied by :math:`m^{-\alpha}`
(their gradients scale so) and their weight decay follows the rule above.

References
----------
G. Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", 2022; the ``mup`` package 1.0.0 (``MuReadout``,
``MuSharedReadout``, ``MuSGD``, ``MuAdam``, ``MuAdamW``, ``set_base_shapes``).
G. Yang, D. Yu, C. Zhu, S. Hayou, "Tensor Programs VI: Feature Learning in Infinite-Depth
Neural Networks", 2023 (branch multiplier :math:`1/\sqrt L`).
N. Dey et al., "Don't be lazy: CompleteP enables compute-efficient deep transformers", 2025
(:math:`\alpha = 1`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.init import parametrization as _par
from initlab.torch._shapes import BaseShapes, TensorWidth, readouts, tensor_widths

PARAMETRIZATIONS = ("sp", "ntk", "mup")
OPTIMIZERS = ("sgd", "adam", "adamw")
EPS_CONVENTIONS = ("table3", "mup")
DECAY_CONVENTIONS = ("mup", "fixed")
_ATTR = "_initlab_parametrization"


@dataclass(frozen=True)
class Residual:
    r"""A declared residual structure: ``blocks`` (module names, one per residual block; the
    depth :math:`L` is their number) and ``branches`` (names, relative to a block, of the
    modules whose outputs are added to the residual stream), with base depth :math:`L_0` and
    exponent :math:`\alpha` (1/2: depth-muP, TP VI; 1: CompleteP)."""

    blocks: tuple[str, ...]
    branches: tuple[str, ...]
    base_depth: int
    alpha: float = 1.0

    @property
    def ratio(self) -> float:
        return len(self.blocks) / self.base_depth

    @property
    def multiplier(self) -> float:
        return 1.0 if self.alpha == 0 else self.ratio ** (-self.alpha)


@dataclass
class Parametrized:
    """What :func:`parametrize` did to a model; :func:`param_groups` reads it."""

    parametrization: str
    tensors: dict[str, TensorWidth]
    readouts: dict[str, float]
    tied: list[str]
    residual: Residual | None
    in_blocks: set[str] = field(default_factory=set)
    handles: list[Any] = field(default_factory=list, repr=False)


def parametrize(
    model: nn.Module,
    shapes: BaseShapes,
    parametrization: str = "mup",
    *,
    attention: Sequence[str] = (),
    attn_mult: float = 1.0,
    zero_query: Sequence[str] = (),
    zero_readout: bool = False,
    inputs: Sequence[str] = (),
    input_mult: float = 1.0,
    output_mult: float = 1.0,
    residual: Residual | None = None,
    rescale: bool = True,
    tied_rescale: bool = False,
) -> nn.Module:
    r"""Apply `parametrization` to `model` (in place; returns it), from its base shapes.

    Parameters
    ----------
    shapes : BaseShapes
        Required: a model without base shapes is refused, never silently SP.
    parametrization : {"sp", "ntk", "mup"}
        See the module docstring; only muP changes the forward pass and the initialization.
    attention : sequence of str
        Attention modules (muP: their ``attn_scale`` attribute becomes
        :math:`c_{attn} / d_{head}`, from their ``d_head`` attribute).
    attn_mult : float
        :math:`c_{attn}`; ``math.sqrt(d_head0)`` equals SP's logits at the base width.
    zero_query : sequence of str
        ``Linear`` modules (the queries) whose weight and bias start at zero.
    zero_readout : bool
        Start the readout at zero (``mup.MuReadout(readout_zero_init=True)``).
    inputs, input_mult : modules whose outputs are multiplied by :math:`c_{in}`.
    output_mult : float
        :math:`c_{out}` of the readout's multiplier :math:`c_{out} / r`.
    residual : Residual, optional
        The residual structure for the depth scaling (any parametrization).
    rescale : bool
        Convert SP's initialization (``mup``'s ``rescale_params``); False for a model whose
        weights are already muP's (a checkpoint).
    tied_rescale : bool
        Rescale a readout that shares an embedding's weight, as ``mup`` does.

    The multipliers are forward hooks on the modules (closures): save and load the model's
    ``state_dict`` and call ``parametrize(..., rescale=False)`` on a fresh model, rather than
    pickling the module.
    """
    if parametrization not in PARAMETRIZATIONS:
        raise unknown_name("parametrization", parametrization, PARAMETRIZATIONS)
    if not isinstance(shapes, BaseShapes):
        raise InitlabError("parametrize needs the model's base shapes (initlab.torch."
                           f"base_shapes(base, delta)); got {type(shapes).__name__}")  # fmt: skip
    if getattr(model, _ATTR, None) is not None:
        raise InitlabError("this model is already parametrized; build a fresh one")
    tensors = tensor_widths(model, shapes)
    mods = dict(model.named_modules())
    for name in (*attention, *zero_query, *inputs):
        if name not in mods:
            raise InitlabError(f"{name!r} is not a module of the model")
    state = Parametrized(parametrization, tensors, {}, [], residual)
    if residual is not None:
        _residual(model, mods, residual, state)
    if parametrization == "mup":
        with torch.no_grad():
            _mup(model, mods, shapes, state, attention, attn_mult, zero_query, zero_readout,
                 inputs, input_mult, output_mult, rescale, tied_rescale)  # fmt: skip
    setattr(model, _ATTR, state)
    return model


def _mup(model, mods, shapes, state, attention, attn_mult, zero_query, zero_readout, inputs,
         input_mult, output_mult, rescale, tied_rescale) -> None:  # fmt: skip
    """muP's forward multipliers and initialization (see :func:`parametrize`)."""
    names = {id(p): k for k, p in model.named_parameters()}
    embedded = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    found = readouts(model, shapes)
    for m in found:
        name = names[id(m.weight)]
        r = state.tensors[name].fan_in
        state.readouts[name] = r
        tied = id(m.weight) in embedded
        if tied:
            state.tied.append(name)
        c = float(output_mult)
        state.handles.append(m.register_forward_pre_hook(
            lambda mod, args, c=c, r=r: (c * args[0] / r, *args[1:])))  # fmt: skip
        if zero_readout:
            m.weight.zero_()
            if m.bias is not None:
                m.bias.zero_()
        elif rescale and (tied_rescale or not tied):
            m.weight.mul_(r**0.5)
            if m.bias is not None:
                m.bias.mul_(r**0.5)
    if rescale:
        done = {id(m) for m in found}
        for m in model.modules():
            if isinstance(m, nn.Linear | nn.modules.conv._ConvNd) and id(m) not in done:
                if m.bias is not None:
                    m.bias.mul_(state.tensors[names[id(m.weight)]].mults[1] ** 0.5)
    for name in zero_query:
        mods[name].weight.zero_()
        if getattr(mods[name], "bias", None) is not None:
            mods[name].bias.zero_()
    for name in attention:
        if not hasattr(mods[name], "attn_scale") or not hasattr(mods[name], "d_head"):
            raise InitlabError(f"attention module {name!r} needs attributes attn_scale and "
                               "d_head (as initlab.torch.models.CausalSelfAttention)")  # fmt: skip
        mods[name].attn_scale = float(attn_mult) / mods[name].d_head
    if input_mult != 1.0:
        for name in inputs:
            state.handles.append(mods[name].register_forward_hook(
                lambda mod, args, out, c=float(input_mult): out * c))  # fmt: skip


def _residual(model: nn.Module, mods: dict, res: Residual, state: Parametrized) -> None:
    """Multiply each branch's output by :math:`(L/L_0)^{-\\alpha}`; note the blocks' tensors."""
    check_number("base_depth", res.base_depth, low=1, integer=True)
    check_number("alpha", res.alpha, low=0)
    if not res.blocks or not res.branches:
        raise InitlabError("Residual needs at least one block and one branch")
    names = {id(p): k for k, p in model.named_parameters()}
    mult = res.multiplier
    for block in res.blocks:
        if block not in mods:
            raise InitlabError(f"residual block {block!r} is not a module of the model")
        state.in_blocks |= {names[id(p)] for p in mods[block].parameters()}
        for branch in res.branches:
            key = f"{block}.{branch}"
            if key not in mods:
                raise InitlabError(f"residual branch {key!r} is not a module of the model")
            if mult != 1.0:
                state.handles.append(mods[key].register_forward_hook(
                    lambda mod, args, out, c=mult: out * c))  # fmt: skip


def parametrization_of(model: nn.Module) -> Parametrized:
    """What :func:`parametrize` recorded on `model`; an error if it was never called."""
    state = getattr(model, _ATTR, None)
    if state is None:
        raise InitlabError(
            "the model has no parametrization: call initlab.torch.parametrize(model, "
            "base_shapes(base, delta), 'mup' | 'sp' | 'ntk') first (a model without base "
            "shapes is refused, not trained as SP)"
        )
    return state


def _factors(t: TensorWidth, p: str, optimizer: str) -> tuple[float, float]:
    """(learning-rate factor, Adam eps factor) of tensor `t` from its width multipliers."""
    sgd = optimizer == "sgd"
    if p == "sp" or t.role == "fixed":
        return 1.0, 1.0
    if p == "ntk":
        if t.role in ("matrix", "readout"):
            kind = "hidden" if t.role == "matrix" else "output"
            e = _par.get("ntk").rules[kind].lr_exponent("sgd" if sgd else "adam")
            return t.fan_in**e, 1.0
        return 1.0, 1.0
    if t.role == "matrix":
        return (t.fan_out / t.fan_in if sgd else 1.0 / t.fan_in), 1.0
    return (t.fan_in if sgd else 1.0), 1.0  # vector-like and readout (mup's MuSGD / MuAdam)


def param_groups(
    model: nn.Module,
    lr: float,
    optimizer: str,
    *,
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    eps_convention: str = "table3",
    decay_convention: str = "mup",
) -> list[dict[str, Any]]:
    r"""Parameter groups with each tensor's learning rate, weight decay and Adam eps.

    Pass them to ``torch.optim.SGD`` (with or without momentum), ``Adam`` or ``AdamW``.
    Each group has ``lr``, ``weight_decay``, ``names`` (and ``eps`` for Adam and AdamW);
    tensors with equal settings share a group.

    Parameters
    ----------
    lr : float
        :math:`\eta`, the base model's learning rate.
    optimizer : {"sgd", "adam", "adamw"}
        Which column of the learning-rate rule (momentum SGD is "sgd").
    weight_decay, eps : float
        :math:`\lambda` and :math:`\epsilon` of the base model.
    eps_convention : {"table3", "mup"}
        See the module docstring.
    decay_convention : {"mup", "fixed"}
        See the module docstring.
    """
    state = parametrization_of(model)
    if optimizer not in OPTIMIZERS:
        raise unknown_name("optimizer", optimizer, OPTIMIZERS)
    if eps_convention not in EPS_CONVENTIONS:
        raise unknown_name("eps convention", eps_convention, EPS_CONVENTIONS)
    if decay_convention not in DECAY_CONVENTIONS:
        raise unknown_name("weight-decay convention", decay_convention, DECAY_CONVENTIONS)
    lr = check_number("lr", lr, low=0)
    groups: dict[tuple[float, float, float], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        t = state.tensors[name]
        f_lr, f_eps = _factors(t, state.parametrization, optimizer)
        if name in state.readouts and eps_convention == "table3" and name not in state.tied:
            f_eps /= state.readouts[name]
        if state.residual is not None and name in state.in_blocks:
            m, a = state.residual.ratio, state.residual.alpha
            f_lr *= m ** (2 * a - 1) if optimizer == "sgd" else m ** (a - 1)
            f_eps *= m ** (-a)
        g_lr = lr * f_lr
        wd = weight_decay / f_lr if decay_convention == "mup" and f_lr != 0 else weight_decay
        key = (g_lr, wd, eps * f_eps)
        if key not in groups:
            groups[key] = {"params": [], "names": [], "lr": g_lr, "weight_decay": wd}
            if optimizer != "sgd":
                groups[key]["eps"] = eps * f_eps
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return list(groups.values())


def make_optimizer(
    model: nn.Module, optimizer: str, lr: float, **kwargs: Any
) -> torch.optim.Optimizer:
    """``torch.optim.SGD`` / ``Adam`` / ``AdamW`` over :func:`param_groups` of `model`.

    ``kwargs`` go to :func:`param_groups` (weight_decay, eps, eps_convention,
    decay_convention) or to the optimizer (momentum, betas, nesterov).
    """
    keys = ("weight_decay", "eps", "eps_convention", "decay_convention")
    mine = {k: kwargs.pop(k) for k in keys if k in kwargs}
    groups = param_groups(model, lr, optimizer, **mine)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return cls[optimizer](groups, lr=lr, **kwargs)
