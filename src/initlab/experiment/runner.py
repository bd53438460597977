"""Run an experiment spec: load data, group runs into populations, train, make records.

The flow is ``Spec -> populations -> train -> records``: runs that share an activation
(the data and architecture are shared by the whole spec) are trained as one population,
and each member's record is plain data, written by :mod:`initlab.results.records`. Figures and
reports are drawn from these records only.

Labels become targets here, at the experiment's boundary (:func:`targets`): integer class
labels ``0 .. C-1`` are the ``(1, m)`` row of the post for a sigmoid output (C = 2), and
one-hot columns ``(C, m)`` for a softmax or linear output of C units. Accuracy is the
head's (:mod:`initlab.nn.losses`): the post's threshold for sigmoid, argmax for softmax.
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

from initlab import data as _data
from initlab._rng import make_rng
from initlab._validation import DataError, InitlabError
from initlab._version import __version__
from initlab.analysis.stats import COST, RATE, mean_interval, summarize
from initlab.experiment import budget as _budget
from initlab.experiment.config import DataConfig, ModelConfig, TrainingConfig
from initlab.experiment.spec import Run, Spec
from initlab.init import lsuv as _lsuv
from initlab.init.build import init_parameters
from initlab.init.parametrization import rescale_weights
from initlab.nn import engines as _engines
from initlab.nn.batches import Schedule
from initlab.nn.network import Network, from_members
from initlab.nn.optimizers import get_optimizer
from initlab.nn.start import SampleStart
from initlab.nn.training import History, train

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in iterations summed over populations."""


@dataclass(frozen=True)
class ExperimentData:
    """The training data and the held-out data; ``n_classes`` covers both."""

    train: _data.Dataset
    test: _data.Dataset | None

    @property
    def n_classes(self) -> int:
        return max(self.train.n_classes, self.test.n_classes if self.test else 0)


def load_data(spec: Spec | DataConfig) -> ExperimentData:
    """Load the training data and the held-out data (a test file or a split).

    Raises
    ------
    DataError
        Naming the file if the training data hold a single class, or the test data have
        another number of features.
    """
    d = spec.data if isinstance(spec, Spec) else spec
    train_set = _data.load(d.train, x_key=d.x_key, y_key=d.y_key)
    present = np.unique(train_set.Y)
    if present.size < 2:
        raise DataError(
            f"data.train: {train_set.name} holds a single class (label {present[0]:g}, "
            f"{train_set.n_examples} examples); training needs examples of at least two classes"
        )
    test_set = None
    if d.test is not None:
        test_set = _data.load(d.test, x_key=d.x_key, y_key=d.y_key)
        if test_set.n_features != train_set.n_features:
            raise DataError(
                f"data.test has {test_set.n_features} features, but data.train has "
                f"{train_set.n_features}"
            )
    elif d.test_fraction is not None:
        train_set, test_set = _data.split(train_set, d.test_fraction, d.split_seed)
    return ExperimentData(train_set, test_set)


def n_outputs(output: str, n_classes: int) -> int:
    """Output units: 1 for sigmoid (binary labels), one per class for softmax and linear."""
    return 1 if output == "sigmoid" else n_classes


def targets(ds: _data.Dataset, output: str, n_classes: int, key: str = "data.train") -> np.ndarray:
    """`ds`'s labels as the targets of `output`: ``(1, m)`` for sigmoid, one-hot ``(C, m)``.

    Raises
    ------
    DataError
        If a sigmoid output is asked for labels other than 0 and 1.
    """
    labels = ds.Y[0].astype(np.int64)
    if output == "sigmoid":
        if n_classes > 2:
            raise DataError(
                f"model.output = 'sigmoid' is for two classes (labels 0 and 1), but {key} "
                f"({ds.name}) has labels 0..{n_classes - 1}: use output = 'softmax'"
            )
        return ds.Y
    one_hot = np.zeros((n_classes, labels.size))
    one_hot[labels, np.arange(labels.size)] = 1.0
    return one_hot


def _describe(ds: _data.Dataset | None) -> dict[str, Any] | None:
    if ds is None:
        return None
    return {
        "name": ds.name,
        "n_features": ds.n_features,
        "n_examples": ds.n_examples,
        "positives": int((ds.Y == 1).sum()),
        "n_classes": ds.n_classes,
        "class_counts": ds.class_counts(),
        "image_shape": list(ds.image_shape) if ds.image_shape else None,
    }


