"""Run an experiment spec: load data, group runs into populations, train, make records.

The flow is ``Spec -> populations -> train -> records``: runs that share an activation
(the data and architecture are shared by the whole spec) are trained as one population,
and each member's record is plain data (:mod:`initlab.execution.records`), written by
:mod:`initlab.results.records`. Figures and reports are drawn from these records only. A
population's initial parameters are built in :mod:`initlab.execution.population`.

Labels become targets at the experiment's boundary
(:func:`initlab.execution.population.targets`). Accuracy is the head's
(:mod:`initlab.nn.losses`): the post's threshold for sigmoid, argmax for softmax.
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._validation import InitlabError
from initlab._version import __version__
from initlab.execution import budget as _budget
from initlab.execution import threads as _threads
from initlab.execution.population import (
    ExperimentData,
    _build,
    _engine,
    _start_data,
    layer_sizes,
    load_data,
    n_outputs,
    targets,
)
from initlab.execution.records import (
    _describe,
    _record,
    _recorder,
    _theory,
    _twins,
    chaos_legend,
    summarize_runs,
)
from initlab.nn import engines as _engines
from initlab.nn.batches import Schedule
from initlab.nn.network import Network
from initlab.nn.training import train
from initlab.results.provenance import provenance
from initlab.specs.config import ModelConfig, TrainingConfig
from initlab.specs.spec import Run, Spec

__all__ = [
    "ExperimentData",
    "Progress",
    "check_memory",
    "layer_rates",
    "load_data",
    "n_outputs",
    "preflight",
    "run",
    "steps",
    "summarize_runs",
    "targets",
    "train_group",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in iterations summed over populations."""


def steps(training: TrainingConfig, m: int) -> int:
    """Optimizer steps of a run on `m` examples (:class:`initlab.nn.batches.Schedule`)."""
    epochs = training.epochs
    iterations = training.iterations if epochs is None else None
    return Schedule(m, iterations, epochs, training.batch_size, training.shuffle_seed).steps


def check_memory(
    K: int, sizes: list[int], data: ExperimentData, training: TrainingConfig, chunks: int = 1
) -> None:
    """Refuse (:class:`InitlabError`) a population of K runs whose arrays would not fit in
    memory when trained as `chunks` chunks at once (each chunk has its own Gram matrix on
    the sample engine; the rest is per member, each run's shadow twins included)."""
    twins = K * training.twins
    need = _budget.estimate_bytes(
        sizes, K + twins, m=data.train.n_examples, m_test=data.test.n_examples if data.test else 0,
        batch=training.batch_size, steps=steps(training, data.train.n_examples),
        itemsize=np.dtype(training.dtype).itemsize, optimizer=training.optimizer.name,
        engine=training.engine, populations=chunks,
    )  # fmt: skip
    widths = " x ".join(map(str, sizes))
    also = f"with {twins} shadow twin{'s' if twins > 1 else ''} (training.twins), " if twins else ""
    _budget.check_fits(need, f"{also}a population of {K} network{'s' if K > 1 else ''} {widths}")


def train_group(
    runs: list[Run],
    data: ExperimentData,
    model: ModelConfig,
    training: TrainingConfig,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = 1,
) -> list[dict[str, Any]]:
    """Train `runs` (one activation; the hidden sizes of `model`) as one population.

    Parameters
    ----------
    runs : list of Run
        Population members, in order; they must share their activation.
    data : ExperimentData
    model, training : ModelConfig, TrainingConfig
        The validated ``[model]`` and ``[training]`` tables
        (see :mod:`initlab.specs.config`).
    progress : callable, optional
        ``progress(i)`` once every member has finished step i.
    jobs : int or None
        Threads the population may be trained on, as contiguous chunks of at least
        :data:`~initlab.execution.threads.MIN_CHUNK` members
        (:mod:`initlab.execution.threads`); None: the usable cores. The records do not
        depend on it. Default 1: a sweep's workers are already one process per core.

    Returns
    -------
    list of dict
        One record per run, in order (see :func:`run`).
    """
    if len({r.population_key for r in runs}) != 1:
        raise ValueError("train_group needs runs of one activation")
    return _train_group(runs, data, model, training, progress, _threads.resolve_jobs(jobs))[0]


def fitting_parts(
    K: int, sizes: list[int], data: ExperimentData, training: TrainingConfig, jobs: int
) -> list[range]:
    """The chunks a population of K is trained in: as many as `jobs` threads allow
    (:func:`~initlab.execution.threads.split`) and memory holds. Each chunk in flight has
    its own Gram matrix on the sample engine, so fewer chunks are used when more would not
    fit; :class:`InitlabError` (before any training) when even one does not."""
    for chunks in range(len(_threads.split(K, jobs)), 0, -1):
        try:
            check_memory(K, sizes, data, training, chunks=chunks)
        except InitlabError:
            if chunks == 1:
                raise
            continue
        return _threads.split(K, chunks)
    raise AssertionError("unreachable: split gives at least one chunk")


