r"""The table :func:`initlab.torch.apply` returns: a row per parameter (per block).

Import :class:`InitRow` and :class:`InitTable` from :mod:`initlab.torch`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn
from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

from initlab.analysis.coordcheck import text_table
from initlab.init import catalogue as _initializers
from initlab.torch._params import LAYERS, Slot


class InitRow(NamedTuple):
    """What :func:`apply` did to one parameter (or one gate / q-k-v block of it).

    ``status`` is ``"drawn"`` (by ``scheme``), ``"set"`` (an original parameter set through
    its parametrized weight's ``right_inverse``) or ``"kept"`` (untouched; ``note`` says
    why). ``variance`` is the scheme's variance for the block's shape, ``std`` that of the
    values the parameter holds after :func:`apply`. ``note`` also names the traps of a
    scheme (initlab's ``xavier`` is not torch's ``xavier_normal_``, ...) and a tied
    tensor's other names are in ``aliases``.
    """

    name: str
    type: str
    shape: tuple[int, ...]
    scheme: str
    fan_in: int | None
    fan_out: int | None
    std: float
    block: str = ""
    variance: float | None = None
    status: str = "drawn"
    note: str = ""
    aliases: tuple[str, ...] = ()


class InitTable(list):
    """A list of :class:`InitRow`, one per parameter (per block), that prints as a table."""

    @property
    def drawn(self) -> InitTable:
        """The rows of the parameters (blocks) that were drawn."""
        return InitTable(r for r in self if r.status == "drawn")

    @property
    def names(self) -> set[str]:
        """Every parameter name the table accounts for, aliases included."""
        return {n for r in self for n in (r.name, *r.aliases)}

    def __str__(self) -> str:
        head = ["parameter", "layer", "shape", "scheme", "fan_in", "fan_out", "variance", "std",
                "note"]  # fmt: skip
        rows: list[list[str]] = []
        for r in self:
            row = [r.name, r.type, "x".join(map(str, r.shape)), r.scheme,
                   "-" if r.fan_in is None else str(r.fan_in),
                   "-" if r.fan_out is None else str(r.fan_out),
                   "-" if r.variance is None else f"{r.variance:.4g}", f"{r.std:.4g}",
                   "; ".join(filter(None, [r.note, *(f"= {a}" for a in r.aliases)]))]  # fmt: skip
            name = rows[-1][0].partition(":")[0] if rows else None
            if r.block and name == r.name and rows[-1][1:] == row[1:]:
                rows[-1][0] += f",{r.block}"  # blocks that print alike: one line
                continue
            rows.append([r.name + (f":{r.block}" if r.block else ""), *row[1:]])
        return text_table([head, *rows])


def _describe(init: _initializers.Initializer) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in init.params.items())  # fmt: skip
    return f"{init.name}({params})" if params else init.name


def _kept(slot: Slot, drawn: set[str], options: dict[str, Any]) -> tuple[str, str]:
    """``(status, why)`` of a block that was not drawn."""
    if slot.source and slot.source in drawn:
        return "set", f"set through {slot.source}'s parametrization (right_inverse)"
    if slot.frozen and not options["frozen"]:
        return "kept", "frozen (requires_grad=False); frozen=True draws it"
    if slot.role is None:
        return "kept", slot.reason
    if options["scheme"] is None:
        return "kept", "scheme=None and no rule names it"
    if options.get(slot.role, "") is None:
        return "kept", f"{slot.role}=None: PyTorch's values kept"
    return "kept", "no rule names it"


_TRAPS = {
    "xavier": "Var 1/fan_in; torch's xavier_normal_ is 'xavier_normal'",
    "he_normal": "truncated; torch's kaiming_normal_ is 'kaiming_normal'",
    "glorot_normal": "truncated; torch's xavier_normal_ is 'xavier_normal'",
    "lecun_normal": "truncated at 2 sigma (Keras, JAX)",
}
"""Notes the table shows beside a scheme whose name means another thing in PyTorch."""


def _trap(init: _initializers.Initializer, slot: Slot, by_rule: bool) -> str:
    torch_bias = isinstance(slot.owner, (*LAYERS, nn.RNNBase)) and slot.role == "bias"
    torch_bias &= not isinstance(slot.owner, NonDynamicallyQuantizableLinear)  # MHA: 0
    if torch_bias and not by_rule and init.name == "zeros":
        return "torch's default: U(+-1/sqrt(fan_in))"
    return _TRAPS.get(init.name, "")
