r"""Every parameter of a torch module, with what :func:`initlab.torch.apply` may do to it.

:func:`slots` walks ``module.named_parameters(remove_duplicate=False)`` and gives one
:class:`Slot` per distinct tensor, in that order:

- a **tied** tensor (one ``nn.Parameter`` under several names) is one slot, named where it
  first appears, its other names kept as ``aliases``;
- a **parametrized** weight (``torch.nn.utils.parametrize``, e.g.
  ``parametrizations.weight_norm``; or the older hook-based ``nn.utils.weight_norm``) is one
  slot for the weight the module computes, set through the parametrization
  (``module.weight = W`` calls its ``right_inverse``; weight norm: direction ``v = W`` and
  norm ``g = ||W||`` per output unit), followed by one slot per original parameter;
- **recurrent** layers (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) split ``weight_ih_l*``,
  ``weight_hh_l*`` and their biases into per-gate blocks along dimension 0 (LSTM i, f, g, o;
  GRU r, z, n), each with the fans of one gate, as Keras and Flax draw them;
- ``nn.MultiheadAttention``'s packed ``in_proj_weight`` (and ``in_proj_bias``) into its
  q, k, v blocks.

A slot's ``role`` says which default of :func:`apply` applies (``"weight"``,
``"recurrent"``, ``"bias"``) or, when None, ``reason`` says why no default does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize

from initlab._validation import InitlabError

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
LAYERS = (nn.Linear, *CONV, *CONV_TRANSPOSE)
"""Layers whose weights :func:`apply` initializes by default, and that LSUV and the recorder
measure by default."""
EMBEDDING = (nn.Embedding,)
"""Also initialized by :func:`apply` by default (normalization layers never are)."""
NORMS = tuple(
    t for t in (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                getattr(nn, "RMSNorm", None), nn.LocalResponseNorm) if t is not None
)  # fmt: skip
"""Normalization layers: left as PyTorch made them unless a rule names them."""
GATES = {"LSTM": "ifgo", "GRU": "rzn", "RNN_TANH": "", "RNN_RELU": ""}
"""Gate blocks of ``nn.RNNBase`` weights along dimension 0, by the module's ``mode``."""
QKV = "qkv"


@dataclass
class Slot:
    """One distinct tensor of a module and what :func:`apply` may do to it."""

    name: str
    owner: nn.Module
    local: str
    tensor: torch.Tensor
    aliases: tuple[str, ...] = ()
    owners: tuple[tuple[nn.Module, str], ...] = ()
    role: str | None = None
    reason: str = ""
    blocks: tuple[str, ...] = ("",)
    setter: Callable[[torch.Tensor], None] | None = field(default=None, repr=False)
    getter: Callable[[], torch.Tensor] | None = field(default=None, repr=False)
    originals: tuple[str, ...] = ()
    source: str = ""  # for an original parameter: the parametrized weight that sets it
    frozen: bool = False  # requires_grad is False (for a parametrized weight: of every original)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def block_slice(self, i: int) -> slice:
        """The rows of block ``i`` along dimension 0."""
        n = self.tensor.shape[0] // len(self.blocks)
        return slice(i * n, (i + 1) * n)


def _refuse_unmaterialized(module: nn.Module) -> None:
    """One clear line for a lazy or meta parameter, before any work."""
    for name, p in module.named_parameters():
        if isinstance(p, nn.parameter.UninitializedParameter):
            owner = module.get_submodule(name.rpartition(".")[0])
            raise InitlabError(
                f"parameter {name!r} of {type(owner).__name__} is not materialized yet (a lazy "
                "module): run one forward pass before initializing it"
            )
        if p.is_meta:
            raise InitlabError(
                f"parameter {name!r} is on the meta device and has no storage to draw into: "
                "call module.to_empty(device='cpu') first"
            )