def _train_group(
    runs: list[Run],
    data: ExperimentData,
    model: ModelConfig,
    training: TrainingConfig,
    progress: Progress | None,
    jobs: int,
) -> tuple[list[dict[str, Any]], int]:
    """The records and the number of chunks: everything that depends on K resolved once
    (memory, engine), then the chunks, one BLAS thread each (LSUV included: same bits at
    any count; the limit is process-global, so it is set here, before any thread starts)."""
    C, sizes = data.n_classes, layer_sizes(model, data)
    parts = fitting_parts(len(runs), sizes, data, training, jobs)
    engine, reason = _engine(len(runs), sizes, data, training)
    shared = _Shared(sizes, engine, _start_data(engine, data, training),
                     targets(data.train, model.output, C),
                     None if data.test is None else targets(data.test, model.output, C,
                                                            "data.test"))  # fmt: skip
    chunk = lambda part, tick: _train_chunk(runs[part.start : part.stop], data, model,  # noqa: E731
                                            training, shared, tick)  # fmt: skip
    # Drawn once here, not by each chunk on the cache's miss (engines.diagnostic_columns).
    _engines.diagnostic_columns(sizes[0])
    with threadpool_limits(limits=1, user_api="blas"):
        done = _threads.map_chunks(chunk, parts, progress)
    steps: dict[str, set[int]] = {}
    for _, warned in done:
        for kind, at in warned.items():
            steps.setdefault(kind, set()).update(at)
    records = [rec for recs, _ in done for rec in recs]
    for rec in records:  # the population's, not a chunk's
        rec["engine_reason"] = reason
        rec["fp_warnings"] = {kind: len(at) for kind, at in sorted(steps.items())}
    return records, len(parts)


@dataclass(frozen=True)
class _Shared:
    """What every chunk of a population shares: layer sizes, the engine resolved for the
    whole population, the sample engine's start data, and the targets."""

    sizes: list[int]
    engine: str
    start: tuple[np.ndarray, np.ndarray | None] | None
    Y: np.ndarray
    Y_test: np.ndarray | None


