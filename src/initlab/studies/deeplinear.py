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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._rng import child_seeds, make_rng
from initlab._validation import check_number
from initlab.init.build import init_population
from initlab.init.matrices import orthogonal
from initlab.nn.training import train
from initlab.results.records import jsonable
from initlab.studies._studyio import (
    SCHEMA_VERSION,
    config_dict,
    load,
    set_grid,
    store,
)

FILE = "deeplinear.json"
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
    """One depth's population; times ``(n_inits, n_rates, seeds)`` (None: not reached)."""
    X, Y, _ = task
    seeds = child_seeds(config.seed + 1, config.seeds)  # seed itself draws the task
    members = [(INITS[name], s) for name in INITS for _ in config.rates for s in seeds]
    lr = np.array([r / depth for _ in INITS for r in config.rates for _ in seeds])
    net = init_population([config.width] * (depth + 1), members, activation="linear", head="linear")
    _, hist = train(
        net, X, Y, learning_rate=lr, iterations=config.steps, engine="direct", return_network=False
    )
    shape = (len(INITS), len(config.rates), config.seeds)
    times = learning_times(hist.costs, config.criterion).reshape(shape)
    return {
        "depth": depth,
        "times": times,
        "initial_cost": hist.costs[:, 0].reshape(shape),
        "diverged_at": hist.diverged_at.reshape(shape),
    }


def cell_times(times: np.ndarray) -> np.ndarray:
    """Per init: the best rate's median over draws (NaN where no rate reached it)."""
    times = np.asarray(times, dtype=float)
    with np.errstate(all="ignore"):
        med = np.median(times, axis=-1)  # NaN if any draw missed: that rate is not reliable
    best = np.where(np.isnan(med), np.inf, med).min(axis=-1)
    return np.where(np.isinf(best), np.nan, best)


def run(
    config: DeepLinearConfig,
    out_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train every depth and return the record; with `out_dir`, also store it as
    ``out_dir/deeplinear.json``. ``record["time"][init]`` lists :func:`cell_times` by depth.
    ``progress(done, total)`` is called after each depth."""
    per_depth = []
    with threadpool_limits(limits=1, user_api="blas"):  # the teacher's QR and products too
        task = teacher_task(config.width, config.seed)
        for d in config.depths:
            per_depth.append(train_depth(config, d, task))
            if progress is not None:
                progress(len(per_depth), len(config.depths))
    best = np.array([cell_times(p["times"]) for p in per_depth])  # (n_depths, n_inits)
    record = jsonable(
        {
            "format": "initlab.deeplinear",
            "schema_version": SCHEMA_VERSION,
            "config": config.as_dict(),
            "inits": {k: dict(v) for k, v in INITS.items()},
            "teacher_singular_values": task[2],
            "depths": per_depth,
            "time": {name: best[:, i] for i, name in enumerate(INITS)},
        }
    )
    if out_dir is not None:
        write(out_dir, record)
    return record


def write(out_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Store `record` as ``out_dir/deeplinear.json`` (atomically); the path."""
    return store(out_dir, FILE, record)


def read(path: str | os.PathLike) -> dict[str, Any]:
    """``deeplinear.json`` (a file, or a directory holding it), checked."""
    return load(path, FILE, "initlab.deeplinear", "initlab theory deep-linear --out DIR")
