r"""Learning-rate transfer of a torch model over widths: a small resumable sweep.

For each parametrization, width :math:`n`, learning rate :math:`2^k` and seed, one model is
built by ``builder(parametrization, n, seed)``, trained for ``steps`` steps on
``batches(t)`` with ``optimizer(model, lr)``, and its final loss measured on ``eval_batch``
(the mean over the batch, in eval mode, without gradients). A loss that is not finite, at
any step or at the end, marks the run diverged (its loss is then :math:`+\infty`).

**Storage.** Every run is a row of initlab's sweep store (``DIR/sweep.sqlite``,
:mod:`initlab.results.sweep_store`): its id is the SHA-256 of its canonical config (the
study ``name``, parametrization, base width, width, learning rate, seed, steps and the
caller's ``settings``), its axes are ``data`` = the study's data label, ``hidden`` =
``[n]``, ``activation`` = the model label, ``init`` = ``"torch"``, ``learning_rate`` and
``seed``; ``final_cost`` is the evaluated loss and ``cost_history`` the loss before each
update. Each run is stored in its own transaction as soon as it ends, so a killed study
resumes where it stopped: runs already ``done`` are read back, not trained again.
``initlab results DIR`` lists them like any sweep's.

The members of one width are trained one after the other (each its own module and
optimizer); batching them into one model is left to the caller's ``builder``.

The result is an :class:`initlab.studies.scaling.LrTransfer` (its optimum per width,
refined by a parabola, and :meth:`~initlab.studies.scaling.LrTransfer.shift_per_doubling`
with a bootstrap interval over seeds).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab.results.sweep_store import open_store
from initlab.studies.scaling import LrTransfer
from initlab.torch._apply import _run


def _run_id(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _train(model, opt, batches, loss_fn, steps, eval_batch) -> tuple[float, list, int | None]:
    """Final evaluated loss, the loss before each update, and the step it diverged at."""
    history: list[float] = []
    model.train()
    for t in range(steps):
        x, y = batches(t)
        opt.zero_grad()
        loss = loss_fn(_run(model, x), y)
        history.append(loss.item())
        if not math.isfinite(history[-1]):
            return math.inf, history, t
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = float(loss_fn(_run(model, eval_batch[0]), eval_batch[1]))
    model.train()
    return (final, history, None) if math.isfinite(final) else (math.inf, history, steps)


def lr_transfer(
    builder: Callable[[str, int, int], nn.Module],
    widths: Sequence[int],
    log2_lrs: Sequence[float],
    *,
    optimizer: Callable[[nn.Module, float], torch.optim.Optimizer],
    batches: Callable[[int], tuple[Any, Any]],
    eval_batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    steps: int,
    out: str | Path,
    name: str,
    base_width: int,
    parametrizations: Sequence[str] = ("sp", "mup"),
    seeds: Sequence[int] = (0,),
    data: str = "batches",
    model: str = "torch",
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LrTransfer:
    """Train (or read back) every run of the grid and return the study (module docstring).

    Parameters
    ----------
    builder : callable
        ``builder(parametrization, width, seed) -> nn.Module``, seeded by `seed`.
    optimizer : callable
        ``optimizer(model, lr) -> Optimizer`` (e.g. :func:`initlab.torch.make_optimizer`).
    batches : callable
        ``batches(t) -> (inputs, targets)`` of step ``t`` (the same for every run).
    out : path
        The sweep store's directory (created if needed; resumed if it holds these runs).
    name, data, model : str
        Labels stored with every run (the study, the data, the model).
    base_width : int
        :math:`n_0` of the parametrizations (required; stored in every run's config).
    settings : mapping, optional
        Anything else that decides the numbers (stored in the config and the run ids).
    """
    widths = [int(check_number("widths", w, low=1, integer=True)) for w in widths]
    steps = int(check_number("steps", steps, low=1, integer=True))
    n0 = int(check_number("base_width", base_width, low=1, integer=True))
    if not log2_lrs or not seeds or not parametrizations:
        raise InitlabError("lr_transfer needs at least one learning rate, seed and parametrization")
    grid = [(p, n, float(k), int(s)) for p in parametrizations for n in widths
            for k in log2_lrs for s in seeds]  # fmt: skip
    extra = dict(settings or {})
    runs = []
    for p, n, k, s in grid:
        config = {"study": name, "parametrization": p, "base_width": n0, "width": n,
                  "log2_lr": k, "seed": s, "steps": steps, "model": model, **extra}  # fmt: skip
        axes = {"data": data, "hidden": [n], "activation": model, "init": "torch", "params": {},
                "learning_rate": 2.0**k, "seed": s}  # fmt: skip
        runs.append((_run_id(config), config, axes))
    loss = np.full((len(parametrizations), len(widths), len(log2_lrs), len(seeds)), np.inf)
    curves = np.full((*loss.shape, steps), np.inf)
    with open_store(out, create=True) as store:
        store.add_runs(runs, spec={"study": name, "settings": extra}, source=name)
        done = {r["id"]: r for r in store.rows(histories=["cost_history"]) if r["status"] == "done"}
        seconds: dict[str, float] = {}
        for i, ((p, n, k, s), (rid, _, _)) in enumerate(zip(grid, runs, strict=True)):
            idx = (parametrizations.index(p), widths.index(n), list(log2_lrs).index(k),
                   list(seeds).index(s))  # fmt: skip
            if rid not in done:
                done[rid] = _train_and_store(store, rid, builder, optimizer, batches,
                                             eval_batch, loss_fn, steps, p, n, k, s)  # fmt: skip
                key = f"{p}/{n}"
                seconds[key] = seconds.get(key, 0.0) + done[rid]["seconds"]
            row = done[rid]
            loss[idx] = math.inf if row["diverged"] else row["final_cost"]
            hist = np.asarray(row["cost_history"], dtype=float)
            curves[idx][: hist.size] = np.where(np.isfinite(hist), hist, np.inf)
            if progress is not None:
                progress(i + 1, len(grid))
    return LrTransfer(list(parametrizations), widths, [float(k) for k in log2_lrs],
                      list(seeds), loss, curves, {"study": name, "base_width": n0,
                      "steps": steps, "model": model, "data": data, **extra}, seconds)  # fmt: skip


def _train_and_store(store, rid, builder, optimizer, batches, eval_batch, loss_fn, steps, p, n,
                     k, s) -> dict[str, Any]:  # fmt: skip
    """Train one run, store it in its own transaction, and return its row's numbers."""
    start = time.perf_counter()
    model = builder(p, n, s)
    final, history, diverged_at = _train(model, optimizer(model, 2.0**k), batches, loss_fn,
                                         steps, eval_batch)  # fmt: skip
    seconds = time.perf_counter() - start
    rec = {"final_cost": final if math.isfinite(final) else None, "train_accuracy": None,
           "test_accuracy": None, "test_cost": None, "diverged": diverged_at is not None,
           "diverged_at": diverged_at, "engine": "torch",
           "cost_history": np.asarray(history, dtype=float)}  # fmt: skip
    store.save_done([rid], [rec], seconds=seconds, worker=f"{socket.gethostname()}:{os.getpid()}",
                    finished_at=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    return {**rec, "seconds": seconds}
