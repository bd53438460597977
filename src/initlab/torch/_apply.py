r"""Catalogue schemes for torch modules: :func:`apply`, fans, initlab networks as modules.

Import from :mod:`initlab.torch`, whose docstring states the conventions (values drawn by
initlab's catalogue in float64; PyTorch's fans, ConvTranspose's transposed layout).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.init import catalogue as _initializers
from initlab.nn import activations as _activations
from initlab.torch import _params
from initlab.torch._params import LAYERS, Slot, slots
from initlab.torch._table import InitRow, InitTable, _describe, _kept, _trap
from initlab.torch._threads import one_thread

logger = logging.getLogger(__name__)

CONV, CONV_TRANSPOSE, EMBEDDING = _params.CONV, _params.CONV_TRANSPOSE, _params.EMBEDDING
"""Defined in :mod:`initlab.torch._params`; here for older imports."""


class Erf(nn.Module):
    """``torch.erf`` as a module (torch has none): initlab's ``erf`` activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


ACTIVATIONS: dict[type, str] = {
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    Erf: "erf",
}
"""Activation modules recognised by :func:`infer_activation`, with initlab's names."""

Pattern = str | type
Rule = tuple[Pattern, Any]
Scheme = str | Mapping[str, Any] | _initializers.Initializer


def fans(module: nn.Module) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of `module`'s weight, PyTorch's convention (module docstring)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise InitlabError(f"{type(module).__name__} has no weight, so no fans")
    return _initializers.compute_fans(tuple(weight.shape))


def _is_weight(owner: nn.Module, local: str) -> bool:
    """What a module-type rule names: the weight(s) of such a module."""
    return local == "weight" or (
        isinstance(owner, nn.RNNBase | nn.MultiheadAttention)
        and local.startswith(("weight_", "in_proj_weight", "q_proj", "k_proj", "v_proj"))
    )


def _hits(pattern: Pattern, slot: Slot, block: str | None = None) -> bool:
    """Whether `pattern` names `slot` (any of its names), or its `block` (``name:block``)."""
    if isinstance(pattern, str):
        names = slot.names
        blocks = [f"{n}:{block}" for n in names] if block else []
        return any(fnmatch.fnmatchcase(n, pattern) for n in (*names, *blocks))
    return any(isinstance(o, pattern) and _is_weight(o, loc) for o, loc in slot.owners)


def _check_rules(rules: Sequence[Rule], table: list[Slot]) -> list:
    out = [(p, _initializers.get(s)) for p, s in rules]
    for p, _ in out:
        if not isinstance(p, str) and not (isinstance(p, type) and issubclass(p, nn.Module)):
            raise InitlabError(
                f"a rule's pattern is a glob over parameter names (e.g. '*.bias', "
                f"'*.in_proj_weight:q') or an nn.Module subclass (e.g. nn.Conv2d); got {p!r}"
            )
        if not any(_hits(p, s, b) for s in table for b in s.blocks):
            listed = [n for s in table for n in s.names]
            shown = ", ".join(listed[:12]) + (", ..." if len(listed) > 12 else "")
            what = p if isinstance(p, str) else f"the weight of any {p.__name__}"
            raise InitlabError(f"rule {what!r} matches no parameter; the parameters are: {shown}")
    return out


def _seed(seed: int | RNG | torch.Generator, stream: str) -> RNG:
    """initlab's generator; a torch.Generator seeds it with one 63-bit integer drawn from it."""
    if isinstance(seed, torch.Generator):
        if stream != "default":
            raise InitlabError("stream must be 'default' when seed is a torch.Generator")
        seed = int(torch.randint(0, 2**63 - 1, (1,), generator=seed, dtype=torch.int64))
    try:
        return make_rng(seed, stream)
    except ValueError as exc:
        raise InitlabError(f"seed: {exc} (or a torch.Generator)") from None


