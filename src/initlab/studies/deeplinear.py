r"""Learning time of deep linear networks against depth, orthogonal vs Gaussian weights.

Saxe, McClelland and Ganguli (2014, "Exact solutions to the nonlinear dynamics of learning
in deep linear neural networks", ICLR; Sec. 3 and Fig. 6) showed that a deep linear network
started from random orthogonal weights (gain 1, the end-to-end map an isometry: "dynamical
isometry") learns in a time independent of its depth once the learning rate is scaled as
:math:`1/D`, while one started from scaled Gaussian weights :math:`N(0, 1/N)` learns more
slowly the deeper it is, because the product of :math:`D` Gaussian matrices has singular
values spread over orders of magnitude. They trained on MNIST with the learning rate
optimized for each depth.

initlab's study. A linear teacher :math:`T = U \operatorname{diag}(s) V^\top`
(:math:`N \times N`, :math:`U, V` Haar orthogonal, :math:`s` geometric from 3 to 0.3) on
whitened inputs :math:`X = \sqrt{N}\,Q` (:math:`Q` Haar orthogonal, so
:math:`X X^\top / m = I` with :math:`m = N` examples, Saxe's :math:`\Sigma^{11} = I`),
targets :math:`Y = T X`. The student has :math:`D` square weight layers of width :math:`N`,
identity activation and the linear (MSE) head; its biases start at 0 and are trained with
the weights (Saxe's networks have none). With zero biases its cost is
:math:`J = \tfrac12 \lVert W_D \cdots W_1 - T \rVert_F^2`. Full-batch
gradient descent at :math:`\eta = \eta_0 / D` for each :math:`\eta_0` of a grid.

Every depth is one population: every init (``orthogonal`` with gain 1 and
``variance_scaling`` with scale 1, fan-in, untruncated normal) times every :math:`\eta_0`
times ``seeds`` draws. The **learning time** of a member is the first step :math:`t` at
which its cost is at most ``criterion`` times its cost at step 0 (``costs[:, t]`` is before
update t, so :math:`t` updates were made), or None if it is not reached within ``steps``
(or the member diverged). A cell's time is the best :math:`\eta_0`'s median over the draws,
as Saxe et al. optimized the rate per depth.

Storage: the study's cells are its members (depth, init, :math:`\eta_0`, draw), grouped by
depth, computed and stored in ``DIR/sweep.sqlite`` by the executor sweeps use
(:mod:`initlab.execution.study`: resumable after Ctrl-C or kill -9, local processes or a
Dask cluster, the same bits); :func:`read` builds the record from them. Without a
directory, :func:`run` computes into a temporary store. A ``deeplinear.json`` written by
an earlier release is still read.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._rng import child_seeds, make_rng
from initlab._validation import check_number
from initlab.execution import study as _study
from initlab.execution.executor import Progress
from initlab.init.build import init_population
from initlab.init.matrices import orthogonal
from initlab.nn.training import train
from initlab.results.records import jsonable
from initlab.results.sweep_store import STORE_FILE
from initlab.specs.sweep_spec import canonical
from initlab.studies._studyio import config_dict, config_from_table, config_spec, load, set_grid

FILE = "deeplinear.json"
"""The record of an earlier release (read, never written)."""
KIND = "deep-linear"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
_COMMAND = "initlab theory deep-linear --out DIR"
INITS = {
    "orthogonal": {"name": "orthogonal", "gain": 1.0},
    "gaussian": {
        "name": "variance_scaling",
        "scale": 1.0,
        "mode": "fan_in",
        "distribution": "normal",
    },
}
"""The two initial laws: Haar orthogonal with gain 1, and :math:`N(0, 1/N)`."""


@dataclass(frozen=True)
class DeepLinearConfig:
    r"""The deep-linear learning-time study.

    Attributes
    ----------
    depths : tuple of int
        Weight layers :math:`D` (each :math:`N \times N`).
    width : int
        :math:`N`, also the input and output dimension and the number of examples.
    rates : tuple of float
        :math:`\eta_0`; member rates are :math:`\eta_0 / D`.
    criterion : float
        Learning time: first step with cost :math:`\le` criterion :math:`\times` cost at 0.
    steps, seeds, seed : int
    """

    depths: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    width: int = 32
    rates: tuple[float, ...] = (0.1, 0.14, 0.2, 0.28, 0.4)
    criterion: float = 0.05
    steps: int = 400
    seeds: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        set_grid(self, "depths", int, low=1, integer=True)
        set_grid(self, "rates", float, low=0, low_open=True)
        for name in ("width", "steps", "seeds"):
            check_number(name, getattr(self, name), low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("criterion", self.criterion, low=0, high=1, low_open=True, high_open=True)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


def teacher_task(width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(X, Y, s)``: whitened inputs, the teacher's targets and its singular values."""
    rng = make_rng(seed)
    haar = orthogonal(1.0)
    U, V, Q = (haar((width, width), rng, np.float64) for _ in range(3))
    s = np.geomspace(3.0, 0.3, width)
    X = np.sqrt(width) * Q
    return X, (U * s) @ V.T @ X, s


