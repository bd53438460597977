"""Run an experiment spec: load data, group runs into populations, train, make records.

The flow is ``Spec -> populations -> train -> records``: runs that share an activation
(the data and architecture are shared by the whole spec) are trained as one population,
and each member's record is plain data, written by :mod:`initlab.results.records`. Figures and
reports are drawn from these records only.
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

from initlab import data as _data
from initlab._rng import make_rng
from initlab._validation import InitlabError
from initlab._version import __version__
from initlab.analysis.stats import mean_interval, summarize
from initlab.experiment.spec import Run, Spec
from initlab.init import lsuv as _lsuv
from initlab.init import parametrization as _par
from initlab.init.build import init_parameters
from initlab.nn import activations as _activations
from initlab.nn.network import Network, from_members
from initlab.nn.training import History, train

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in iterations summed over populations."""


@dataclass(frozen=True)
class ExperimentData:
    train: _data.Dataset
    test: _data.Dataset | None


def load_data(spec: Spec) -> ExperimentData:
    """Load the training data and the held-out data (a test file or a split)."""
    d = spec.data
    train_set = _data.load(d["train"], x_key=d["x_key"], y_key=d["y_key"])
    test_set = None
    if d["test"] is not None:
        test_set = _data.load(d["test"], x_key=d["x_key"], y_key=d["y_key"])
        if test_set.n_features != train_set.n_features:
            raise _data.DataError(
                f"data.test has {test_set.n_features} features, but data.train has "
                f"{train_set.n_features}"
            )
    elif d["test_fraction"] is not None:
        train_set, test_set = _data.split(train_set, d["test_fraction"], d["split_seed"])
    return ExperimentData(train_set, test_set)


def _describe(ds: _data.Dataset | None) -> dict[str, Any] | None:
    if ds is None:
        return None
    return {
        "name": ds.name,
        "n_features": ds.n_features,
        "n_examples": ds.n_examples,
        "positives": int(ds.Y.sum()),
        "image_shape": list(ds.image_shape) if ds.image_shape else None,
    }


def _build(
    runs: list[Run], sizes: list[int], X: np.ndarray, model: dict, training: dict
) -> tuple[Network, list]:
    """The population for `runs`, and each member's LSUV report (or None)."""
    dtype = np.dtype(training["dtype"])
    act = activation_of(runs[0].activation, model)
    members, reports = [], []
    for run in runs:
        if run.init == "lsuv":
            net, report = _lsuv.lsuv_network(
                sizes, X, activation=act, seed=run.seed, stream=training["stream"], dtype=dtype,
                **run.params,
            )  # fmt: skip
            members.append(([W[0] for W in net.weights], [b[0] for b in net.biases]))
            reports.append(report.as_dict())
        else:
            rng = make_rng(run.seed, training["stream"])
            members.append(init_parameters(sizes, run.init_spec, rng, dtype))
            reports.append(None)
    net = from_members(sizes, act, members)  # each W_1 is stacked once
    scales = layer_scales(model, sizes)
    if scales is not None:
        net.weights = _par.rescale_weights(net.weights, scales)
    return net, reports


def layer_scales(model: dict[str, Any], sizes: list[int]) -> _par.LayerScales | None:
    """The ``[model]`` parametrization's per-layer factors for gradient descent, or None
    for SP without a base width. The core's ``train`` applies a layer's learning-rate factor
    to its bias too (muP's SGD rule would move hidden biases ``n / n0`` times faster)."""
    p, n0 = model.get("parametrization", "sp"), model.get("base_width")
    if p == "sp" and n0 is None:
        return None
    return _par.layer_scales(p, sizes, n0 if n0 is not None else sizes[1], "sgd")


def activation_of(name: str, model: dict) -> Any:
    """The Activation for `name` with the model's ``slope`` (leaky_relu)."""
    slope = model.get("slope")
    return _activations.get(name, **({} if slope is None else {"slope": slope}))


