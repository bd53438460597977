r"""Runs of a torch module as results that ``initlab report`` draws.

Import :func:`run_record` and :func:`results` from :mod:`initlab.torch`.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from initlab._validation import InitlabError
from initlab._version import __version__
from initlab.execution.runner import summarize_runs


def run_record(
    name: str,
    init: str,
    costs: Sequence[float],
    *,
    learning_rate: float,
    seed: int,
    diagnostics: Mapping[str, Any] | None = None,
    final_cost: float | None = None,
    train_accuracy: float | None = None,
    test_accuracy: float | None = None,
    eval_iterations: Sequence[int] = (),
    test_costs: Sequence[float] | None = None,
    test_accuracies: Sequence[float] | None = None,
    params: Mapping[str, Any] | None = None,
    lsuv: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One run's record in the layout of :func:`initlab.execution.runner.run`'s ``runs`` entries.

    `costs` is the training loss at every iteration (before its update); `final_cost` that
    of the returned model (default: the last of `costs`); `diagnostics` is
    :meth:`Recorder.record`.
    """
    costs = np.asarray(costs, dtype=float)
    diverged = not np.isfinite(costs).all()
    return {
        "name": name, "init": init, "params": dict(params or {}), "seed": seed,
        "replicate": 0, "learning_rate": learning_rate, "activation":
        (diagnostics or {}).get("activation"), "layer_sizes": None, "engine": "torch",
        "cost_history": costs, "final_cost": costs[-1] if final_cost is None else final_cost,
        "train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
        "test_cost": None if test_costs is None else test_costs[-1],
        "diverged": diverged,
        "diverged_at": int(np.flatnonzero(~np.isfinite(costs))[0]) if diverged else None,
        "eval_iterations": list(eval_iterations), "test_cost_history": test_costs,
        "test_accuracy_history": test_accuracies, "lsuv": lsuv,
        "diagnostics": None if diagnostics is None else dict(diagnostics), "theory": None,
    }  # fmt: skip


def results(
    records: Sequence[dict[str, Any]],
    *,
    setup: Sequence[str],
    train: Mapping[str, Any],
    test: Mapping[str, Any] | None = None,
    loss: str = "loss",
) -> dict[str, Any]:
    """Results in the layout ``initlab report`` reads; write them with
    :func:`initlab.results.records.write_results`.

    Parameters
    ----------
    records : sequence of dict
        :func:`run_record` of each run.
    setup : sequence of str
        Lines describing the model, data and training loop, shown at the top of the report.
    train, test : dict
        The data: ``{"name", "n_features", "n_examples"}``.
    loss : str
        The loss's name, for the cost axis of the report's figures.
    """
    if not records:
        raise InitlabError("results need at least one run record")
    return {
        "initlab_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "setup": list(setup),
        "loss": str(loss),
        "spec": None,
        "data": {"train": dict(train), "test": None if test is None else dict(test)},
        "engine": "torch",
        "runs": list(records),
        "summary": summarize_runs(list(records)),
    }
