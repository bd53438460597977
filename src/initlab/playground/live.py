r"""The training view: a population trained by initlab's loop, its costs streamed as it
trains, cancelled on request.

:func:`prepare` validates a view (the spec through :func:`initlab.specs.spec.parse`,
the data, the caps, the memory check of ``initlab run``) before anything is trained;
:func:`train` then builds the population as :mod:`initlab.execution.runner` does (same
initial parameters, engine and schedule) and trains it with
:func:`initlab.nn.training.train`, whose hook receives the cost of every member at every
``stride``-th step. A hook changes no bit of the run (the loop's general step and its fused
one are held to each other bit for bit, ``tests/test_flat_step.py``), so the numbers are
those ``initlab run`` gives for the copied spec (``tests/test_playground_spec.py``).

Seeds: member (init, seed) for seeds ``seed .. seed + N - 1``, as ``training.seeds``.
Chaos replicas: N copies of seed ``seed`` whose :math:`W_1` is multiplied by
:math:`1 + \epsilon z` elementwise, :math:`z \sim N(0, 1)` from ``default_rng(0)``,
:math:`\epsilon` = :data:`~initlab.playground.settings.REPLICA_EPS` (replica 0 unperturbed),
as ``examples/chaos.py`` does; their spread is what rounding alone does to a chaotic run.
Either way each init's accuracies are summarized by :func:`initlab.analysis.stats.summarize`
(mean and 95% interval over the members).

Events handed to `emit` (plain data): ``start`` (members, steps, engine, the 2-D points),
``costs`` (iterations and each member's cost there, NaN once diverged), then ``done``
(final costs and accuracies, the summary, decision boundaries for 2-D data) or
``cancelled``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis.stats import COST, RATE, summarize
from initlab.execution import runner as _runner
from initlab.execution.population import ExperimentData
from initlab.nn.training import train as _train
from initlab.playground import datasets as _datasets
from initlab.playground import settings as _settings
from initlab.playground.settings import REPLICA_EPS, Settings
from initlab.specs.spec import Run, Spec

Emit = Callable[[dict[str, Any]], None]
GRID = 60
"""Points per axis of a decision boundary's probability grid."""
STREAMED = 150
"""About this many steps of each curve are streamed (every ``stride``-th)."""


class Cancelled(Exception):
    """Raised inside the loop when the page cancelled the training."""


@dataclass(frozen=True)
class Prepared:
    """A validated training view: its spec, data and members."""

    settings: Settings
    spec: Spec
    data: ExperimentData
    runs: list[Run]

    @property
    def replicas(self) -> bool:
        return self.settings["mode"] == "replicas"


def prepare(settings: Settings) -> Prepared:
    """Validate everything (InitlabError, one line) before any training."""
    train, _ = _datasets.source(settings)
    spec = _settings.validate_spec(_settings.spec_dict(settings, train))
    ds = _datasets.load(settings)
    _settings.check_size(settings, ds.n_features, ds.n_examples)
    data = ExperimentData(ds, None)
    runs = spec.runs
    if settings["mode"] == "replicas":
        runs = [dataclasses.replace(r, replicate=j) for r in runs for j in range(settings["seeds"])]
    sizes = _runner.layer_sizes(spec.model, data)
    for key, d in (("input", ds),):
        _runner.targets(d, spec.model.output, data.n_classes, key)
    _runner.check_memory(len(runs), sizes, data, spec.training)
    engine = _runner.population_engine(len(runs), data, spec.model, spec.training)[0]
    if settings["mode"] == "replicas" and engine != "direct":
        raise InitlabError("mode: chaos replicas perturb W_1, which the sample engine never "
                           "stores; use seeds, or fewer input features")  # fmt: skip
    return Prepared(settings, spec, data, runs)