def apply(
    module: nn.Module,
    scheme: Scheme | None,
    *,
    rules: Sequence[Rule] = (),
    bias: Scheme | None = "zeros",
    recurrent: Scheme | None = "orthogonal",
    frozen: bool = False,
    seed: int | RNG | torch.Generator = 0,
    stream: str = "default",
) -> InitTable:
    r"""Initialize `module`'s parameters in place with initlab's catalogue; say what was done
    to every parameter.

    Parameters
    ----------
    module : nn.Module
    scheme : str or dict or Initializer or None
        The default for the weights of Linear, Conv, ConvTranspose and Embedding layers
        (:data:`LAYERS`, :data:`EMBEDDING`), of ``nn.RNN``/``nn.LSTM``/``nn.GRU``
        (``weight_ih_l*``, per gate) and of ``nn.MultiheadAttention`` (``in_proj_weight``
        per q, k, v block; ``out_proj`` is a Linear), e.g. ``"kaiming_normal"`` or
        ``{"name": "kaiming_uniform", "a": 5 ** 0.5}``. None: only `rules` apply (no
        default for any parameter).
    rules : sequence of (pattern, scheme)
        Overrides, the first matching rule winning. A pattern is a glob over full parameter
        names (``"*.bias"``, ``"features.0.weight"``, ``"pos"``), any of a tied tensor's
        names; ``name:block`` names one block (``"*.in_proj_weight:q"``,
        ``"lstm.bias_hh_l0:f"``); a parametrized weight is named as the module computes it
        (``"0.weight"``), its originals by their own names. Or a module type (``nn.Conv2d``,
        ``nn.LayerNorm``, ``nn.LSTM``) matching the **weights** of such modules.
        Normalization layers and free parameters are left as they are unless a rule names
        them. A rule that matches no parameter is an error.
    bias : str or dict or None
        The default for the biases of those layers: 0 (initlab's convention; PyTorch
        draws U(+-1/sqrt(fan_in))), or None to leave PyTorch's values.
    recurrent : str or dict or None
        The default for recurrent kernels ``weight_hh_l*``, per gate block: orthogonal (as
        Keras and Flax), or any scheme; None leaves them.
    frozen : bool
        Draw parameters with ``requires_grad=False`` too; by default they are kept.
    seed : int or numpy Generator or torch.Generator
        The generator (:func:`initlab.make_rng`; a ``torch.Generator`` seeds it with one
        integer drawn from it, so the torch generator advances). Parameters are drawn in
        ``named_parameters()`` order, blocks in order, each in float64.
    stream : str
        :func:`initlab.make_rng`'s stream for an integer seed.

    Returns
    -------
    InitTable
        A row for every parameter (every block of a gated or packed one): what was drawn
        with which fans and variance, or why it was kept. ``print(table)`` shows it.

    Raises
    ------
    InitlabError
        Before any parameter is changed, for a lazy or meta parameter, a bad rule or seed.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 10))
    >>> table = apply(net, "kaiming_normal", rules=[(nn.Linear, "xavier_normal")], seed=0)
    >>> [r.scheme for r in table]
    ['kaiming_normal(a=0, mode=fan_in, nonlinearity=leaky_relu)', 'zeros', 'xavier_normal(gain=1)', 'zeros']
    """  # noqa: E501
    if not isinstance(module, nn.Module):
        raise InitlabError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    table = slots(module)
    rules = _check_rules(rules, table)
    defaults = {} if scheme is None else {
        "weight": _initializers.get(scheme),
        "recurrent": None if recurrent is None else _initializers.get(recurrent),
        "bias": None if bias is None else _initializers.get(bias),
    }  # fmt: skip
    rng = _seed(seed, stream)
    options = {"scheme": scheme, "bias": bias, "recurrent": recurrent, "frozen": frozen}
    rows, drawn = InitTable(), set()
    with one_thread():
        for slot in table:
            rows.extend(_apply_slot(slot, _inits(slot, rules, defaults, frozen), rng, drawn,
                                    options))  # fmt: skip
    logger.info("initialized %d of %d parameter blocks", len(rows.drawn), len(rows))
    return rows


def _inits(slot: Slot, rules: list, defaults: dict, frozen: bool) -> list:
    """The initializer of each block of `slot` (None: kept), and whether a rule chose it."""
    if slot.frozen and not frozen:
        return [(None, False)] * len(slot.blocks)
    out = []
    for b in slot.blocks:
        init = next((i for pat, i in rules if _hits(pat, slot, b)), None)
        if init is not None:
            out.append((init, True))
        else:
            out.append((defaults.get(slot.role) if slot.role else None, False))
    return out


def _apply_slot(
    slot: Slot, inits: list, rng: RNG, drawn: set[str], options: dict[str, Any]
) -> list[InitRow]:
    """Draw the blocks of `slot` that have an initializer, write them, give its rows."""
    shape = tuple(slot.tensor.shape)
    if any(i is not None for i, _ in inits):
        values = slot.tensor.detach().to("cpu", torch.float64).numpy().copy()
        for k, (init, _) in enumerate(inits):
            if init is not None:
                sl = slot.block_slice(k)
                name = slot.name + (f":{slot.blocks[k]}" if slot.blocks[k] else "")
                try:
                    values[sl] = init((sl.stop - sl.start, *shape[1:]), rng)
                except InitlabError as exc:
                    raise InitlabError(f"{name} (shape {shape}): {exc}") from None
        _write(slot, values)
        drawn.add(slot.name)
    with torch.no_grad():
        now = (slot.getter() if slot.getter else slot.tensor).detach().to("cpu", torch.float64)
    rows = []
    for k, (init, by_rule) in enumerate(inits):
        sl = slot.block_slice(k)
        bshape = (sl.stop - sl.start, *shape[1:])
        fan = _initializers.compute_fans(bshape) if len(bshape) >= 2 else (None, None)
        std = float(now[sl].std(unbiased=False)) if now[sl].numel() else 0.0
        head = (slot.name, type(slot.owner).__name__, bshape)
        if init is None:
            status, note = _kept(slot, drawn, options)
            fan = (None, None) if status == "set" else fan
            rows.append(InitRow(*head, f"({status})", *fan, std, slot.blocks[k], None, status,
                                note, slot.aliases))  # fmt: skip
        else:
            variance = float(init.moments(bshape).std ** 2)
            note = "; ".join(filter(None, [_trap(init, slot, by_rule),
                                           slot.reason if slot.role else ""]))  # fmt: skip
            rows.append(InitRow(*head, _describe(init), *fan, std, slot.blocks[k], variance,
                                "drawn", note, slot.aliases))  # fmt: skip
    return rows


