"""A trained population's records: one plain-data record per run, the mean-field theory at
initialization beside it, and the per-name summary over seeds.

Records are written by :mod:`initlab.results.records`; figures and reports are drawn from
them only. Used by :mod:`initlab.execution.runner`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab import data as _data
from initlab._validation import InitlabError
from initlab.analysis.stats import COST, RATE, mean_interval, summarize
from initlab.execution.population import ExperimentData
from initlab.nn.network import Network
from initlab.nn.training import History
from initlab.specs.config import TrainingConfig
from initlab.specs.spec import Run


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


def _recorder(training: TrainingConfig, net: Network, T: int):
    """The diagnostics hook of a population whose runs each have ``training.twins`` shadow
    twins after them: only the runs are measured (a twin is a chaos probe, not a result)."""
    if not training.diagnostics:
        return None, ()
    from initlab.analysis.diagnostics import Recorder, record_iterations

    runs = range(0, net.K, training.twins + 1)
    recorder = Recorder(len(net.weights), net.K, activation=net.activation, members=runs)
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


def _twins(hist: History, k: int, n: int, dtype: str = "float64") -> dict[str, Any]:
    """The chaos measurement of the run at member `k` from its `n` twins (members k+1 ..
    k+n; :func:`initlab.analysis.chaos.twin_summary`): ``twins`` (the summary, or None
    without twins), ``chaotic`` (None: not measured) and ``twin_parted_at`` (the earliest
    step a twin parted at, or None)."""
    if n == 0:
        return {"twins": None, "chaotic": None, "twin_parted_at": None}
    from initlab.analysis.chaos import twin_summary

    at = slice(k, k + n + 1)
    s = twin_summary(hist.costs[at], hist.final_cost[at], hist.final_accuracy[at], dtype)
    return {"twins": s, "chaotic": s["chaotic"], "twin_parted_at": s["first_parted_at"]}


def chaos_legend(dtype: str = "float64") -> dict[str, Any]:
    """What results.json says of its chaos marks: the symbol, its legend, and the twins'
    perturbation and tolerance (:mod:`initlab.analysis.chaos`)."""
    from initlab.analysis import chaos

    eps, tol = chaos.twin_eps(dtype), chaos.twin_tol(dtype)
    return {"symbol": chaos.SYMBOL, "legend": chaos.legend(eps, tol), "eps": eps, "tol": tol}


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
                "chaotic": _chaotic_count(recs),
                "cost_mean": mean,
                "cost_low": low,
                "cost_high": high,
                "final_cost": summarize([r["final_cost"] for r in recs], bounds=COST),
                "train_accuracy": summarize([r["train_accuracy"] for r in recs], bounds=RATE),
                "test_accuracy": summarize([r["test_accuracy"] for r in recs], bounds=RATE),
            }
        )
    return out


def _chaotic_count(recs: list[dict[str, Any]]) -> int | None:
    """How many of `recs` are chaotic; None when none was measured (no twins)."""
    measured = [r.get("chaotic") for r in recs if r.get("chaotic") is not None]
    return sum(measured) if measured else None
