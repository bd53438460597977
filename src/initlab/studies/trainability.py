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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from initlab._rng import child_seeds
from initlab._validation import InitlabError, check_number
from initlab.analysis import correlation as _correlation
from initlab.execution import study as _study
from initlab.execution.executor import Progress, Report
from initlab.init.build import init_population
from initlab.nn import activations as _activations
from initlab.nn.network import Network
from initlab.nn.training import train
from initlab.results.records import jsonable
from initlab.results.sweep_store import STORE_FILE
from initlab.specs.sweep_spec import canonical
from initlab.studies._studyio import SCHEMA_VERSION, config_dict, set_grid

log = logging.getLogger(__name__)
_COMMAND = "initlab theory trainability --out DIR"
KIND = "trainability"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
MAX_POPULATION = 256
"""Members trained together at most (a depth's members are split beyond it)."""
OLD_FILE = "trainability.json"
"""Of the layout before the store (refused by name)."""
TASKS = ("digits10", "digits")
"""``digits10``: scikit-learn's 8x8 digits, 10 classes, softmax head; ``digits``: odd/even."""
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class TrainabilityConfig:
    r"""One trainability map: the grid, the networks, the task and the training.

    Attributes
    ----------
    depths : tuple of int
        Hidden layers :math:`L` (each of width `width`, activation `activation`).
    sigma_w2 : tuple of float
        :math:`\sigma_w^2 = n_{l-1} \operatorname{Var}(W_l)`, every layer.
    sigma_b2 : float
        :math:`\operatorname{Var}(b_l)`; the published 0.05 by default.
    width, seeds, seed : int
        Hidden width; initial draws per cell; the seed of the draws and of the split.
    activation, task : str
        Hidden activation; one of :data:`TASKS`.
    steps, batch_size : int
        Mini-batch steps of the optimizer and examples per batch.
    optimizer : str
        :func:`initlab.nn.optimizers.get_optimizer` name (SGD by default, as published).
    learning_rate, test_fraction : float
    multiple : float
        The curve drawn is ``multiple`` :math:`\times\,\xi_c`; the published 6.
    dtype : {"float64", "float32"}
        The floating type of the parameters, data and training (stored with the map and in
        every depth's record). float32 halves the memory traffic; its numbers are float32
        roundings of the same training, not float64's bits.
    """

    depths: tuple[int, ...] = (2, 4, 8, 12, 16, 24, 32)
    sigma_w2: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
    sigma_b2: float = 0.05
    width: int = 64
    activation: str = "tanh"
    task: str = "digits10"
    steps: int = 300
    batch_size: int = 64
    optimizer: str = "sgd"
    learning_rate: float = 0.05
    seeds: int = 1
    seed: int = 0
    test_fraction: float = 0.2
    multiple: float = 6.0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        set_grid(self, "depths", int, low=1, integer=True)
        set_grid(self, "sigma_w2", float, low=0, low_open=True)
        for name in ("width", "steps", "batch_size", "seeds"):
            check_number(name, getattr(self, name), low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("sigma_b2", self.sigma_b2, low=0)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number(
            "test_fraction", self.test_fraction, low=0, high=1, low_open=True, high_open=True
        )
        check_number("multiple", self.multiple, low=0, low_open=True)
        if self.dtype not in DTYPES:
            raise InitlabError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.task not in TASKS:
            raise InitlabError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        _activations.get(self.activation)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


def load_task(name: str, test_fraction: float, seed: int) -> dict[str, Any]:
    r"""The task's stratified train/test split, in initlab's layout (one column per example).

    Both tasks are scikit-learn's bundled 8x8 digits (1797 examples, pixels / 16):
    ``digits10`` with one-hot targets :math:`Y \in \{0,1\}^{10 \times m}` (softmax head),
    ``digits`` with the odd/even label of :func:`initlab.data.loaders.load_bundled`
    (sigmoid head). Split by ``train_test_split(..., random_state=seed, stratify=digit)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if name not in TASKS:
        raise InitlabError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    digits = load_digits()
    X, d = digits.data.T / 16.0, digits.target
    if name == "digits10":
        Y, head, chance = np.eye(10)[:, d], "softmax", 0.1
    else:
        Y, head, chance = (d % 2 == 1).astype(np.float64)[None, :], "sigmoid", 0.5
    train_idx, test_idx = train_test_split(
        np.arange(d.size), test_size=test_fraction, random_state=seed, stratify=d
    )
    return {
        "X": X[:, train_idx],
        "Y": Y[:, train_idx],
        "X_test": X[:, test_idx],
        "Y_test": Y[:, test_idx],
        "head": head,
        "chance": chance,
    }


def theory_curve(config: TrainabilityConfig, points: int = 121) -> dict[str, Any]:
    r"""``multiple`` :math:`\times\,\xi_c(\sigma_w^2)` on `points` values spanning the grid.

    :math:`\xi_c` from :func:`initlab.analysis.correlation.depth_scales` at the
    configuration's activation and :math:`\sigma_b^2`; inf (stored as null) on the
    critical line, where :math:`\chi_c = 1`.
    """
    grid = _curve_grid(config, points)
    act = _activations.get(config.activation)
    xi = np.array([_correlation.depth_scales(act, w2, config.sigma_b2).xi_c for w2 in grid])
    return {
        "sigma_w2": grid,
        "xi_c": xi,
        "depth": config.multiple * xi,
        "multiple": config.multiple,
    }


def population(config: TrainabilityConfig, depth: int, n0: int, n_out: int, head: str,
               members: Sequence[tuple[float, int]] | None = None) -> Network:  # fmt: skip
    r"""The initial population of one depth: ``[n0, width x depth, n_out]``, members ordered
    :math:`\sigma_w^2`-major (member ``i * seeds + s`` is ``(sigma_w2[i], draw s)``), or
    the ``(sigma_w2, draw)`` pairs `members`.

    Every weight is :math:`N(0, \sigma_w^2 / n_{l-1})` and every bias
    :math:`N(0, \sigma_b^2)`: the law the mean-field theory assumes. Draw ``s`` uses the same
    standard normals for every :math:`\sigma_w^2` (common random numbers), so the columns
    of the map differ only by the weight scale.
    """
    if members is None:
        members = [(w2, s) for w2 in config.sigma_w2 for s in range(config.seeds)]
    seeds = child_seeds(config.seed, 1 + max(s for _, s in members))
    specs = [
        ({"name": "variance_scaling", "scale": w2, "mode": "fan_in", "distribution": "normal"},
         seeds[s])
        for w2, s in members
    ]  # fmt: skip
    sizes = [n0, *[config.width] * depth, n_out]
    return init_population(
        sizes, specs, activation=config.activation, head=head, sigma_b2=config.sigma_b2,
        dtype=np.dtype(config.dtype),
    )  # fmt: skip


def _train(config: TrainabilityConfig, net: Network, task: dict[str, Any]) -> dict[str, Any]:
    """Train `net` on `task`; each member's numbers, as arrays ``(K,)``."""
    _, hist = train(
        net,
        task["X"],
        task["Y"],
        learning_rate=config.learning_rate,
        iterations=config.steps,
        optimizer=config.optimizer,
        batch_size=config.batch_size,
        shuffle_seed=config.seed,
        engine="direct",
        X_test=task["X_test"],
        Y_test=task["Y_test"],
        eval_every=config.steps,
        return_network=False,
    )
    return {
        "train_accuracy": hist.final_accuracy,
        "test_accuracy": hist.test_accuracy_history[:, -1],
        "final_cost": hist.final_cost,
        "initial_cost": hist.costs[:, 0],
        "diverged_at": hist.diverged_at,
        "seconds": hist.seconds,
    }


def train_depth(config: TrainabilityConfig, depth: int, task: dict[str, Any]) -> dict[str, Any]:
    r"""Train the population of one depth; its record, with arrays ``(n_sigma_w2, seeds)``.

    Members are ordered :math:`\sigma_w^2`-major: member ``i * seeds + s`` is
    ``(sigma_w2[i], draw s)``. Accuracies are the head's, on the whole train and test parts,
    after the last step; a diverged member keeps NaN (null here).
    """
    net = population(config, depth, task["X"].shape[0], task["Y"].shape[0], task["head"])
    sizes = list(net.layer_sizes)
    found = _train(config, net, task)
    shape = (len(config.sigma_w2), config.seeds)
    return jsonable(
        {
            "format": "initlab.trainability.depth",
            "schema_version": SCHEMA_VERSION,
            "depth": depth,
            "dtype": config.dtype,
            "layer_sizes": sizes,
            **{k: v.reshape(shape) for k, v in found.items() if k != "seconds"},
            "seconds": found["seconds"],
        }
    )


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
    return {"study": {"kind": KIND, "max_population": max_population},
            "trainability": config.as_dict()}  # fmt: skip


def from_spec(table: Mapping[str, Any], max_population: int = MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The :class:`~initlab.execution.study.Study` of a ``[trainability]`` table, checked
    (unknown keys named; values by :class:`TrainabilityConfig`)."""
    from initlab._validation import SpecError, check_keys

    check_keys("[trainability]", table, [f.name for f in fields(TrainabilityConfig)])
    for key in ("depths", "sigma_w2"):
        if key in table and not isinstance(table[key], list):
            raise SpecError(f"trainability.{key} must be a list; got {table[key]!r}")
    try:
        config = TrainabilityConfig(**table)
    except InitlabError as exc:
        raise SpecError(f"[trainability] {exc}") from None
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


def _curve_grid(config: TrainabilityConfig, points: int = 121) -> np.ndarray:
    lo, hi = min(config.sigma_w2), max(config.sigma_w2)
    return np.linspace(lo, hi, points) if hi > lo else np.array([lo])


def run(
    config: TrainabilityConfig,
    out_dir: str | os.PathLike,
    progress: Progress | None = None,
    *,
    jobs: int | None = 1,
    scheduler: str | None = None,
) -> Report:
    """Compute every cell not yet stored in `out_dir` (resuming); what this call did.

    `jobs` local worker processes (1: this process) or the Dask cluster at `scheduler`;
    ``progress(stored, failed, total)`` after each population
    (:func:`initlab.execution.study.execute`).
    """
    refuse_old(Path(out_dir))
    with _study.prepare(study(config), out_dir) as plan:
        return _study.execute(plan, jobs=jobs, scheduler=scheduler, progress=progress)


def refuse_old(out: Path) -> None:
    """Refuse a directory holding a map in the layout of earlier releases."""
    if (out / OLD_FILE).is_file() and not (out / STORE_FILE).exists():
        raise InitlabError(
            f"{out} holds a trainability map of an earlier initlab ({OLD_FILE}, depth-*.json), "
            f"which this one does not read: run `{_COMMAND}` into another directory"
        )


def read(out_dir: str | os.PathLike, config: TrainabilityConfig | None = None) -> dict[str, Any]:
    """The stored map: config, theory curve and arrays ``(n_depths, n_sigma_w2, seeds)``.

    The map of `config`, or of the last trainability spec run into `out_dir`. Depths with
    a member not yet stored are listed under ``"missing"`` (those members are NaN).
    """
    out = Path(out_dir)
    refuse_old(out)
    if not (out / STORE_FILE).exists():
        raise InitlabError(f"no trainability map at {out}: run `{_COMMAND}`")
    if config is None:
        found = _study.specs(out, KIND)
        if not found:
            raise InitlabError(f"{out / STORE_FILE} holds no trainability map: run `{_COMMAND}`")
        config = TrainabilityConfig(**found[-1]["spec"][KIND])
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
