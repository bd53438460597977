r"""Coordinate checks of any torch module over widths or depths, with verdicts.

For every size ``n`` (a width, or a depth with ``axis="depth"``) and seed, the module is
built, trained for a few steps on one fixed batch, and every watched module's output
:math:`x_t` is measured before each update :math:`t = 0..T-1` by ``mup``'s two readings:

- its size :math:`\operatorname{mean}|x_t|` (``mup``'s ``l1``), and
- its change since initialization :math:`\operatorname{mean}|x_t - x_0|`,

averaged over seeds. The slopes of :math:`\log` size against :math:`\log n` and the
verdicts (stable within ``band``, grows, vanishes) are :mod:`initlab.analysis.coordcheck`'s.

**Known benign exceptions** under muP, named in the verdict lines rather than hidden:

- the readout's size at step 0 vanishes like :math:`n^{-1/2}` unless it is zero-initialized
  (its effective variance is :math:`1/n^2`, Tensor Programs V, Table 3): expected;
- after a few steps the readout's size can still fall with width while its change since
  step 0 is stable: the size is the vanishing initial output plus a stable change;
- the readout's change at step 1 can fall with width on a class-balanced batch: with the
  initial predictions near uniform, the first step's :math:`\Theta(1)` change of the logits
  nearly cancels (mean gradient :math:`\approx 0`), leaving an :math:`n^{-1/2}` term that
  dominates at small widths (docs/scaling.md).

A layer flagged elsewhere is a failure of the check; :attr:`CoordCheck.passed` says whether
there is one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab.analysis.coordcheck import DEFAULT_BAND, CoordRow, coord_check_table, format_rows
from initlab.results.records import write_atomic
from initlab.torch._apply import _run
from initlab.torch.models import seeded

AXES = ("width", "depth")
_BENIGN_INIT = "expected: muP's readout starts at O(n^-1/2), variance 1/n^2"
_BENIGN_SIZE = (
    "expected: its size still carries the n^-1/2 initialization, and its change since step 0 "
    "is stable or the benign step-1 case"
)
_BENIGN_STEP1 = (
    "known benign at step 1: with near-uniform initial predictions the first step's Theta(1) "
    "change of the logits largely cancels over the batch (exactly on a balanced one), leaving "
    "an n^-1/2 term"
)


@dataclass(frozen=True)
class CoordCheck:
    """``sizes[layer, step, n]`` and ``changes[layer, step, n]`` (means over seeds).

    ``readouts`` are the watched layers that are muP readouts (their benign exceptions are
    named in :meth:`verdict_lines`); ``parametrization`` the built models' (None if not
    parametrized by :func:`initlab.torch.parametrize`).
    """

    widths: tuple[int, ...]
    layers: tuple[str, ...]
    steps: tuple[int, ...]
    sizes: np.ndarray
    changes: np.ndarray
    band: float = DEFAULT_BAND
    axis: str = "width"
    parametrization: str | None = None
    readouts: tuple[str, ...] = ()

    def rows(self, metric: str = "size") -> list[CoordRow]:
        """Slope and verdict per layer and step (``"change"``: steps from 1)."""
        if metric not in ("size", "change"):
            raise InitlabError(f"metric must be 'size' or 'change'; got {metric!r}")
        data, first = (self.sizes, 0) if metric == "size" else (self.changes, 1)
        return coord_check_table(self.widths, data[:, first:], layers=self.layers,
                                 steps=self.steps[first:], band=self.band)  # fmt: skip

    def _benign(self, metric: str, row: CoordRow) -> str | None:
        if self.parametrization != "mup" or row.layer not in self.readouts:
            return None
        if metric == "size" and row.step == 0 and row.verdict == "vanishes":
            return _BENIGN_INIT
        if metric == "change" and row.step == 1 and row.verdict == "vanishes":
            return _BENIGN_STEP1
        if metric == "size" and row.verdict == "vanishes":
            moved = next(r for r in self.rows("change") if r.layer == row.layer
                         and r.step == row.step)  # fmt: skip
            if moved.verdict == "stable" or self._benign("change", moved):
                return _BENIGN_SIZE
        return None

    def flagged(self) -> list[tuple[str, CoordRow, str | None]]:
        """Every (metric, row, benign note or None) that grows or vanishes."""
        return [(m, r, self._benign(m, r)) for m in ("size", "change") for r in self.rows(m)
                if r.verdict in ("grows", "vanishes")]  # fmt: skip

    @property
    def passed(self) -> bool:
        """No layer grows or vanishes except the known benign exceptions."""
        return all(note is not None for _, _, note in self.flagged())

    def verdict_lines(self) -> list[str]:
        """The size at step 0, the size after it and the change since step 0, each as one
        line naming its steps and the flagged layers (benign exceptions explained), then the
        overall verdict."""
        last = self.steps[-1]
        after = f"step {last}" if last == 1 else f"steps 1..{last}"
        scopes = (("size", "size at step 0 (the initialization)", lambda t: t == 0),
                  ("size", f"size after training, {after}", lambda t: t > 0),
                  ("change", f"change mean |x_t - x_0|, {after}", lambda t: t > 0))  # fmt: skip
        flagged = self.flagged()
        lines = []
        for metric, what, keep in scopes:
            bad: dict[str, list] = {}
            for m, r, note in flagged:
                if m == metric and keep(r.step):
                    bad.setdefault(f"{r.layer} {r.verdict}", []).append((r, note))
            parts = []
            for key, hits in bad.items():
                at = ",".join(str(r.step) for r, _ in hits)
                slopes = "/".join(f"{r.slope:+.2f}" for r, _ in hits)
                notes = {n for _, n in hits}
                why = f"; {notes.pop()}" if len(notes) == 1 and None not in notes else ""
                parts.append(f"{key} (step {at}, slope {slopes}{why})")
            lines.append(f"{what}: " + ("; ".join(parts) if parts else "every layer stable"))
        verdict = (
            "PASS: every layer stable in " + self.axis + " but the known benign exceptions"
            if self.passed
            else "FAIL: a layer grows or vanishes with the " + self.axis
        )
        return [*lines, verdict]  # fmt: skip

    def __str__(self) -> str:
        tables = [f"{m}: mean |x{'_t - x_0' if m == 'change' else ''}| by {self.axis}\n"
                  + format_rows(self.widths, self.rows(m)) for m in ("size", "change")]  # fmt: skip
        return "\n\n".join([*tables, "\n".join(self.verdict_lines())])

    def save(self, path: str | Path) -> Path:
        """Write as JSON; :meth:`load` reads it back exactly."""
        doc = {"kind": "torch-coord-check", **asdict(self)}
        doc["sizes"], doc["changes"] = self.sizes.tolist(), self.changes.tolist()
        path = Path(path)
        write_atomic(path, json.dumps(doc, allow_nan=True).encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CoordCheck:
        doc = json.loads(Path(path).read_text())
        if doc.pop("kind", None) != "torch-coord-check":
            raise InitlabError(f"{path} is not an initlab.torch coordinate check")
        for key in ("widths", "layers", "steps", "readouts"):
            doc[key] = tuple(doc[key])
        doc["sizes"], doc["changes"] = np.array(doc["sizes"]), np.array(doc["changes"])
        return cls(**doc)


def coord_check(
    builder: Callable[[int], nn.Module],
    widths: Sequence[int],
    batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    steps: int = 4,
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    seeds: int = 1,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    band: float = DEFAULT_BAND,
    axis: str = "width",
) -> CoordCheck:
    r"""A coordinate check of any module whose width (or depth) you can vary.

    For every size ``n`` and seed ``s``: build ``builder(n)`` with torch's generator seeded
    ``seed + s`` inside :func:`torch.random.fork_rng` (the caller's global torch state is
    restored), then for ``t = 0 .. steps-1``: one forward pass on ``batch[0]``, recording
    ``x.abs().mean()`` and ``(x - x_0).abs().mean()`` of every watched module's output (the
    first tensor of a tuple; first call per pass), then ``loss_fn(output, batch[1])`` is
    back-propagated and one optimizer step taken. Step 0 is the initialization.

    Parameters
    ----------
    builder : callable
        ``builder(n) -> nn.Module``; the watched layer names exist at every ``n``.
    widths : sequence of int
        The widths, or the depths with ``axis="depth"``.
    batch : (inputs, targets)
    loss_fn : callable
        ``loss_fn(output, targets) -> scalar tensor``.
    optimizer : callable, optional
        ``optimizer(model) -> Optimizer`` (e.g. ``lambda m: initlab.torch.make_optimizer(m,
        "adam", 1e-2)``); default SGD with learning rate 0.1 on ``model.parameters()``.
    layers : sequence of str, optional
        Modules to watch (their outputs; ``"name:in"`` watches the module's first input);
        default every leaf module (one without children) of the first model built (for a
        depth check, name modules every depth has, e.g. ``"ln_f:in"``: the residual stream
        after the last block).
    axis : {"width", "depth"}
        What ``widths`` are (labels only).

    Returns
    -------
    CoordCheck
    """
    from initlab.torch._mup import parametrization_of

    sizes_ = tuple(int(check_number("width", w, low=1, integer=True)) for w in widths)
    steps = int(check_number("steps", steps, low=1, integer=True))
    seeds = int(check_number("seeds", seeds, low=1, integer=True))
    if axis not in AXES:
        raise InitlabError(f"axis must be one of {', '.join(AXES)}; got {axis!r}")
    make_opt = optimizer or (lambda model: torch.optim.SGD(model.parameters(), lr=0.1))
    names: list[str] | None = None if layers is None else list(layers)
    size, change, par, readouts = [], [], None, set()
    for n in sizes_:
        per_seed = []
        for s in range(seeds):
            with seeded(seed + s):
                model = builder(n)
            names = names or [k for k, m in model.named_modules() if k and not list(m.children())]
            if hasattr(model, "_initlab_parametrization"):
                state = parametrization_of(model)
                par = state.parametrization
                readouts |= {k.rsplit(".", 1)[0] for k in state.readouts}
            per_seed.append(_trace(model, names, batch, loss_fn, make_opt, steps))
        size.append(np.mean([p[0] for p in per_seed], axis=0))  # (L, steps)
        change.append(np.mean([p[1] for p in per_seed], axis=0))
    return CoordCheck(
        sizes_, tuple(names), tuple(range(steps)), np.stack(size, axis=2),
        np.stack(change, axis=2), band, axis, par, tuple(n for n in names if n in readouts),
    )  # fmt: skip


def _first_tensor(output: Any) -> torch.Tensor:
    while isinstance(output, tuple | list):
        output = output[0]
    return output


def _trace(model, names, batch, loss_fn, make_opt, steps) -> tuple[np.ndarray, np.ndarray]:
    """``mean |x_t|`` and ``mean |x_t - x_0|`` of each named module's output, ``(L, steps)``."""
    mods = dict(model.named_modules())
    absent = [n for n in names if n.removesuffix(":in") not in mods]
    if absent:
        raise InitlabError(f"layers {absent} are not modules of the built model")
    size, change = np.full((2, len(names), steps), np.nan)
    first: dict[int, torch.Tensor] = {}
    seen: set[int] = set()
    t_now = [0]

    def watch(l: int) -> Callable:
        def hook(mod, inputs, output=None) -> None:  # returns None: nothing is changed
            if l in seen:
                return
            seen.add(l)
            x = _first_tensor(inputs if output is None else output).detach()
            if t_now[0] == 0:
                first[l] = x.clone()
            size[l, t_now[0]] = float(x.abs().mean())
            change[l, t_now[0]] = float((x - first[l]).abs().mean())

        return hook

    handles = [
        mods[n[:-3]].register_forward_pre_hook(watch(l)) if n.endswith(":in")
        else mods[n].register_forward_hook(watch(l)) for l, n in enumerate(names)
    ]  # fmt: skip
    opt = make_opt(model)
    try:
        for t in range(steps):
            seen.clear()
            t_now[0] = t
            opt.zero_grad()
            loss = loss_fn(_run(model, batch[0]), batch[1])
            loss.backward()
            opt.step()
    finally:
        for h in handles:
            h.remove()
    return size, change
