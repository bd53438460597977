r"""The networks of a trainability map and their training
(:mod:`initlab.studies.trainability` makes the map of them, as a study).

A population of one depth is :math:`[n_0, N \times L, n_{out}]`, every weight
:math:`N(0, \sigma_w^2 / n_{l-1})`, every bias :math:`N(0, \sigma_b^2)`, trained on one task
(:func:`load_task`) by :func:`initlab.nn.training.train`; a member's numbers do not depend on
the other members of its population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._rng import child_seeds
from initlab._validation import InitlabError, check_number
from initlab.analysis import correlation as _correlation
from initlab.data import digits
from initlab.init.build import init_population
from initlab.nn import activations as _activations
from initlab.nn.lean import ARITHMETICS
from initlab.nn.network import Network
from initlab.nn.training import train
from initlab.results.records import jsonable
from initlab.studies._studyio import SCHEMA_VERSION, config_dict, set_grid

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
    arithmetic : {"fast", "exact"}
        :func:`initlab.nn.training.train`'s: ``"fast"`` (the default, stored with the map)
        takes plain SGD through :class:`initlab.nn.lean.LeanStep`, the same steps with
        other roundings; ``"exact"`` gives the general step's bits (and maps stored before
        the option, which resume as ``"exact"``).
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
    arithmetic: str = "fast"

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
        if self.arithmetic not in ARITHMETICS:
            raise InitlabError(
                f"arithmetic must be one of {', '.join(ARITHMETICS)}; got {self.arithmetic!r}"
            )
        if self.task not in TASKS:
            raise InitlabError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        _activations.get(self.activation)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


def load_task(name: str, test_fraction: float, seed: int) -> dict[str, Any]:
    r"""The task's stratified train/test split, in initlab's layout (one column per example).

    :func:`initlab.data.digits` of set `name` (all 1797 examples, split stratified by the
    digit with `test_fraction` and `seed`): ``digits10``, one-hot targets
    :math:`Y \in \{0,1\}^{10 \times m}` (softmax head); ``digits``, odd/even labels
    (sigmoid head).
    """
    if name not in TASKS:
        raise InitlabError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    X, Y, X_test, Y_test = digits(name=name, seed=seed, test_fraction=test_fraction)
    head, chance = ("softmax", 0.1) if name == "digits10" else ("sigmoid", 0.5)
    return {"X": X, "Y": Y, "X_test": X_test, "Y_test": Y_test, "head": head, "chance": chance}


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
        arithmetic=config.arithmetic,
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
            "arithmetic": config.arithmetic,
            "layer_sizes": sizes,
            **{k: v.reshape(shape) for k, v in found.items() if k != "seconds"},
            "seconds": found["seconds"],
        }
    )


def _curve_grid(config: TrainabilityConfig, points: int = 121) -> np.ndarray:
    lo, hi = min(config.sigma_w2), max(config.sigma_w2)
    return np.linspace(lo, hi, points) if hi > lo else np.array([lo])