def _train_chunk(
    runs: list[Run],
    data: ExperimentData,
    model: ModelConfig,
    training: TrainingConfig,
    shared: _Shared,
    progress: Progress | None,
) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Records of `runs` trained as a population on `shared.engine`, and the steps of its
    floating-point events (:attr:`~initlab.nn.history.History.warning_steps`)."""
    X, sizes, start, n = data.train.X, shared.sizes, shared.start, training.twins
    net, lsuv_reports, first = _build(runs, sizes, X, model, training, start, twins=n)
    recorder, record_at = _recorder(training, net, steps(training, X.shape[1]))
    test = data.test
    _, hist = train(
        net,
        X if start is None else start[0],
        shared.Y,
        learning_rate=[r.learning_rate for r in runs for _ in range(n + 1)],
        **_schedule(model, training, sizes, shared.engine),
        X_test=None if test is None else test.X if start is None else start[1],
        Y_test=shared.Y_test,
        record_at=record_at,
        hooks=[recorder] if recorder is not None else [],
        progress=progress,
        return_network=False,  # records need the history only; skips materializing W_1
        start=first,
    )
    diag = recorder.result() if recorder is not None else None
    x2 = float(np.vdot(X, X)) / X.size  # mean of x^2, no X-sized temporary
    scales = model.layer_scales(sizes, training.optimizer.name)
    scaled = scales is not None and any(f != 1.0 for f in scales.init)
    records = []
    for i, r in enumerate(runs):
        k = i * (n + 1)  # the run's member; its twins follow it (population._build)
        rec = _record(r, k, sizes, hist, data, diag, lsuv_reports[i])
        rec["theory"] = _theory(r, sizes, x2, scaled) if r.replicate == 0 else None
        rec.update(_twins(hist, k, n, training.dtype))
        records.append(rec)
    return records, hist.warning_steps


def population_engine(
    K: int, data: ExperimentData, model: ModelConfig, training: TrainingConfig
) -> tuple[str, str]:
    """The engine ``initlab run`` trains a population of `K` members on, and why."""
    return _engine(K, layer_sizes(model, data), data, training)


def population(
    runs: list[Run], data: ExperimentData, model: ModelConfig, training: TrainingConfig
) -> tuple[Network, dict[str, Any], str]:
    """The untrained population of `runs` as ``initlab run`` builds it (same initial
    parameters and engine), the keyword arguments of :func:`initlab.nn.training.train` that
    train it as ``initlab run`` does (data, targets, rates, schedule, ``start``), and why
    that engine: for callers that train it themselves with their own hooks (the playground).
    The caller passes ``return_network=kwargs["start"] is None`` to get the trained network.
    """
    sizes = layer_sizes(model, data)
    engine, reason = _engine(len(runs), sizes, data, training)
    start = _start_data(engine, data, training)
    net, _, first = _build(runs, sizes, data.train.X, model, training, start)
    kwargs = {
        "X": data.train.X if start is None else start[0],
        "Y": targets(data.train, model.output, data.n_classes),
        "learning_rate": [r.learning_rate for r in runs],
        "start": first,
        **_schedule(model, training, sizes, engine),
    }
    return net, kwargs, reason


def _schedule(
    model: ModelConfig, training: TrainingConfig, sizes: list[int], engine: str
) -> dict[str, Any]:
    """Keyword arguments of :func:`initlab.nn.training.train` beyond the data and rates."""
    kw: dict[str, Any] = {
        "head": model.output,
        "engine": engine,
        "optimizer": layer_rates(model, training, sizes),
        "batch_size": training.batch_size,
        "shuffle_seed": training.shuffle_seed,
    }
    if training.epochs is not None:
        kw["epochs"] = training.epochs
    else:
        kw["iterations"] = training.iterations
    return kw


def layer_rates(model: ModelConfig, training: TrainingConfig, sizes: list[int]) -> dict:
    r"""The optimizer's table with the parametrization's per-layer factors (SGD's column,
    or Adam's for adam and adamw): ``layer_lr_scale`` for each ``W_l`` and ``bias_lr_scale``
    for each ``b_l`` (:class:`initlab.init.parametrization.LayerScales`), multiplying any
    the optimizer has. SP leaves the table as it is.
    """
    table = training.optimizer.as_dict()
    scales = model.layer_scales(sizes, training.optimizer.name)
    if scales is None:
        return table
    mine = table.get("layer_lr_scale") or [1.0] * len(scales.lr)
    bias = table.get("bias_lr_scale") or mine
    if not len(mine) == len(bias) == len(scales.lr):
        raise InitlabError(
            f"training.optimizer's layer factors have {len(mine)} entries; the network has "
            f"{len(scales.lr)} weight layers"
        )
    table["layer_lr_scale"] = [a * b for a, b in zip(mine, scales.lr, strict=True)]
    table["bias_lr_scale"] = [a * b for a, b in zip(bias, scales.bias_lr, strict=True)]
    return table


def preflight(spec: Spec, data: ExperimentData, jobs: int | None = 1) -> dict[tuple, list[int]]:
    """Check, before anything is trained, that the labels suit the output head and that
    every population fits in memory (as the chunks `jobs` threads train at once); return
    the populations (run indices by population key).
    """
    for key, ds in (("data.train", data.train), ("data.test", data.test)):
        if ds is not None:  # e.g. a sigmoid output on 10 classes: refused before training
            targets(ds, spec.model.output, ds.n_classes, key)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(spec.runs):
        groups.setdefault(r.population_key, []).append(i)
    sizes = layer_sizes(spec.model, data)
    for idx in groups.values():
        fitting_parts(len(idx), sizes, data, spec.training, _threads.resolve_jobs(jobs))
    return groups


def run(
    spec: Spec,
    *,
    data: ExperimentData | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> dict[str, Any]:
    """Train every run of `spec` and return the results (plain data; see results.records).

    Runs that share an activation are trained as one population (:func:`train_group`),
    with one BLAS thread (LSUV's products included), so the results are the same bits
    whatever the process's BLAS thread count. A population of at least
    ``2 * MIN_CHUNK`` members is split into chunks trained on up to `jobs` threads
    (None: the usable cores; :mod:`initlab.execution.threads`), with the same bits
    whatever `jobs`; ``machine.training_threads`` says how many were used. Every
    population is checked to fit in memory before any is trained.
    """
    jobs = _threads.resolve_jobs(jobs)
    data = data or load_data(spec)
    groups = preflight(spec, data, jobs)
    C, T = data.n_classes, steps(spec.training, data.train.n_examples)
    records: list[dict[str, Any]] = [{}] * len(spec.runs)
    start, threads = time.perf_counter(), 1
    for g, idx in enumerate(groups.values()):

        def tick(i: int, done: int = g * T) -> None:
            if progress is not None and (i % 10 == 9 or i == T - 1):
                progress(done + i + 1, T * len(groups))

        runs = [spec.runs[i] for i in idx]
        group, chunks = _train_group(runs, data, spec.model, spec.training, tick, jobs)
        threads = max(threads, chunks)
        for i, rec in zip(idx, group, strict=True):
            records[i] = rec
    engines_used = sorted({r["engine"] for r in records})
    return {
        "initlab_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "training_threads": threads,
        },
        "provenance": provenance(dtype=spec.training.dtype),
        "chaos": chaos_legend(spec.training.dtype) if spec.training.twins else None,
        "spec": spec.to_dict(),
        "data": {"train": _describe(data.train), "test": _describe(data.test)},
        "n_classes": C,
        "engine": engines_used[0] if len(engines_used) == 1 else engines_used,
        "engine_reason": records[0].get("engine_reason"),
        "seconds": time.perf_counter() - start,
        "runs": records,
        "summary": summarize_runs(records),
    }
