r""":func:`audit`: is a torch model well initialized, and if not, what to change.

At initialization, per layer, what :mod:`initlab.torch._probe` measures (forward second
moment and its growth, gradient norm, dead and saturated fractions, the Jacobian's gain;
each block's stream), beside it the mean-field prediction where the layer is in a
Linear/Conv + activation chain, a verdict per layer and per block, and for the problems a
fix as :func:`initlab.torch.apply` rules, checked by applying it to a deep copy and
auditing that copy (:mod:`initlab.torch._verdict` says how each is decided).

``audit.json`` (:meth:`Audit.write`) is what ``initlab report`` draws; its schema:
``format`` ("initlab-audit"), ``schema_version``, ``model``, ``settings``, ``input``
(``ms``, ``jacobian_input``, ``sv_max``), ``loss``, ``layers`` and ``blocks`` (one dict per
row, :data:`LAYER_KEYS`, :data:`BLOCK_KEYS`), ``fix`` (``rules`` as ``[pattern, scheme]``
pairs, ``why``, and ``after``: the audit of the fixed copy, without its own fix) or null.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab.report.audit import AUDIT_FILE, FORMAT, format_audit
from initlab.results.records import jsonable, write_atomic
from initlab.torch import _verdict
from initlab.torch._apply import apply
from initlab.torch._jacobian import gains, input_site, site_value, sv_max
from initlab.torch._probe import Probe, blocks, forward_backward, quiet

SCHEMA_VERSION = 1
LAYER_KEYS = (
    "name", "type", "act", "sigma_w2", "sigma_b2", "in_ms", "out_ms", "pred_out_ms",
    "growth", "pred_growth", "grad_n2", "pred_grad_n2", "wgrad_rel", "jac", "pred_jac",
    "saturated", "dead", "verdict", "problems",
)  # fmt: skip
BLOCK_KEYS = ("name", "in_ms", "out_ms", "growth", "grad_n2", "jac", "verdict", "problems")


@dataclass
class Audit:
    """The result of :func:`audit`: plain data (module docstring); ``print`` shows tables."""

    data: dict[str, Any]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return self.data["layers"]

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.data["blocks"]

    @property
    def fix(self) -> dict[str, Any] | None:
        return self.data["fix"]

    @property
    def rules(self) -> list[tuple[str, Any]]:
        """The proposed fix as ``apply(model, None, rules=..., bias=None)`` takes it."""
        return [tuple(r) for r in self.fix["rules"]] if self.fix else []

    def verdicts(self) -> dict[str, str]:
        """Layer and block name -> verdict."""
        return {r["name"]: r["verdict"] for r in self.layers + self.blocks}

    def write(self, path: str | os.PathLike) -> Path:
        """Write the audit as JSON, atomically; a directory gets ``audit.json``."""
        path = Path(path)
        if path.is_dir():
            path = path / AUDIT_FILE
        write_atomic(path, json.dumps(jsonable(self.data), indent=1).encode("utf-8"))
        return path

    def __str__(self) -> str:
        return format_audit(self.data)


def probe(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable | None,
    *,
    probes: int,
    power_iters: int,
    seed: int,
) -> Probe:
    """Measure `model` on `batch` (:mod:`initlab.torch._probe`); the caller holds
    :func:`~initlab.torch._probe.quiet`."""
    gen = torch.Generator().manual_seed(seed)
    names = blocks(model)
    layers, blks, loss = forward_backward(model, batch, loss_fn, names, gen)
    if not layers:
        raise InitlabError(
            "the model calls no Linear, Conv or ConvTranspose layer on this batch: nothing to audit"
        )
    where, site = input_site(model, batch)
    sv = None
    if where is not None:
        x0 = site_value(model, batch, site)
        try:
            g = gains(model, batch, site, x0, names, probes, gen)
            sv = sv_max(model, batch, site, x0, power_iters, gen)
        except NotImplementedError as exc:  # an operation without forward-mode AD
            g, where = {}, f"input (not estimated: {str(exc).splitlines()[0][:120]})"
        for r in layers:
            r.jac_in, r.jac_out = g.get(("in", r.name)), g.get(("out", r.name))
        for b in blks:
            b.jac_out = g.get(("block", b.name))
    return Probe(layers, blks, layers[0].in_ms, sv, where or "input (none: no floating-point "
                 "input or Embedding)", *loss)  # fmt: skip


def _rows(p: Probe) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pred = _verdict.predict(p)
    problems = _verdict.judge_layers(p)
    layers = []
    for r in p.layers:
        t = pred.get(r.name, {})
        layers.append({
            "name": r.name, "type": r.type, "act": r.act, "sigma_w2": r.sigma_w2,
            "sigma_b2": r.sigma_b2, "in_ms": r.in_ms, "out_ms": r.out_ms,
            "pred_out_ms": t.get("out_ms"), "growth": r.out_ms / r.in_ms if r.in_ms else None,
            "pred_growth": t.get("growth"), "grad_n2": r.grad_n2,
            "pred_grad_n2": t.get("grad_n2"), "wgrad_rel": r.wgrad_rel, "jac": r.jac_out,
            "pred_jac": t.get("jac"), "saturated": r.saturated, "dead": r.dead,
            "verdict": _verdict.verdict(problems[r.name]), "problems": problems[r.name],
        })  # fmt: skip
    bproblems = _verdict.judge_blocks(p.blocks)
    first = p.blocks[0].in_ms if p.blocks else None
    blocks = [{"name": b.name, "in_ms": b.in_ms, "out_ms": b.out_ms,
               "growth": b.out_ms / first if first else None, "grad_n2": b.grad_n2,
               "jac": b.jac_out, "verdict": _verdict.verdict(bproblems[b.name]),
               "problems": bproblems[b.name]} for b in p.blocks]  # fmt: skip
    return layers, blocks


def _branch_ends(model: nn.Module, p: Probe) -> dict[str, list[str]]:
    """Per block, the modules ending its branches: its last layer called and the
    ``out_proj`` of any MultiheadAttention in it."""
    ends = {}
    for b in p.blocks:
        inside = [r.name for r in p.layers if r.name.startswith(b.name + ".")]
        names = inside[-1:]
        names += [
            f"{n}.out_proj"
            for n, m in model.named_modules()
            if n.startswith(b.name + ".") and isinstance(m, nn.MultiheadAttention)
        ]
        ends[b.name] = names
    return ends


def _propose(model: nn.Module, p: Probe, layers, blocks) -> tuple[list, list[str]]:
    bad = {r["name"] for r in layers if r["problems"]}
    rules, why = [], []
    has_bias = {n: getattr(m, "bias", None) is not None for n, m in model.named_modules()}
    for chain in _verdict.chains(p):
        if len(chain) > 1 and any(r.name in bad for r in chain):
            found = _verdict.chain_rules(chain, has_bias)
            if found:
                rules += found
                why.append(f"chain {chain[0].name} .. {chain[-1].name} is off its critical point")
    names = [b.name for b in p.blocks]
    outside = sorted({q for r in layers if names and _verdict.role(r["name"], names) == ""
                      for q in r["problems"]})  # fmt: skip
    inside = sorted({q for b in blocks for q in b["problems"]})
    if inside or outside:
        rules += _verdict.residual_rules(p, _branch_ends(model, p), has_bias)
        why.append(f"the residual stream of {len(blocks)} blocks is {'/'.join(inside)}"
                   if inside else f"layers around {len(blocks)} residual blocks are "
                   f"{'/'.join(outside)}")  # fmt: skip
    return rules, why


def _one(model, batch, loss_fn, probes, power_iters, seed) -> tuple[Probe, dict[str, Any]]:
    with quiet(model):
        p = probe(model, batch, loss_fn, probes=probes, power_iters=power_iters, seed=seed)
    layers, blocks = _rows(p)
    data = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "model": type(model).__name__,
            "settings": {"probes": probes, "power_iters": power_iters, "seed": seed,
                         "factor": _verdict.FACTOR, "dead": _verdict.DEAD,
                         "saturated": _verdict.SATURATED},
            "input": {"ms": p.input_ms, "jacobian_input": p.jacobian_input,
                      "sv_max": p.sv_max},
            "loss": {"name": p.loss_name, "value": p.loss},
            "layers": layers, "blocks": blocks, "fix": None}  # fmt: skip
    return p, data


def audit(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    *,
    fix: bool = True,
    probes: int = 4,
    power_iters: int = 20,
    seed: int = 0,
) -> Audit:
    r"""Audit `model`'s initialization on `batch` (module docstring).

    Parameters
    ----------
    model : nn.Module
        Left as it was: modes, buffers, ``.grad`` and torch's random state are restored.
    batch : tensor or tuple
        ``model(batch)`` or ``model(*batch)``; its first dimension is the examples.
    loss_fn : callable, optional
        ``loss_fn(output) -> scalar tensor`` (close over the targets); None back-propagates
        a fixed Gaussian direction (unit-variance output gradients).
    fix : bool
        Propose a fix for the problems found and audit a fixed deep copy.
    probes : int
        Random vectors of Hutchinson's estimate of the Jacobian gains.
    power_iters : int
        Power-iteration steps for the largest singular value.
    seed : int
        Seeds the probes, the Gaussian output direction and the fix's draws.

    Returns
    -------
    Audit
    """
    if not isinstance(model, nn.Module):
        raise InitlabError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    probes = int(check_number("probes", probes, low=1, integer=True))
    power_iters = int(check_number("power_iters", power_iters, low=1, integer=True))
    p, data = _one(model, batch, loss_fn, probes, power_iters, seed)
    if fix:
        rules, why = _propose(model, p, data["layers"], data["blocks"])
        if rules:
            fixed = copy.deepcopy(model)
            apply(fixed, None, rules=rules, bias=None, seed=seed)
            _, after = _one(fixed, batch, loss_fn, probes, power_iters, seed)
            data["fix"] = {
                "rules": [list(r) for r in rules],
                "why": why,
                "after": {k: after[k] for k in ("input", "layers", "blocks")},
            }
    return Audit(data)