def _build(
    runs: list[Run],
    sizes: list[int],
    X: np.ndarray,
    model: ModelConfig,
    training: TrainingConfig,
    start: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> tuple[Network, list, SampleStart | None]:
    """The population for `runs`, each member's LSUV report (or None), and, when `start`
    gives the sample engine's ``(X, X_test)``, its :class:`SampleStart`: each member's
    :math:`W_1(0)` is then read once as it is drawn and dropped, never stacked. Under a width
    parametrization each member's ``W_l`` is multiplied by its init factor (1.0 at the base
    width: SP's weights bit for bit)."""
    dtype = np.dtype(training.dtype)
    act = runs[0].activation_spec.build()
    scales = model.layer_scales(sizes, training.optimizer.name)
    members, reports = [], []

    def firsts():
        for run in runs:
            if run.init == "lsuv":
                net, report = _lsuv.lsuv_network(
                    sizes, X, activation=act, seed=run.seed, stream=training.stream,
                    dtype=dtype, **run.params,
                )  # fmt: skip
                Ws, bs = [W[0] for W in net.weights], [b[0] for b in net.biases]
                reports.append(report.as_dict())
            else:
                Ws, bs = init_parameters(sizes, run.init_spec, make_rng(run.seed, training.stream),
                                         dtype)  # fmt: skip
                reports.append(None)
            Ws = Ws if scales is None else rescale_weights(Ws, scales)
            members.append((Ws if start is None else [None, *Ws[1:]], bs))
            yield Ws[0]

    if start is None:
        list(firsts())
        return from_members(sizes, act, members, model.output), reports, None  # W_1 stacked once
    first = SampleStart(firsts(), start[0], _engines.diagnostic_columns(sizes[0]), start[1])
    stack = lambda l, i: np.stack([m[i][l] for m in members])  # noqa: E731
    weights = [first.placeholder(), *(stack(l, 0) for l in range(1, len(sizes) - 1))]
    biases = [stack(l, 1) for l in range(len(sizes) - 1)]
    return Network(sizes, act, weights, biases, model.output), reports, first


def _start_data(
    K: int, sizes: list[int], data: ExperimentData, training: TrainingConfig
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(X, X_test)`` in the network's dtype when the run trains on the sample engine (so
    :math:`W_1(0)` need not be stacked), else None."""
    X, m = data.train.X, data.train.n_examples
    sched = Schedule(m, training.iterations if training.epochs is None else None,
                     training.epochs, training.batch_size, training.shuffle_seed)  # fmt: skip
    opt = get_optimizer(training.optimizer.as_dict())
    name, _ = _engines.choose(training.engine, sizes[0], m, K, sizes[1], sched.steps,
                              batch=sched.batch_size, optimizer=opt)  # fmt: skip
    if name != "sample":
        return None
    as_net = lambda A: np.ascontiguousarray(A.astype(training.dtype, copy=False))  # noqa: E731
    return as_net(X), None if data.test is None else as_net(data.test.X)


def steps(training: TrainingConfig, m: int) -> int:
    """Optimizer steps of a run on `m` examples (:class:`initlab.nn.batches.Schedule`)."""
    epochs = training.epochs
    iterations = training.iterations if epochs is None else None
    return Schedule(m, iterations, epochs, training.batch_size, training.shuffle_seed).steps


def check_memory(K: int, sizes: list[int], data: ExperimentData, training: TrainingConfig) -> None:
    """Refuse (:class:`InitlabError`) a population whose arrays would not fit in memory."""
    need = _budget.estimate_bytes(
        sizes, K, m=data.train.n_examples, m_test=data.test.n_examples if data.test else 0,
        batch=training.batch_size, steps=steps(training, data.train.n_examples),
        itemsize=np.dtype(training.dtype).itemsize, optimizer=training.optimizer.name,
        engine=training.engine,
    )  # fmt: skip
    widths = " x ".join(map(str, sizes))
    _budget.check_fits(need, f"a population of {K} network{'s' if K > 1 else ''} {widths}")


def train_group(
    runs: list[Run],
    data: ExperimentData,
    model: ModelConfig,
    training: TrainingConfig,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Train `runs` (one activation; the hidden sizes of `model`) as one population.

    Parameters
    ----------
    runs : list of Run
        Population members, in order; they must share their activation.
    data : ExperimentData
    model, training : ModelConfig, TrainingConfig
        The validated ``[model]`` and ``[training]`` tables
        (see :mod:`initlab.experiment.config`).
    progress : callable, optional
        ``progress(i)`` after step i.

    Returns
    -------
    list of dict
        One record per run, in order (see :func:`run`).
    """
    if len({r.population_key for r in runs}) != 1:
        raise ValueError("train_group needs runs of one activation")
    with threadpool_limits(limits=1, user_api="blas"):  # LSUV too: same bits at any count
        return _train_group(runs, data, model, training, progress)


def _train_group(
    runs: list[Run],
    data: ExperimentData,
    model: ModelConfig,
    training: TrainingConfig,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    X = data.train.X
    C = data.n_classes
    Y = targets(data.train, model.output, C)
    sizes = [X.shape[0], *model.hidden, n_outputs(model.output, C)]
    check_memory(len(runs), sizes, data, training)
    start = _start_data(len(runs), sizes, data, training)
    net, lsuv_reports, first = _build(runs, sizes, X, model, training, start)
    recorder, record_at = _recorder(training, net, steps(training, X.shape[1]))
    test = data.test
    _, hist = train(
        net,
        X if start is None else start[0],
        Y,
        learning_rate=[r.learning_rate for r in runs],
        **_schedule(model, training, sizes),
        X_test=None if test is None else test.X if start is None else start[1],
        Y_test=None if test is None else targets(test, model.output, C, "data.test"),
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
    for k, r in enumerate(runs):
        rec = _record(r, k, sizes, hist, data, diag, lsuv_reports[k])
        rec["theory"] = _theory(r, sizes, x2, scaled) if r.replicate == 0 else None
        records.append(rec)
    return records


def _schedule(model: ModelConfig, training: TrainingConfig, sizes: list[int]) -> dict[str, Any]:
    """Keyword arguments of :func:`initlab.nn.training.train` beyond the data and rates."""
    kw: dict[str, Any] = {
        "head": model.output,
        "engine": training.engine,
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


def _theory(run: Run, sizes: list[int], x2: float, scaled: bool = False) -> dict[str, Any]:
    """Mean-field prediction at initialization for `run`, or why there is none (`scaled`:
    a width parametrization rescaled the initializer's weights)."""
    from initlab.analysis import theory as theory

    if run.init == "lsuv":
        return {"available": False, "reason": "LSUV is data-dependent"}
    if scaled:
        return {"available": False, "reason": "the parametrization rescaled the init's weights"}
    act = run.activation_spec.build()
    try:
        pred = theory.predict(sizes, run.init_spec, act, input_second_moment=x2)
    except (InitlabError, ArithmeticError) as exc:  # e.g. variances beyond float range
        return {"available": False, "reason": str(exc) or type(exc).__name__}
    scales = _depth_scales(pred, act)
    jac = _jacobian_moments(run, pred, act) if scales is not None else None
    return {"available": True, **pred.as_dict(), "depth_scales": scales, "jacobian": jac}


_NOT_IID = ("sparse", "eye", "identity")  # structured weights: no free-probability law here


def _jacobian_moments(run: Run, pred: Any, act: Any) -> dict[str, Any] | None:
    """Free-probability mean and variance of the squared singular values of the Jacobian
    of the hidden-to-hidden layers (W_2 .. W_{L-1}) at the variance fixed point, for i.i.d.
    (s1 = -1) or orthogonal (s1 = 0) weights (see analysis.jacobian); None for one hidden
    layer or structured weights."""
    from initlab.analysis.jacobian import spectrum_moments

    depth = len(pred.sigma_w2) - 2
    if depth < 1 or run.init in _NOT_IID:
        return None
    weights = "orthogonal" if run.init == "orthogonal" else "gaussian"
    w2 = float(np.mean(pred.sigma_w2[1:-1]))
    try:
        m = spectrum_moments(act, w2, pred.sigma_b2, depth, weights)
    except (InitlabError, ArithmeticError):
        return None
    return {"depth": depth, "weights": weights, "mean": m.mean, "variance": m.variance}


def _depth_scales(pred: Any, act: Any) -> dict[str, Any] | None:
    """q*, chi_1, c*, chi_c, xi_q, xi_c at the hidden-to-hidden sigma_w^2 (mean over W_2 ..
    W_{L-1}; W_1's if there are none) and sigma_b^2 = 0 (see analysis.correlation); None
    where they cannot be computed."""
    from initlab.analysis.correlation import depth_scales

    w2 = pred.sigma_w2[1:-1] if len(pred.sigma_w2) > 2 else pred.sigma_w2[:1]
    try:
        return depth_scales(act, float(np.mean(w2)), pred.sigma_b2).as_dict()
    except (InitlabError, ArithmeticError):  # e.g. sigma_w^2 beyond float range
        return None


def preflight(spec: Spec, data: ExperimentData) -> dict[tuple, list[int]]:
    """Check, before anything is trained, that the labels suit the output head and that
    every population fits in memory; return the populations (run indices by population key).
    """
    C = data.n_classes
    for key, ds in (("data.train", data.train), ("data.test", data.test)):
        if ds is not None:  # e.g. a sigmoid output on 10 classes: refused before training
            targets(ds, spec.model.output, ds.n_classes, key)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(spec.runs):
        groups.setdefault(r.population_key, []).append(i)
    sizes = [data.train.n_features, *spec.model.hidden, n_outputs(spec.model.output, C)]
    for idx in groups.values():
        check_memory(len(idx), sizes, data, spec.training)
    return groups


def run(
    spec: Spec,
    *,
    data: ExperimentData | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train every run of `spec` and return the results (plain data; see results.records).

    Runs that share an activation are trained as one population (:func:`train_group`),
    with one BLAS thread (LSUV's products included), so the results are the same bits
    whatever the process's BLAS thread count. Every population is checked to fit in memory
    before any is trained.
    """
    data = data or load_data(spec)
    groups = preflight(spec, data)
    C, T = data.n_classes, steps(spec.training, data.train.n_examples)
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
        "n_classes": C,
        "engine": engines_used[0] if len(engines_used) == 1 else engines_used,
        "engine_reason": records[0].get("engine_reason"),
        "seconds": time.perf_counter() - start,
        "runs": records,
        "summary": summarize_runs(records),
    }


def _recorder(training: TrainingConfig, net: Network, T: int):
    if not training.diagnostics:
        return None, ()
    from initlab.analysis.diagnostics import Recorder, record_iterations

    recorder = Recorder(len(net.weights), net.K, activation=net.activation)
    return recorder, record_iterations(T)


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
    train_acc = None if diverged else _finite(hist.final_accuracy[k])
    rec: dict[str, Any] = {
        "name": run.name,
        "init": run.init,
        "params": run.params,
        "seed": run.seed,
        "replicate": run.replicate,
        "learning_rate": run.learning_rate,
        "activation": run.activation,
        "activation_params": run.activation_params,
        "layer_sizes": sizes,
        "output": hist.head,
        "optimizer": hist.optimizer,
        "engine": hist.engine,
        "engine_reason": hist.engine_reason,
        "fp_warnings": hist.warnings,
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
        acc = hist.test_accuracy_history[k, -1]
        rec["test_accuracy"] = None if diverged else _finite(acc)
    return rec


def _finite(x: float) -> float | None:
    """`x` as a float, or None where the head has no accuracy (linear: NaN)."""
    return float(x) if np.isfinite(x) else None


def summarize_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run name: mean and 95% interval over its seeds of the cost at every iteration,
    the final cost and the accuracies (see :mod:`initlab.analysis.stats`)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_name.setdefault(rec["name"], []).append(rec)
    out = []
    for name, recs in by_name.items():
        costs = np.array([np.asarray(r["cost_history"], dtype=float) for r in recs])
        mean, low, high = mean_interval(costs, bounds=COST)
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
                "final_cost": summarize([r["final_cost"] for r in recs], bounds=COST),
                "train_accuracy": summarize([r["train_accuracy"] for r in recs], bounds=RATE),
                "test_accuracy": summarize([r["test_accuracy"] for r in recs], bounds=RATE),
            }
        )
    return out