def _write(slot: Slot, values: np.ndarray) -> None:
    """Copy `values` into `slot`'s tensor (through its parametrization if it has one)."""
    owner = slot.owner
    if slot.local == "weight" and getattr(owner, "padding_idx", None) is not None:
        values[owner.padding_idx] = 0.0  # an Embedding's padding row stays 0, as PyTorch keeps it
    if slot.setter is None:
        _copy_into(slot.tensor, values)
        return
    with torch.no_grad():
        slot.setter(torch.from_numpy(values).to(slot.tensor.dtype))


def _copy_into(p: torch.Tensor, values: np.ndarray) -> None:
    with torch.no_grad():
        p.copy_(torch.from_numpy(np.ascontiguousarray(values)))


# --- initlab networks as torch modules ----------------------------------------------------


def from_network(net: Any, k: int = 0) -> nn.Sequential:
    r"""Member `k` of an initlab :class:`~initlab.nn.network.Network` as an ``nn.Sequential``.

    ``Linear(n_0, n_1), phi, ..., Linear(n_{L-1}, 1)`` in the network's dtype, with its
    weights and biases copied (``b_l`` of shape ``(n_l, 1)`` becomes a vector). The output
    is the logit :math:`Z_L`; pair it with ``nn.BCEWithLogitsLoss`` and inputs
    ``X.T`` (torch puts examples first).
    """
    dtype = getattr(torch, np.dtype(net.dtype).name)
    act = net.activation
    modules: list[nn.Module] = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        lin = nn.Linear(W.shape[2], W.shape[1], dtype=dtype)
        _copy_into(lin.weight, W[k])
        _copy_into(lin.bias, b[k, :, 0])
        modules.append(lin)
        if l < len(net.weights) - 1:
            modules.append(_activation_module(act))
    return nn.Sequential(*modules)


def _activation_module(act: _activations.Activation) -> nn.Module:
    if act.name == "leaky_relu":
        return nn.LeakyReLU(act.params["slope"])
    if act.name == "linear":
        return nn.Identity()
    return {v: k for k, v in ACTIVATIONS.items() if v != "leaky_relu"}[act.name]()


def activation_of(module: nn.Module) -> _activations.Activation | None:
    """initlab's activation for an activation module of :data:`ACTIVATIONS`, else None."""
    name = ACTIVATIONS.get(type(module))
    if name is None:
        return None
    return _activations.get(
        name, **({"slope": module.negative_slope} if name == "leaky_relu" else {})
    )


def infer_activation(module: nn.Module) -> _activations.Activation:
    """initlab's activation for `module`'s hidden units, from its activation modules.

    Raises
    ------
    InitlabError
        If `module` holds none of :data:`ACTIVATIONS` (its forward may call a function such
        as ``F.relu``) or several kinds: pass ``activation=`` explicitly then.
    """
    found = {}
    for m in module.modules():
        act = activation_of(m)
        if act is not None:
            found[(act.name, tuple(act.params.items()))] = act
    if len(found) != 1:
        kinds = ", ".join(sorted(n for n, _ in found)) or "no activation module"
        raise InitlabError(
            f"cannot tell the hidden activation of this module (found: {kinds}); pass "
            f"activation= one of {', '.join(_activations.HIDDEN)}"
        )
    return next(iter(found.values()))


# --- forward order -------------------------------------------------------------------------


def _run(module: nn.Module, batch: Any) -> Any:
    return module(*batch) if isinstance(batch, tuple | list) else module(batch)


def layer_order(module: nn.Module, batch: Any, types: tuple[type, ...] = LAYERS) -> list[str]:
    """Names of `module`'s submodules of `types` in the order one forward pass calls them
    (first call; a layer never called is left out)."""
    order: list[str] = []
    handles = [
        m.register_forward_hook(lambda mod, i, o, n=n: order.append(n) if n not in order else None)
        for n, m in module.named_modules()
        if isinstance(m, types)
    ]
    try:
        with torch.no_grad():
            _run(module, batch)
    finally:
        for h in handles:
            h.remove()
    return order
