"""A population's data and initial parameters.

The data of an experiment (:func:`load_data`: training and held-out sets) and the labels as
the head's targets (:func:`targets`): integer class labels ``0 .. C-1`` are the ``(1, m)``
row of the post for a sigmoid output (C = 2), one-hot columns ``(C, m)`` for a softmax or
linear output of C units. Each run's initializer (or LSUV) is drawn member by member:

:func:`_build` stacks the members of one population into a :class:`~initlab.nn.network.Network`
(K on the leading axis), applying a width parametrization's init factors; on the sample
engine (:func:`_start_data`) each member's :math:`W_1(0)` is read once as it is drawn and never
stacked (:class:`~initlab.nn.start.SampleStart`). Used by :mod:`initlab.execution.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab import data as _data
from initlab._rng import make_rng
from initlab._validation import DataError
from initlab.analysis import chaos as _chaos
from initlab.init import lsuv as _lsuv
from initlab.init.build import init_parameters
from initlab.init.parametrization import rescale_weights
from initlab.nn import engines as _engines
from initlab.nn.batches import Schedule
from initlab.nn.network import Network, from_members
from initlab.nn.optimizers import get_optimizer
from initlab.nn.start import SampleStart
from initlab.specs.config import DataConfig, ModelConfig, TrainingConfig
from initlab.specs.spec import Run, Spec


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


def layer_sizes(model: ModelConfig, data: ExperimentData) -> list[int]:
    """``[n_0, n_1, ..., n_L]`` of the networks `model` builds on `data`."""
    return [data.train.n_features, *model.hidden, n_outputs(model.output, data.n_classes)]


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


def _build(
    runs: list[Run],
    sizes: list[int],
    X: np.ndarray,
    model: ModelConfig,
    training: TrainingConfig,
    start: tuple[np.ndarray, np.ndarray | None] | None = None,
    twins: int = 0,
) -> tuple[Network, list, SampleStart | None]:
    """The population for `runs`, each run's LSUV report (or None), and, when `start`
    gives the sample engine's ``(X, X_test)``, its :class:`SampleStart`: each member's
    :math:`W_1(0)` is then read once as it is drawn and dropped, never stacked. Under a width
    parametrization each member's ``W_l`` is multiplied by its init factor (1.0 at the base
    width: SP's weights bit for bit).

    With `twins` = n > 0, each run is followed by its n shadow twins
    (:func:`initlab.analysis.chaos.perturb` of its initial weights, twin j drawn by
    :func:`~initlab.analysis.chaos.twin_rng`): run i is member ``i * (n + 1)``, its twin j
    member ``i * (n + 1) + j``. A member's numbers do not depend on its population, so
    twins leave every run's bits as they are without them."""
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
            for j in range(twins + 1):
                Wj = Ws if j == 0 else _chaos.perturb(Ws, _chaos.twin_rng(run.seed, j))
                members.append((Wj if start is None else [None, *Wj[1:]], bs))
                yield Wj[0]

    if start is None:
        list(firsts())
        return from_members(sizes, act, members, model.output), reports, None  # W_1 stacked once
    first = SampleStart(firsts(), start[0], _engines.diagnostic_columns(sizes[0]), start[1])
    stack = lambda l, i: np.stack([m[i][l] for m in members])  # noqa: E731
    weights = [first.placeholder(), *(stack(l, 0) for l in range(1, len(sizes) - 1))]
    biases = [stack(l, 1) for l in range(len(sizes) - 1)]
    return Network(sizes, act, weights, biases, model.output), reports, first


def _engine(
    K: int, sizes: list[int], data: ExperimentData, training: TrainingConfig
) -> tuple[str, str]:
    """The engine a population of `K` members takes, and why
    (:func:`initlab.nn.engines.choose`: ``auto`` depends on K). Resolved once per
    population: its chunks (:mod:`initlab.execution.threads`) all take this one."""
    m = data.train.n_examples
    sched = Schedule(m, training.iterations if training.epochs is None else None,
                     training.epochs, training.batch_size, training.shuffle_seed)  # fmt: skip
    opt = get_optimizer(training.optimizer.as_dict())
    return _engines.choose(training.engine, sizes[0], m, K, sizes[1], sched.steps,
                           batch=sched.batch_size, optimizer=opt)  # fmt: skip


def _start_data(
    engine: str, data: ExperimentData, training: TrainingConfig
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(X, X_test)`` in the network's dtype when the population trains on the sample
    `engine` (so :math:`W_1(0)` need not be stacked), else None."""
    if engine != "sample":
        return None
    as_net = lambda A: np.ascontiguousarray(A.astype(training.dtype, copy=False))  # noqa: E731
    return as_net(data.train.X), None if data.test is None else as_net(data.test.X)
