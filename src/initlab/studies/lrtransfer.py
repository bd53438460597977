r"""Learning-rate transfer (Yang et al. 2022, Fig. 1) as a study of cells.

For each width, train one member per learning rate :math:`2^k` and seed by mini-batch SGD or
Adam, and measure the final training loss on the whole training set; the optimum is the
learning rate of least mean loss over seeds. Under muP the optimum should not move with
width; under SP it does.

A cell is one member: (parametrization, width, :math:`\log_2` learning rate, seed) and the
settings that decide its numbers (optimizer, steps, batch size, examples, head, dtype, base
width, architecture); its group is its (parametrization, width), trained together
(:mod:`initlab.studies._widths`): as one population, or by chunks of consecutive members that
fit in cache (:data:`CHUNK_BYTES`; the same bits). Its record is its final loss and its loss
curve (+inf where diverged). :func:`lr_transfer` with ``out=DIR`` runs the cells on the
sweep's executor into ``DIR/sweep.sqlite`` (``initlab results DIR`` lists them; a rerun
computes only what is missing), and without it computes them here; both give the same bits.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initlab._rng import make_rng
from initlab._validation import InitlabError, SpecError, check_number
from initlab.execution import study as _study
from initlab.nn.training import train
from initlab.studies import _widths as W
from initlab.studies._widths import Architecture

__all__ = ["KIND", "LrTransfer", "cells", "compute", "from_spec", "lr_transfer", "study"]
Array = np.ndarray
KIND = "lr-transfer"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
_MEMBER = ("log2_lr", "seed")
"""The keys of a cell's config that vary within its population."""