def learning_times(costs: np.ndarray, criterion: float) -> np.ndarray:
    r"""First step :math:`t` with ``costs[k, t] <= criterion * costs[k, 0]``; NaN if none.

    NaN costs (a diverged member) never meet the criterion.
    """
    costs = np.asarray(costs, dtype=float)
    hit = costs <= criterion * costs[:, :1]
    return np.where(hit.any(axis=1), np.argmax(hit, axis=1), np.nan)


def train_depth(config: DeepLinearConfig, depth: int, task: tuple) -> dict[str, Any]:
    """One depth's population; times ``(n_inits, n_rates, seeds)`` (NaN: not reached)."""
    members = [(name, r, s) for name in INITS for r in config.rates for s in range(config.seeds)]
    found = _train(config, depth, task, members)
    shape = (len(INITS), len(config.rates), config.seeds)
    return {"depth": depth, **{k: v.reshape(shape) for k, v in found.items()}}


def _train(config: DeepLinearConfig, depth: int, task: tuple,
           members: Sequence[tuple[str, float, int]]) -> dict[str, np.ndarray]:  # fmt: skip
    """Train members ``(init, eta_0, draw)`` of one depth together; their learning times,
    initial costs and divergence steps, ``(K,)`` each. Draw s's seed is
    ``child_seeds(seed + 1, .)[s]`` (`seed` itself draws the task)."""
    X, Y, _ = task
    seeds = child_seeds(config.seed + 1, 1 + max(m[2] for m in members))
    net = init_population([config.width] * (depth + 1), [(INITS[i], seeds[s]) for i, _, s
                          in members], activation="linear", head="linear")  # fmt: skip
    lr = np.array([r / depth for _, r, _ in members])
    _, hist = train(
        net, X, Y, learning_rate=lr, iterations=config.steps, engine="direct", return_network=False
    )
    return {
        "times": learning_times(hist.costs, config.criterion),
        "initial_cost": hist.costs[:, 0],
        "diverged_at": hist.diverged_at,
    }


def cell_times(times: np.ndarray) -> np.ndarray:
    """Per init: the best rate's median over draws (NaN where no rate reached it)."""
    times = np.asarray(times, dtype=float)
    with np.errstate(all="ignore"):
        med = np.median(times, axis=-1)  # NaN if any draw missed: that rate is not reliable
    best = np.where(np.isnan(med), np.inf, med).min(axis=-1)
    return np.where(np.isinf(best), np.nan, best)


# --------------------------------------------------------------------------- the study


def cells(config: DeepLinearConfig) -> list[_study.Cell]:
    """One cell per member (depth, init, eta_0, draw), grouped by depth."""
    common = {k: v for k, v in config.as_dict().items() if k not in ("depths", "rates", "seeds")}
    out = []
    for depth in config.depths:
        group = canonical({**common, "depth": depth})
        for name in INITS:
            for r in config.rates:
                for s in range(config.seeds):
                    member = {**common, "depth": depth, "init": name, "rate": r, "draw": s}
                    out.append(_study.cell(KIND, VERSION, member, group))
    return out


def spec(config: DeepLinearConfig, max_population: int = 256) -> dict[str, Any]:
    """The study's spec, as ``--write-spec`` writes it (:mod:`initlab.studies.specs`)."""
    return config_spec(KIND, config, max_population)