def _role(owner: nn.Module, local: str) -> tuple[str | None, str, tuple[str, ...]]:
    """``(role, reason, blocks)`` of parameter `local` of `owner`."""
    if isinstance(owner, NORMS):
        return None, "normalization: PyTorch's values kept (a rule can name it)", ("",)
    if isinstance(owner, nn.RNNBase):
        gates = tuple(GATES.get(owner.mode, "")) or ("",)
        if local.startswith("weight_ih"):
            return "weight", "", gates
        if local.startswith("weight_hh"):
            return "recurrent", "", gates
        if local.startswith("bias"):
            return "bias", "", gates
        return "weight", "", ("",)  # weight_hr (proj_size)
    if isinstance(owner, nn.MultiheadAttention):
        if local == "in_proj_weight":
            return "weight", "", tuple(QKV)
        if local == "in_proj_bias":
            return "bias", "", tuple(QKV)
        if local.endswith("_proj_weight"):
            return "weight", "", ("",)
        return None, f"MultiheadAttention's {local}: no default (a rule can name it)", ("",)
    if isinstance(owner, LAYERS + EMBEDDING) and local in ("weight", "bias"):
        return local, "", ("",)
    if isinstance(owner, LAYERS) and local == "weight_orig":  # nn.utils.spectral_norm (hooks)
        return "weight", "spectral_norm's raw weight (divided by its largest singular value)", ("",)
    return None, f"free parameter of {type(owner).__name__}: no default (a rule can name it)", ("",)


def _parametrized(module: nn.Module) -> dict[str, Slot]:
    """A slot per parametrized weight, keyed by the name of its first original."""
    out: dict[str, Slot] = {}
    for path, m in module.named_modules():
        prefix = f"{path}." if path else ""
        if parametrize.is_parametrized(m):
            for tname, plist in m.parametrizations.items():
                originals = tuple(f"{prefix}parametrizations.{tname}.{n}"
                                  for n, _ in plist.named_parameters(recurse=False))  # fmt: skip

                def setter(W, m=m, tname=tname):
                    setattr(m, tname, W)

                kinds = "+".join(type(p).__name__ for p in plist)
                slot = _computed(m, prefix + tname, tname, setter, originals, kinds)
                slot.frozen = not any(p.requires_grad for p in plist.parameters(recurse=False))
                out[originals[0]] = slot
        for hook in m._forward_pre_hooks.values():
            if type(hook).__name__ == "WeightNorm":  # nn.utils.weight_norm (hook-based)
                g, v = getattr(m, hook.name + "_g"), getattr(m, hook.name + "_v")

                def setter(W, m=m, g=g, v=v, hook=hook):
                    v.copy_(W)
                    g.copy_(torch.norm_except_dim(W, 2, hook.dim))
                    setattr(m, hook.name, hook.compute_weight(m))  # as its pre-hook does

                originals = (f"{prefix}{hook.name}_g", f"{prefix}{hook.name}_v")
                W = hook.compute_weight(m)
                slot = _computed(m, prefix + hook.name, hook.name, setter, originals, "WeightNorm")
                slot.tensor = W.detach()
                slot.frozen = not (g.requires_grad or v.requires_grad)
                out[originals[0]] = slot
    return out


def _computed(m, name, local, setter, originals, kinds) -> Slot:
    role, reason, blocks = _role(m, local)
    reason = reason or f"parametrized ({kinds})"
    with torch.no_grad():
        tensor = getattr(m, local).detach()
    return Slot(name, m, local, tensor, owners=((m, local),), role=role, reason=reason,
                blocks=blocks, setter=setter, getter=lambda: getattr(m, local),
                originals=originals)  # fmt: skip


def slots(module: nn.Module) -> list[Slot]:
    """Every distinct parameter of `module` (and every parametrized weight), in order."""
    _refuse_unmaterialized(module)
    computed = _parametrized(module)
    source = {o: s.name for s in computed.values() for o in s.originals}
    by_id: dict[int, Slot] = {}
    out: list[Slot] = []
    for name, p in module.named_parameters(remove_duplicate=False):
        path, _, local = name.rpartition(".")
        owner = module.get_submodule(path)
        if id(p) in by_id:
            slot = by_id[id(p)]
            slot.aliases += (name,)
            slot.owners += ((owner, local),)
            if slot.role is None and slot.source == "":
                slot.role, slot.reason, slot.blocks = _role(owner, local)
            continue
        if name in computed:
            out.append(computed[name])
        role, reason, blocks = _role(owner, local)
        if name in source:
            role, reason, blocks = None, f"set through {source[name]}'s parametrization", ("",)
        slot = Slot(name, owner, local, p, owners=((owner, local),), role=role, reason=reason,
                    blocks=blocks, source=source.get(name, ""),
                    frozen=not p.requires_grad)  # fmt: skip
        by_id[id(p)] = slot
        out.append(slot)
    return out