@dataclass
class LrTransfer:
    """A learning-rate transfer sweep's data.

    Attributes
    ----------
    loss : ndarray (P, W, R, S)
        Final training loss on the whole training set per parametrization, width, learning rate
        :math:`2^{k}` (``log2_lrs``) and seed; +inf where training diverged.
    curves : ndarray (P, W, R, S, T)
        Mini-batch loss before each update.
    """

    parametrizations: list[str]
    widths: list[int]
    log2_lrs: list[float]
    seeds: list[int]
    loss: Array
    curves: Array
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def mean_loss(self) -> Array:
        """Loss averaged over seeds, ``(P, W, R)`` (inf if any seed diverged)."""
        return self.loss.mean(axis=-1)

    def optimum(self) -> Array:
        r""":math:`\log_2` of the best learning rate per width, ``(P, W)``.

        The grid point of least mean loss, refined by the vertex of the parabola through it
        and its two neighbours (in :math:`\log_2 \eta` and log loss) when both are finite
        and the grid is evenly spaced there; the vertex is kept within half a grid step of
        the grid point, so a noisy bracket moves the estimate by at most half a step.
        """
        x = np.asarray(self.log2_lrs, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(self.mean_loss())
        best = np.argmin(np.where(np.isfinite(y), y, np.inf), axis=-1)
        out = x[best].astype(float)
        for idx in np.ndindex(best.shape):
            k = best[idx]
            if 0 < k < len(x) - 1 and np.isfinite(y[idx][k - 1 : k + 2]).all():
                h = x[k + 1] - x[k]
                if np.isclose(x[k] - x[k - 1], h):
                    y0, y1, y2 = y[idx][k - 1 : k + 2]
                    curv = y0 - 2 * y1 + y2
                    if curv > 0:
                        shift = 0.5 * h * (y0 - y2) / curv
                        out[idx] = x[k] + float(np.clip(shift, -h / 2, h / 2))
        return out

    def shift_per_doubling(self, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> Array:
        r"""Shift of the optimum per doubling of the width, with an interval, ``(P, 3)``.

        Each row is ``(slope, low, high)``: the least-squares slope of the optimum's
        :math:`\log_2` (:meth:`optimum`) against :math:`\log_2 n`, and a `level` interval.
        With two or more seeds the interval is a percentile bootstrap: the seeds are
        resampled with replacement independently at each width (`n_boot` times, generator
        ``make_rng(seed)``) and the slope refitted. With one seed it is the grid's resolution:
        each optimum is known within :math:`\pm h/2` (:math:`h` the grid step; the
        parabola refinement stays within it), which moves the slope by at most
        :math:`\tfrac h2 \sum_i |x_i - \bar x| / \sum_i (x_i - \bar x)^2`.
        """
        x = np.log2(np.asarray(self.widths, dtype=float))
        xc = x - x.mean()
        slope = self.optimum() @ xc / (xc @ xc)
        S = len(self.seeds)
        if S < 2:
            h = float(np.min(np.diff(self.log2_lrs))) if len(self.log2_lrs) > 1 else 0.0
            half = h / 2 * np.abs(xc).sum() / (xc @ xc)
            return np.stack([slope, slope - half, slope + half], axis=-1)
        rng = make_rng(seed)
        boot = np.empty((n_boot, len(self.parametrizations)))
        for b in range(n_boot):
            pick = rng.integers(0, S, size=(len(self.widths), S))
            loss = np.stack([self.loss[:, w][..., pick[w]] for w in range(len(self.widths))], 1)
            boot[b] = LrTransfer(self.parametrizations, self.widths, self.log2_lrs, self.seeds,
                                 loss, self.curves).optimum() @ xc / (xc @ xc)  # fmt: skip
        q = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return np.stack([slope, q[0], q[1]], axis=-1)

    def spread(self) -> Array:
        """Range (max - min) over widths of the optimum's :math:`\\log_2`, ``(P,)``."""
        opt = self.optimum()
        return opt.max(axis=-1) - opt.min(axis=-1)

    def save(self, path: str | Path) -> Path:
        """Write as JSON (schema :data:`~initlab.studies._widths.SCHEMA`); a diverged member's
        loss (+inf) as -1."""
        doc = {"schema": W.SCHEMA, "kind": "lr-transfer", **asdict(self)}
        doc["loss"] = np.where(np.isfinite(self.loss), self.loss, -1.0).tolist()
        doc["curves"] = np.where(np.isfinite(self.curves), self.curves, -1.0).tolist()
        return W.write_json(path, doc)

    @classmethod
    def load(cls, path: str | Path) -> LrTransfer:
        doc = W.read_json(path, "lr-transfer")
        for key in ("loss", "curves"):
            a = np.array(doc[key], dtype=float)
            doc[key] = np.where(a < 0, np.inf, a)  # losses are >= 0; -1 marks divergence
        return cls(**doc)


def lr_transfer(
    widths: Sequence[int] = (64, 128, 256),
    log2_lrs: Sequence[float] = tuple(range(-11, -2)),
    parametrizations: Sequence[str] = ("sp", "mup"),
    *,
    progress: Callable[[int, int], None] | None = None,
    out: str | os.PathLike | None = None,
    jobs: int | None = 1,
    scheduler: str | None = None,
    **settings: Any,
) -> LrTransfer:
    r"""Train one population per (parametrization, width) over learning rates x seeds.

    Member ``r * S + s`` has learning rate ``2 ** log2_lrs[r]`` and seed ``seeds[s]``.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths :math:`n`, at least two, increasing.
    log2_lrs : sequence of float
        Base learning rates :math:`\eta = 2^k`, given as the exponents :math:`k` (default
        -11 .. -3), scaled per layer by the parametrization.
    parametrizations : sequence of str
        Of ``"sp"``, ``"ntk"``, ``"mup"`` (default ``"sp"``, ``"mup"``).
    progress : callable, optional
        ``progress(cells done, total)``, called after each population.
    out : path, optional
        Compute the cells on the executor into ``out/sweep.sqlite`` (resumable; another
        transfer's directory is refused); without it, here, in order.
    jobs : int, optional
        With `out`: local worker processes (default 1: this process; None: one per core).
    scheduler : str, optional
        With `out`: the Dask scheduler's address, ``tcp://HOST:PORT``.
    optimizer : str
        ``"adam"`` (default), ``"adamw"``, ``"sgd"``, ``"momentum"`` or ``"gd"``.
    steps : int
        Updates (default 40), on mini-batches of `batch_size` (default 32).
    batch_size : int
        Examples per update, at most the number of examples.
    seeds : sequence of int
        Seeds of the members, each :math:`\ge 0` (default 0).
    base_width : int, optional
        :math:`n_0`, where NTK and muP equal SP; required with ``"ntk"`` or ``"mup"``.
    n_examples : int or None
        Digits trained on (default 256; None: all 1797), ignored with `data`.
    architecture : Architecture, optional
        Depth, initializer, activation and residual blocks (default: a plain ReLU MLP with
        2 layers after the first, He initialization).
    data : (X, Y), optional
        ``X`` (d, m) inputs and ``Y`` (k, m) one-hot targets instead of the digits (not with
        `out`: no cell's key can hold arrays).
    head : str
        The loss head: ``"softmax"`` (cross-entropy, default), ``"sigmoid"`` or ``"linear"``
        (:data:`initlab.nn.losses.HEADS`).
    dtype : str
        ``"float64"`` (default) or ``"float32"``, the training's floating type.

    Returns
    -------
    LrTransfer
        ``loss`` (P, W, R, S): the final training loss by parametrization, width, learning
        rate and seed (+inf where diverged); ``curves`` (P, W, R, S, T).

    Raises
    ------
    InitlabError
        A bad argument (named), before any training; with `out`, a directory holding another
        transfer, or cells that failed.
    """
    plan, X, Y = _plan(widths, log2_lrs, parametrizations, **settings)
    if settings.get("data") is not None and out is not None:
        raise InitlabError("lr_transfer stores its cells (out=) for the bundled digits only; "
                           "with data= arrays, leave out unset")  # fmt: skip
    records, seconds = W.compute_cells(
        plan, functools.partial(_train_group, X=X, Y=Y), out, jobs=jobs, scheduler=scheduler,
        progress=progress,
    )  # fmt: skip
    kw = plan.spec[KIND]
    P, Wn, R, S = (len(kw[k]) for k in ("parametrizations", "widths", "log2_lrs", "seeds"))
    found = [records[c.id] for c in plan.cells]
    loss = np.array([r["loss"] for r in found], dtype=float).reshape(P, Wn, R, S)
    curves = np.array([r["curve"] for r in found], dtype=float).reshape(*loss.shape, -1)
    first = plan.cells[0].config
    stored = {k: v for k, v in first.items() if k not in (*_MEMBER, "parametrization", "width")}
    names = {c.group: f"{c.config['parametrization']}/{c.config['width']}" for c in plan.cells}
    return LrTransfer(
        kw["parametrizations"], kw["widths"], kw["log2_lrs"], kw["seeds"], loss, curves,
        stored, {names[g]: s for g, s in seconds.items()},
    )  # fmt: skip


def study(*args: Any, max_population: int | None = None, source: str | None = None,
          **settings: Any) -> _study.Study:  # fmt: skip
    """The transfer as a study of cells (:mod:`initlab.execution.study`), for the executor
    or ``--write-spec``; the arguments are :func:`_plan`'s."""
    return _plan(*args, max_population=max_population, source=source, **settings)[0]


def from_spec(table: Mapping[str, Any], max_population: int = W.MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The study of a spec's ``[lr-transfer]`` table (:mod:`initlab.studies.specs`): the
    keyword arguments of :func:`study`."""
    kwargs = W.spec_table(KIND, table, _KWARGS)
    try:
        return study(max_population=max_population, source=source, **kwargs)
    except InitlabError as exc:
        raise SpecError(f"[{KIND}] {exc}") from None


_KWARGS = ("widths", "log2_lrs", "parametrizations", "optimizer", "steps", "batch_size",
           "seeds", "base_width", "n_examples", "architecture", "head", "dtype")  # fmt: skip


def _plan(
    widths: Sequence[int] = (64, 128, 256),
    log2_lrs: Sequence[float] = tuple(range(-11, -2)),
    parametrizations: Sequence[str] = ("sp", "mup"),
    *,
    optimizer: str = "adam",
    steps: int = 40,
    batch_size: int = 32,
    seeds: Sequence[int] = (0,),
    base_width: int | None = None,
    n_examples: int | None = 256,
    architecture: Architecture | None = None,
    data: tuple[Array, Array] | None = None,
    head: str = "softmax",
    dtype: str = "float64",
    max_population: int | None = None,
    source: str | None = None,
) -> tuple[_study.Study, Array, Array]:
    """The study (checked) and its data ``(X, Y)``.

    `data` defaults to `n_examples` digits (:func:`~initlab.studies._widths.digits`; all
    with None); `base_width` is required by NTK and muP, as in
    :func:`~initlab.studies.scaling.coord_check`. The defaults are the CI-sized example of
    ``tests/test_scaling.py``: Adam, 40 steps of batch 32 on 256 digits, a plain ReLU MLP of
    3 hidden layers. `dtype` is the training's (``"float64"`` or ``"float32"``).
    """
    arch = architecture or Architecture()
    widths = W.check_widths(widths)
    params = W.check_names("parametrizations", parametrizations)
    n0 = W.base_width(base_width, params, widths)
    W.check_dtype(dtype)
    lrs = [float(x) for x in W.check_values("log2_lrs", log2_lrs)]
    seeds = [int(s) for s in W.check_values("seeds", seeds, low=0, integer=True)]
    X, Y = data if data is not None else W.digits(n_examples)
    steps = int(check_number("steps", steps, low=1, integer=True))
    check_number("batch_size", batch_size, low=1, high=X.shape[1], integer=True)
    settings = W.settings(arch, n0, X, head, dtype, optimizer=optimizer, steps=steps,
                          batch_size=batch_size)  # fmt: skip
    max_population = max_population or W.MAX_POPULATION
    spec = W.spec(
        KIND, max_population, widths=widths, log2_lrs=lrs, parametrizations=params,
        optimizer=optimizer, steps=steps, batch_size=batch_size, seeds=seeds, base_width=n0,
        n_examples=X.shape[1], architecture=arch, head=head, dtype=dtype,
    )  # fmt: skip
    every = cells(settings, params, widths, lrs, seeds)
    return _study.Study(KIND, spec, every, f"{__name__}:compute", max_population, source), X, Y


def cells(
    settings: Mapping[str, Any], parametrizations: Sequence[str], widths: Sequence[int],
    log2_lrs: Sequence[float], seeds: Sequence[int],
) -> list[_study.Cell]:  # fmt: skip
    """One cell per member, in the order (parametrization, width, learning rate, seed); its
    config is `settings` (:func:`~initlab.studies._widths.settings`) with the member's
    parametrization, width, ``log2_lr`` and seed; its group, the config without the last two."""
    out = []
    for p in parametrizations:
        for n in widths:
            for x in log2_lrs:
                for s in seeds:
                    config = {**settings, "parametrization": p, "width": int(n),
                              "log2_lr": float(x), "seed": int(s)}  # fmt: skip
                    out.append(_study.cell(KIND, VERSION, config, W.group_key(config, *_MEMBER)))
    return out


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of cells of one group (the executor's ``compute``): trained together as
    one population on the bundled digits of their ``n_examples``."""
    X, Y = _digits(configs[0]["n_examples"])
    return _train_group(configs, X, Y)


@functools.lru_cache(maxsize=2)
def _digits(n_examples: int | None) -> tuple[Array, Array]:
    """:func:`~initlab.studies._widths.digits`, once per worker process."""
    return W.digits(n_examples)


CHUNK_BYTES = 24 << 20
"""Bytes of parameters, gradients and Adam's two moments of the members trained at once: a
group is trained in chunks of consecutive members of at most this size (at least one member;
the fewest chunks, of sizes differing by at most one), so that a step's arrays stay in the
processor's cache between its passes more than they would for the whole group (at width 512,
17 MiB a member: chunks of one). A member's numbers do not depend on the members trained
with it (:mod:`initlab.nn.training`, "Determinism"): the chunks give the same bits. Measured
in BENCHMARKS.md ("The studies beside their peers", fifth pass)."""


def _train_group(configs: Sequence[Mapping[str, Any]], X: Array, Y: Array) -> list[dict]:
    """Train the members `configs` (one group) on `(X, Y)`, by chunks of at most
    :data:`CHUNK_BYTES`; each one's ``{"loss": final training loss, "curve": batch loss
    before each update}`` (+inf where not finite: a diverged member)."""
    c = configs[0]
    arch = Architecture(**c["architecture"])

    def build(members: Sequence[Mapping[str, Any]]):
        seeds = [m["seed"] for m in members]
        return arch.build(X.shape[0], c["width"], Y.shape[0], seeds, c["parametrization"],
                          c["base_width"], c["optimizer"], c["dtype"])  # fmt: skip

    first = build(configs[:1])
    K, per_member = len(configs), 4 * sum(P[0].nbytes for P in first[0].params)
    size = max(1, CHUNK_BYTES // per_member)
    chunks = np.array_split(np.arange(K), -(-K // size))
    out: list[dict] = []
    for at in chunks:
        members = [configs[k] for k in at]
        model, lr_scale = first if len(members) == 1 and at[0] == 0 else build(members)
        lrs = 2.0 ** np.asarray([m["log2_lr"] for m in members], dtype=float)
        _, h = train(
            model, X, Y, learning_rate=lrs, lr_scale=lr_scale, iterations=c["steps"],
            optimizer=c["optimizer"], head=c["head"], batch_size=c["batch_size"],
            batch_order="stream", divergence_factor=None, return_network=False, overwrite=True,
        )  # fmt: skip
        loss, curves = W.finite_or_inf(h.final_cost), W.finite_or_inf(h.costs)
        out += [{"loss": loss[k], "curve": curves[k]} for k in range(len(members))]
    return out