def train(job: Prepared, emit: Emit, cancelled: Callable[[], bool]) -> None:
    """Train `job`'s population, streaming events to `emit`; stop when `cancelled()`."""
    spec, data, runs = job.spec, job.data, job.runs
    net, kwargs, reason = _runner.population(runs, data, spec.model, spec.training)
    if job.replicas:
        _perturb(net.weights[0], [r.replicate for r in runs])
    T = _runner.steps(spec.training, data.train.n_examples)
    stride = max(1, T // STREAMED)
    emit(_start_event(job, T, stride, kwargs["engine"], reason))
    stream = _Stream(emit)

    def progress(i: int) -> None:
        if cancelled():
            raise Cancelled

    try:
        trained, hist = _train(
            net, **kwargs, record_at=range(0, T, stride), hooks=[stream], progress=progress,
            return_network=kwargs["start"] is None,
        )  # fmt: skip
    except Cancelled:
        stream.flush()
        emit({"type": "cancelled"})
        return
    stream.flush()
    emit(_done_event(job, hist, trained, stride))


class _Stream:
    """The hook: each member's cost at the recorded step, sent in batches every 0.1 s."""

    def __init__(self, emit: Emit) -> None:
        self.emit, self.batch, self.sent = emit, [], time.perf_counter()

    def __call__(self, step: Any) -> None:
        costs = np.where(step.alive, step.costs, np.nan).tolist()
        self.batch.append((int(step.iteration), costs))
        if time.perf_counter() - self.sent > 0.1:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            its, costs = zip(*self.batch, strict=True)
            self.emit({"type": "costs", "iterations": list(its), "costs": list(costs)})
        self.batch, self.sent = [], time.perf_counter()


def _perturb(W1: np.ndarray, replicate: list[int]) -> None:
    """``W1[k] *= 1 + eps z`` for every member k whose replicate is not 0 (in place)."""
    rng = np.random.default_rng(0)
    for k, r in enumerate(replicate):
        if r > 0:
            W1[k] *= 1 + REPLICA_EPS * rng.standard_normal(W1[k].shape)


def _start_event(job: Prepared, T: int, stride: int, engine: str, reason: str) -> dict:
    ds = job.data.train
    points = None
    if ds.n_features == 2:
        points = {"x": ds.X[0].tolist(), "y": ds.X[1].tolist(), "label": ds.Y[0].tolist()}
    return {
        "type": "start", "steps": T, "stride": stride, "engine": engine, "engine_reason": reason,
        "data": ds.name, "points": points, "members": [_member(r) for r in job.runs],
        "mode": job.settings["mode"],
    }  # fmt: skip


def _member(r: Run) -> dict[str, Any]:
    return {"name": r.name, "seed": r.seed, "replicate": r.replicate}


def _done_event(job: Prepared, hist: Any, trained: Any, stride: int) -> dict[str, Any]:
    T = hist.costs.shape[1]
    at = sorted({*range(0, T, stride), T - 1})
    members = []
    for k, r in enumerate(job.runs):
        diverged = bool(hist.diverged[k])
        members.append({
            **_member(r), "final_cost": float(hist.final_cost[k]),
            "train_accuracy": None if diverged else float(hist.final_accuracy[k]),
            "diverged": diverged, "cost": hist.costs[k, at].tolist(),
        })  # fmt: skip
    return {
        "type": "done", "iterations": at, "members": members,
        "summary": _summary(members), "seconds": hist.seconds,
        "boundaries": _boundaries(job, trained),
    }  # fmt: skip


def _summary(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per init: mean and 95% interval over its seeds or replicas (analysis.stats)."""
    names = list(dict.fromkeys(m["name"] for m in members))
    out = []
    for name in names:
        mine = [m for m in members if m["name"] == name]
        out.append({
            "name": name, "n": len(mine), "diverged": sum(m["diverged"] for m in mine),
            "final_cost": summarize([m["final_cost"] for m in mine], bounds=COST),
            "train_accuracy": summarize([m["train_accuracy"] for m in mine], bounds=RATE),
        })  # fmt: skip
    return out


def _boundaries(job: Prepared, trained: Any) -> dict[str, Any] | None:
    """The trained networks' P(y = 1) on a grid over the 2-D data (seed or replica 0 of each
    init), or None for other data."""
    X = job.data.train.X
    if trained is None or X.shape[0] != 2:
        return None
    lo, hi = X.min(axis=1) - 0.25, X.max(axis=1) + 0.25
    gx, gy = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    grid = np.stack([np.tile(gx, GRID), np.repeat(gy, GRID)])  # x fastest, row by row
    first = [k for k, r in enumerate(job.runs) if r.replicate == 0]
    with np.errstate(all="ignore"):
        P = trained.predict_proba(grid)[:, 0, :]
    return {
        "x": [float(lo[0]), float(hi[0])], "y": [float(lo[1]), float(hi[1])], "n": GRID,
        "members": first, "p": [np.round(P[k], 3).tolist() for k in first],
    }  # fmt: skip