def from_spec(table: Mapping[str, Any], max_population: int = 256,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The study of a ``[deep-linear]`` table, checked (keys, then the config's checks)."""
    config = config_from_table(KIND, table, DeepLinearConfig, ["depths", "rates"])
    return study(config, max_population, source)


def study(config: DeepLinearConfig, max_population: int = 256,
          source: str | None = None) -> _study.Study:  # fmt: skip
    """The study for :mod:`initlab.execution.study`."""
    return _study.Study(KIND, spec(config, max_population), cells(config),
                        f"{__name__}:compute", max_population, source)  # fmt: skip


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of members of one depth, trained together (one BLAS thread: the
    teacher's QR and the products too, as every record must be the same bits anywhere)."""
    first = configs[0]
    settings = {k: v for k, v in first.items() if k not in ("depth", "init", "rate", "draw")}
    config = DeepLinearConfig(**settings, depths=(first["depth"],), rates=(1.0,), seeds=1)
    with threadpool_limits(limits=1, user_api="blas"):
        task = _task(config.width, config.seed)
        members = [(c["init"], c["rate"], c["draw"]) for c in configs]
        found = _train(config, first["depth"], task, members)
    return [{k: v[i] for k, v in found.items()} for i in range(len(configs))]


@functools.lru_cache(maxsize=2)
def _task(width: int, seed: int) -> tuple:
    return teacher_task(width, seed)


def run(
    config: DeepLinearConfig,
    out_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    *,
    jobs: int | None = 1,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Compute every member not yet stored in `out_dir` (a temporary store without it) and
    return :func:`read`'s record. ``record["time"][init]`` lists :func:`cell_times` by
    depth; ``progress(stored, failed, total)`` after each population."""
    with tempfile.TemporaryDirectory(prefix="initlab-deeplinear-") as tmp:
        out = Path(tmp if out_dir is None else out_dir)
        with _study.prepare(study(config), out) as plan:
            _study.execute(plan, jobs=jobs, scheduler=scheduler, progress=progress)
        return read(out, config)


def stored(path: str | os.PathLike) -> bool:
    """Whether `path` holds the study (in its store, or an earlier release's JSON)."""
    path = Path(path)
    if (path / FILE).is_file():
        return True
    return _study.has_kind(path, KIND)


def read(path: str | os.PathLike, config: DeepLinearConfig | None = None) -> dict[str, Any]:
    """The study's record: of `config`, or of the last deep-linear spec stored in directory
    `path`; an earlier release's ``deeplinear.json`` (a file, or a directory holding it) as
    it is. Members not stored are NaN."""
    path = Path(path)
    if path.is_file() or ((path / FILE).is_file() and not (path / STORE_FILE).exists()):
        return load(path, FILE, "initlab.deeplinear", _COMMAND)
    if config is None:
        config = DeepLinearConfig(**_study.last_settings(path, KIND, _COMMAND))
    every = cells(config)
    got = _study.records(path, [c.id for c in every])
    shape = (len(config.depths), len(INITS), len(config.rates), config.seeds)
    arrays = {k: np.full(shape, np.nan) for k in ("times", "initial_cost", "diverged_at")}
    for c in every:
        index = (config.depths.index(c.config["depth"]), list(INITS).index(c.config["init"]),
                 config.rates.index(c.config["rate"]), c.config["draw"])  # fmt: skip
        for k, a in arrays.items():
            value = (got[c.id] or {}).get(k)
            a[index] = np.nan if value is None else value
    per_depth = [{"depth": d, **{k: a[j] for k, a in arrays.items()}}
                 for j, d in enumerate(config.depths)]  # fmt: skip
    best = np.array([cell_times(p["times"]) for p in per_depth])  # (n_depths, n_inits)
    return jsonable({
        "config": config.as_dict(),
        "inits": {k: dict(v) for k, v in INITS.items()},
        "teacher_singular_values": np.geomspace(3.0, 0.3, config.width),
        "depths": per_depth,
        "time": {name: best[:, i] for i, name in enumerate(INITS)},
    })  # fmt: skip