def train_group(
    runs: list[Run],
    data: ExperimentData,
    model: dict[str, Any],
    training: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Train `runs` (one activation; the hidden sizes of `model`) as one population.

    Parameters
    ----------
    runs : list of Run
        Population members, in order; they must share ``activation``.
    data : ExperimentData
    model, training : dict
        Resolved ``[model]`` and ``[training]`` tables
        (see :data:`initlab.experiment.spec.DEFAULTS`).
    progress : callable, optional
        ``progress(i)`` after iteration i.

    Returns
    -------
    list of dict
        One record per run, in order (see :func:`run`).
    """
    if len({r.activation for r in runs}) != 1:
        raise ValueError("train_group needs runs of one activation")
    X, Y = data.train.X, data.train.Y
    sizes = [X.shape[0], *model["hidden"], 1]
    net, lsuv_reports = _build(runs, sizes, X, model, training)
    recorder, record_at = _recorder(training, net)
    scales = layer_scales(model, sizes)
    optimizer = "gd" if scales is None else {"name": "gd", "layer_lr_scale": scales.lr}
    _, hist = train(
        net,
        X,
        Y,
        learning_rate=[r.learning_rate for r in runs],
        iterations=training["iterations"],
        optimizer=optimizer,
        engine=training["engine"],
        X_test=None if data.test is None else data.test.X,
        Y_test=None if data.test is None else data.test.Y,
        record_at=record_at,
        hooks=[recorder] if recorder is not None else [],
        progress=progress,
        return_network=False,  # records need the history only; skips materializing W_1
    )
    diag = recorder.result() if recorder is not None else None
    x2 = float(np.mean(X * X))
    records = []
    for k, r in enumerate(runs):
        rec = _record(r, k, sizes, hist, data, diag, lsuv_reports[k])
        rec["theory"] = _theory(r, sizes, model, x2) if r.replicate == 0 else None
        records.append(rec)
    return records


def _theory(run: Run, sizes: list[int], model: dict[str, Any], x2: float) -> dict[str, Any]:
    """Mean-field prediction at initialization for `run`, or why there is none."""
    from initlab.analysis import theory as theory

    if run.init == "lsuv":
        return {"available": False, "reason": "LSUV is data-dependent"}
    try:
        pred = theory.predict(
            sizes, run.init_spec, activation_of(run.activation, model), input_second_moment=x2
        )
    except (InitlabError, ArithmeticError) as exc:  # e.g. variances beyond float range
        return {"available": False, "reason": str(exc) or type(exc).__name__}
    return {"available": True, **pred.as_dict()}


def run(
    spec: Spec,
    *,
    data: ExperimentData | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train every run of `spec` and return the results (plain data; see results.records).

    Runs that share an activation are trained as one population (:func:`train_group`).
    """
    data = data or load_data(spec)
    T = spec.training["iterations"]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(spec.runs):
        groups.setdefault(r.activation, []).append(i)
    records: list[dict[str, Any]] = [{}] * len(spec.runs)
    start = time.perf_counter()
    for g, idx in enumerate(groups.values()):

        def tick(i: int, done: int = g * T) -> None:
            if progress is not None and (i % 10 == 9 or i == T - 1):
                progress(done + i + 1, T * len(groups))

        group = train_group([spec.runs[i] for i in idx], data, spec.model, spec.training, tick)
        for i, rec in zip(idx, group, strict=True):
            records[i] = rec
    engines_used = sorted({r["engine"] for r in records})
    return {
        "initlab_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "spec": spec.to_dict(),
        "data": {"train": _describe(data.train), "test": _describe(data.test)},
        "engine": engines_used[0] if len(engines_used) == 1 else engines_used,
        "seconds": time.perf_counter() - start,
        "runs": records,
        "summary": summarize_runs(records),
    }


def _recorder(training: dict[str, Any], net: Network):
    if not training["diagnostics"]:
        return None, ()
    from initlab.analysis.diagnostics import Recorder, record_iterations

    recorder = Recorder(len(net.weights), net.K, activation=net.activation)
    return recorder, record_iterations(training["iterations"])


def _record(
    run: Run,
    k: int,
    sizes: list[int],
    hist: History,
    data: ExperimentData,
    diag: Any,
    lsuv_report: dict | None,
) -> dict[str, Any]:
    diverged = bool(hist.diverged[k])
    train_acc = None if diverged else float(hist.final_accuracy[k])
    rec: dict[str, Any] = {
        "name": run.name,
        "init": run.init,
        "params": run.params,
        "seed": run.seed,
        "replicate": run.replicate,
        "learning_rate": run.learning_rate,
        "activation": run.activation,
        "layer_sizes": sizes,
        "engine": hist.engine,
        "cost_history": hist.costs[k],
        "final_cost": hist.final_cost[k],
        "train_accuracy": train_acc,
        "test_accuracy": None,
        "test_cost": None,
        "diverged": diverged,
        "diverged_at": int(hist.diverged_at[k]) if diverged else None,
        "eval_iterations": hist.eval_iterations,
        "test_cost_history": None,
        "test_accuracy_history": None,
        "lsuv": lsuv_report,
        "diagnostics": diag.member(k) if diag is not None else None,
    }
    if hist.test_costs is not None:
        rec["test_cost_history"] = hist.test_costs[k]
        rec["test_accuracy_history"] = hist.test_accuracy_history[k]
        rec["test_cost"] = hist.test_costs[k, -1]
        rec["test_accuracy"] = None if diverged else float(hist.test_accuracy_history[k, -1])
    return rec


def summarize_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run name: mean and 95% interval over its seeds of the cost at every iteration,
    the final cost and the accuracies (see :mod:`initlab.analysis.stats`)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_name.setdefault(rec["name"], []).append(rec)
    out = []
    for name, recs in by_name.items():
        costs = np.array([np.asarray(r["cost_history"], dtype=float) for r in recs])
        mean, low, high = mean_interval(costs)
        out.append(
            {
                "name": name,
                "init": recs[0]["init"],
                "params": recs[0]["params"],
                "seeds": [r["seed"] for r in recs],
                "diverged": sum(r["diverged"] for r in recs),
                "cost_mean": mean,
                "cost_low": low,
                "cost_high": high,
                "final_cost": summarize([r["final_cost"] for r in recs]),
                "train_accuracy": summarize([r["train_accuracy"] for r in recs]),
                "test_accuracy": summarize([r["test_accuracy"] for r in recs]),
            }
        )
    return out
