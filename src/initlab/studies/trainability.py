r"""Trainability maps: which (depth, :math:`\sigma_w^2`) networks a real task can train.

Schoenholz et al. (2017, "Deep information propagation", ICLR; Figs. 5 and 6) trained tanh
networks of depth up to 300 on MNIST and CIFAR-10 with :math:`W \sim N(0, \sigma_w^2/N)`,
:math:`b \sim N(0, 0.05)`, and found that a network trains only where its depth is below
about :math:`6\,\xi_c(\sigma_w^2)`, six times the depth scale of the correlation map
(:func:`initlab.analysis.correlation.depth_scales`), which diverges at the critical line.

Here every depth :math:`L` (hidden layers of width :math:`N`) is **one population**: the
members are every :math:`\sigma_w^2` of the grid times ``seeds`` initial draws, trained
together by :func:`initlab.nn.training.train` on one task for ``steps`` mini-batch steps.
Member :math:`(\sigma_w^2, s)` draws its weights :math:`W_l \sim N(0, \sigma_w^2/n_{l-1})`
and then its biases :math:`b_l \sim N(0, \sigma_b^2)` from seed ``child_seeds(seed,
seeds)[s]`` (so all :math:`\sigma_w^2` share their standard-normal draws, common random
numbers), and its numbers never depend on its population: training one member alone gives
the same bits (``tests/test_trainability.py``).

Storage, resumable: a map is a study (:mod:`initlab.execution.study`) whose cells are the
members :math:`(L, \sigma_w^2, s)`, grouped by depth (a group is trained as one population,
or split across workers: the bits are the same), plus one cell holding the theory's curve
:math:`\xi_c(\sigma_w^2)`; all are stored in ``DIR/sweep.sqlite`` as each population
finishes, by the executor sweeps use (Ctrl-C, kill -9 and a full disk lose nothing stored;
local worker processes or a Dask cluster). A rerun computes only the cells not stored; a
different configuration is refused. The map's spec (:func:`spec`) is a TOML that
``initlab sweep SPEC --out DIR`` runs to the same bits. Figures
(:func:`initlab.report.trainability.plot_trainability`) read the store only
(:func:`read`). A directory in the layout of earlier releases (``trainability.json``,
``depth-<L>.json``) is refused by name.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis import correlation as _correlation
from initlab.execution import study as _study
from initlab.execution.executor import Progress
from initlab.results.sweep_store import STORE_FILE
from initlab.specs.sweep_spec import canonical
from initlab.studies._studyio import config_from_table, config_spec
from initlab.studies._trainnets import (
    DTYPES,
    TASKS,
    TrainabilityConfig,
    _curve_grid,
    _train,
    load_task,
    population,
    theory_curve,
    train_depth,
)

__all__ = [
    "DTYPES", "KIND", "TASKS", "TrainabilityConfig", "cells", "compute", "from_spec",
    "load_task", "population", "read", "run", "spec", "stored", "study", "summary",
    "theory_curve", "train_depth",
]  # fmt: skip

log = logging.getLogger(__name__)
_COMMAND = "initlab theory trainability --out DIR"
KIND = "trainability"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
MAX_POPULATION = 256
"""Members trained together at most (a depth's members are split beyond it)."""
OLD_FILE = "trainability.json"
"""Of the layout before the store (refused by name)."""


# --------------------------------------------------------------------------- the study

_GRID = ("depths", "sigma_w2", "seeds", "multiple")
"""Config fields that are not part of a member cell's config (the grid, the curve's)."""


def cells(config: TrainabilityConfig) -> list[_study.Cell]:
    r"""The map's cells: one per member :math:`(L, \sigma_w^2, s)` (config: the depth,
    :math:`\sigma_w^2`, the draw and every setting but the grid; group: all but
    :math:`\sigma_w^2` and the draw, so one depth), and one for the curve's :math:`\xi_c`."""
    common = {k: v for k, v in config.as_dict().items() if k not in _GRID}
    out = []
    for depth in config.depths:
        group = canonical({**common, "depth": depth})
        for w2 in config.sigma_w2:
            for s in range(config.seeds):
                member = {**common, "depth": depth, "sigma_w2": w2, "draw": s}
                out.append(_study.cell(KIND, VERSION, member, group))
    curve = {"curve": {"activation": config.activation, "sigma_b2": config.sigma_b2,
                       "sigma_w2": _curve_grid(config).tolist()}}  # fmt: skip
    return [*out, _study.cell(KIND, VERSION, curve, "curve")]


def spec(config: TrainabilityConfig, max_population: int = MAX_POPULATION) -> dict[str, Any]:
    """The map's spec: ``{"study": {"kind", "max_population"}, "trainability": config}``,
    what ``--write-spec`` writes as TOML and ``initlab sweep`` reads back (:func:`from_spec`)."""
    return config_spec(KIND, config, max_population)


def from_spec(table: Mapping[str, Any], max_population: int = MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The :class:`~initlab.execution.study.Study` of a ``[trainability]`` table, checked
    (unknown keys named; values by :class:`TrainabilityConfig`)."""
    config = config_from_table(KIND, table, TrainabilityConfig, ["depths", "sigma_w2"])
    return study(config, max_population, source)


def study(config: TrainabilityConfig, max_population: int = MAX_POPULATION,
          source: str | None = None) -> _study.Study:  # fmt: skip
    """The map as a study for :mod:`initlab.execution.study`."""
    return _study.Study(KIND, spec(config, max_population), cells(config),
                        f"{__name__}:compute", max_population, source)  # fmt: skip


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of cells of one group: the curve's, or members of one depth trained
    together as one population (each member's numbers as if trained alone)."""
    first = configs[0]
    if "curve" in first:
        act, b2 = first["curve"]["activation"], first["curve"]["sigma_b2"]
        w2 = first["curve"]["sigma_w2"]
        return [{"sigma_w2": w2, "xi_c": [_correlation.depth_scales(act, x, b2).xi_c
                                          for x in w2]}]  # fmt: skip
    settings = {k: v for k, v in first.items() if k not in ("depth", "sigma_w2", "draw")}
    config = TrainabilityConfig(**settings, depths=(first["depth"],), sigma_w2=(1.0,))
    task = _task(config.task, config.test_fraction, config.seed)
    members = [(c["sigma_w2"], c["draw"]) for c in configs]
    net = population(config, first["depth"], task["X"].shape[0], task["Y"].shape[0],
                     task["head"], members)  # fmt: skip
    found = _train(config, net, task)
    keys = ("train_accuracy", "test_accuracy", "final_cost", "initial_cost", "diverged_at")
    return [{k: found[k][i] for k in keys} for i in range(len(configs))]


@functools.lru_cache(maxsize=2)
def _task(name: str, test_fraction: float, seed: int) -> dict[str, Any]:
    """:func:`load_task`, once per worker process."""
    return load_task(name, test_fraction, seed)


def run(
    config: TrainabilityConfig,
    out_dir: str | os.PathLike,
    progress: Progress | None = None,
    *,
    jobs: int | None = 1,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Compute every cell not yet stored in `out_dir` (resuming); return :func:`read`.

    `jobs` local worker processes (1: this process) or the Dask cluster at `scheduler`;
    ``progress(stored, failed, total)`` after each population
    (:func:`initlab.execution.study.execute`). Cells whose population failed are logged,
    stored with their error and left NaN (the next run retries them).
    """
    refuse_old(Path(out_dir))
    with _study.prepare(study(config), out_dir) as plan:
        _study.execute(plan, jobs=jobs, scheduler=scheduler, progress=progress)
    return read(out_dir, config)


def refuse_old(out: Path) -> None:
    """Refuse a directory holding a map in the layout of earlier releases."""
    if (out / OLD_FILE).is_file() and not (out / STORE_FILE).exists():
        raise InitlabError(
            f"{out} holds a trainability map of an earlier initlab ({OLD_FILE}, depth-*.json), "
            f"which this one does not read: run `{_COMMAND}` into another directory"
        )


def stored(out_dir: str | os.PathLike) -> bool:
    """Whether `out_dir` holds a trainability map (its spec is in the store); an earlier
    release's layout counts (:func:`read` refuses it by name)."""
    out = Path(out_dir)
    if (out / OLD_FILE).is_file():
        return True
    return _study.has_kind(out, KIND)


def read(out_dir: str | os.PathLike, config: TrainabilityConfig | None = None) -> dict[str, Any]:
    """The stored map: config, theory curve and arrays ``(n_depths, n_sigma_w2, seeds)``.

    The map of `config`, or of the last trainability spec run into `out_dir`. Depths with
    a member not yet stored are listed under ``"missing"`` (those members are NaN).
    """
    out = Path(out_dir)
    refuse_old(out)
    if config is None:
        config = TrainabilityConfig(**_study.last_settings(out, KIND, _COMMAND))
    every = cells(config)
    stored = _study.records(out, [c.id for c in every])
    shape = (len(config.depths), len(config.sigma_w2), config.seeds)
    arrays = {k: np.full(shape, np.nan) for k in ("train_accuracy", "test_accuracy")}
    missing = []
    members = iter(every[:-1])
    for j, depth in enumerate(config.depths):
        for i in range(len(config.sigma_w2)):
            for s in range(config.seeds):
                record = stored[next(members).id]
                if record is None:
                    missing.append(depth)
                    continue
                for k, a in arrays.items():
                    a[j, i, s] = np.nan if record[k] is None else record[k]
    return {
        "config": config.as_dict(),
        "theory": _theory(config, stored[every[-1].id]),
        "missing": list(dict.fromkeys(missing)),
        "chance": 0.1 if config.task == "digits10" else 0.5,
        **arrays,
    }


def _theory(config: TrainabilityConfig, record: dict[str, Any] | None) -> dict[str, Any]:
    """The stored curve (NaN until its cell is stored) times ``multiple``."""
    w2 = _curve_grid(config)
    xi = np.full(w2.shape, np.nan) if record is None else np.array(record["xi_c"], dtype=float)
    return {"sigma_w2": w2, "xi_c": xi, "depth": config.multiple * xi,
            "multiple": config.multiple}  # fmt: skip


def summary(data: dict[str, Any], which: str = "test_accuracy") -> Sequence[Sequence[float]]:
    """Mean over draws of `which`, ``(n_depths, n_sigma_w2)``."""
    return np.nanmean(data[which], axis=-1)
