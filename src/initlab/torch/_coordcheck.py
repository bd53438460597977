r"""Coordinate checks of any torch module whose width can vary (import from :mod:`initlab.torch`).

The slopes and verdicts are :mod:`initlab.analysis.coordcheck`'s; this module measures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab.analysis.coordcheck import DEFAULT_BAND, CoordRow, coord_check_table, format_rows
from initlab.torch._apply import _run


@dataclass(frozen=True)
class CoordCheck:
    """Mean :math:`|x|` of each layer's output, ``sizes[layer, step, width]`` (mean over seeds).

    ``rows()`` gives the slopes and verdicts (:mod:`initlab.analysis.coordcheck`);
    ``print(check)`` shows them as a table.
    """

    widths: tuple[int, ...]
    layers: tuple[str, ...]
    steps: tuple[int, ...]
    sizes: np.ndarray
    band: float = DEFAULT_BAND

    def rows(self) -> list[CoordRow]:
        return coord_check_table(
            self.widths, self.sizes, layers=self.layers, steps=self.steps, band=self.band
        )

    def __str__(self) -> str:
        return format_rows(self.widths, self.rows())


def coord_check(
    builder: Callable[[int], nn.Module],
    widths: Sequence[int],
    batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    steps: int = 4,
    optimizer_factory: Callable[[Any], torch.optim.Optimizer] | None = None,
    seeds: int = 1,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    band: float = DEFAULT_BAND,
) -> CoordCheck:
    r"""A coordinate check of any module whose width you can vary (Yang et al. 2021).

    For every width ``n`` and seed ``s``: build ``builder(n)`` with torch's generator seeded
    ``seed + s`` inside :func:`torch.random.fork_rng` (the caller's global torch state is
    restored), then for ``t = 0 .. steps-1``: one forward pass on ``batch[0]``, recording
    ``x.abs().mean()`` of every watched layer's output (the ``mup`` package's measure), then
    ``loss_fn(output, batch[1]).backward()`` and one optimizer step. Step 0 is the
    initialization.

    Parameters
    ----------
    builder : callable
        ``builder(width) -> nn.Module``; the same layer names at every width.
    widths : sequence of int
    batch : (inputs, targets)
    loss_fn : callable
        ``loss_fn(output, targets) -> scalar tensor``.
    optimizer_factory : callable, optional
        ``optimizer_factory(params) -> Optimizer``; default SGD with learning rate 0.1.
    layers : sequence of str, optional
        Modules to watch; default every leaf module (one without children).

    Returns
    -------
    CoordCheck
    """
    widths = tuple(int(check_number("width", w, low=1, integer=True)) for w in widths)
    steps = int(check_number("steps", steps, low=1, integer=True))
    seeds = int(check_number("seeds", seeds, low=1, integer=True))
    make_opt = optimizer_factory or (lambda params: torch.optim.SGD(params, lr=0.1))
    names: list[str] | None = None if layers is None else list(layers)
    sizes: list[list[np.ndarray]] = []
    for n in widths:
        per_seed = []
        for s in range(seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + s)
                model = builder(n)
            names = names or [k for k, m in model.named_modules() if k and not list(m.children())]
            per_seed.append(_trace(model, names, batch, loss_fn, make_opt, steps))
        sizes.append(np.mean(per_seed, axis=0))  # (L, steps)
    return CoordCheck(widths, tuple(names), tuple(range(steps)), np.stack(sizes, axis=2), band)


def _trace(model, names, batch, loss_fn, make_opt, steps) -> np.ndarray:
    """``mean |x|`` of each named module's output (first call) at each step, ``(L, steps)``."""
    mods = dict(model.named_modules())
    absent = [n for n in names if n not in mods]
    if absent:
        raise InitlabError(f"layers {absent} are not modules of the built model")
    out = np.full((len(names), steps), np.nan)
    seen: dict[int, float] = {}

    def watch(l: int) -> Callable:
        def hook(mod, inputs, output) -> None:  # returns None: the output is left as is
            seen.setdefault(l, float(output.detach().abs().mean()))

        return hook

    handles = [mods[n].register_forward_hook(watch(l)) for l, n in enumerate(names)]
    opt = make_opt(model.parameters())
    try:
        for t in range(steps):
            seen.clear()
            opt.zero_grad()
            loss = loss_fn(_run(model, batch[0]), batch[1])
            out[[*seen], t] = [*seen.values()]
            loss.backward()
            opt.step()
    finally:
        for h in handles:
            h.remove()
    return out
