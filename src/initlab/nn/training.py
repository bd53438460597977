r"""Full-batch gradient descent for a population, with divergence handling and hooks.

Iteration :math:`i = 0, \dots, T-1` computes the cost :math:`J(\theta_i)` of the current
parameters, then the update :math:`\theta_{i+1} = \theta_i - \eta \nabla J(\theta_i)`. So
``costs[:, i]`` is the cost *before* update i (``costs[:, 0]`` is the cost at
initialization) and ``final_cost`` is :math:`J(\theta_T)` of the returned network.

A member whose cost is not finite at iteration i is marked diverged at i and frozen: its
parameters are set aside as they were at iteration i and its rows are zeroed for the
rest of the run, so it costs nothing and disturbs no other member; its later costs are
NaN.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.nn import engines as _engines
from initlab.nn.losses import bce_with_logits
from initlab.nn.network import Network, accuracy_from_logits, backward, forward_rest

log = logging.getLogger(__name__)


@dataclass
class Step:
    """What a hook sees at a recorded iteration (before that iteration's update).

    ``Zs``/``As`` are the forward pass on the training data, ``dZs`` the back-propagated
    gradients with respect to each ``Z_l`` (not divided by m), ``dWs[0]`` is None (ask
    ``grad_norm_1``), ``weights[0]`` is ``W_1`` materialized.
    """

    iteration: int
    Zs: list[np.ndarray]
    As: list[np.ndarray]
    dZs: list[np.ndarray]
    dWs: list[np.ndarray | None]
    dbs: list[np.ndarray]
    grad_norm_1: np.ndarray
    weight_norm_1: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    learning_rate: np.ndarray
    alive: np.ndarray
    costs: np.ndarray


Hook = Callable[[Step], None]


@dataclass
class History:
    """What a training run produced, per member.

    Attributes
    ----------
    costs : ndarray (K, T)
        Training cost before each update; NaN after a member diverged.
    final_cost : ndarray (K,)
        Cost of the returned parameters (after all T updates); NaN if diverged.
    final_accuracy : ndarray (K,)
        Training accuracy (``A_L >= 0.5``) of the returned parameters; NaN if diverged.
    diverged_at : ndarray of int (K,)
        Iteration at which the cost became non-finite, or -1.
    eval_iterations : list of int
        Iterations at which ``test_costs``/``test_accuracy_history`` were measured
        (before that iteration's update; T means the returned parameters).
    engine : str
        The engine used (``"direct"`` or ``"sample"``).
    seconds : float
        Wall-clock training time.
    """

    costs: np.ndarray
    final_cost: np.ndarray
    final_accuracy: np.ndarray
    diverged_at: np.ndarray
    engine: str
    seconds: float
    eval_iterations: list[int] = field(default_factory=list)
    test_costs: np.ndarray | None = None
    test_accuracy_history: np.ndarray | None = None

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0


def _learning_rates(learning_rate: float | Sequence[float] | np.ndarray, K: int) -> np.ndarray:
    lr = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), (K,)).copy()
    for k, value in enumerate(lr):
        check_number(
            f"learning_rate[{k}]" if K > 1 else "learning_rate", value, low=0, low_open=True
        )
    return lr


def train(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    learning_rate: float | Sequence[float] | np.ndarray,
    iterations: int,
    engine: str = "auto",
    X_test: np.ndarray | None = None,
    Y_test: np.ndarray | None = None,
    eval_every: int | None = None,
    record_at: Iterable[int] = (),
    hooks: Sequence[Hook] = (),
    progress: Callable[[int], None] | None = None,
    return_network: bool = True,
) -> tuple[Network | None, History]:
    r"""Train every member of `network` by full-batch gradient descent.

    Parameters
    ----------
    network : Network
        The initial population (not modified; a trained copy is returned).
    X : ndarray (n_0, m)
        Training inputs, one column per example; cast once to the network's dtype.
    Y : ndarray (1, m)
        Labels in {0, 1}.
    learning_rate : float or array (K,)
        :math:`\eta`, one for all members or one each.
    iterations : int
        Number of updates T.
    engine : {"auto", "direct", "sample"}
        See :mod:`initlab.nn.engines`; ``"auto"`` picks by estimated flops.
    X_test, Y_test : ndarray, optional
        Held-out data; its cost and accuracy are measured every `eval_every` iterations
        (default ``max(1, T // 100)``) and at the end.
    record_at : iterable of int
        Iterations at which `hooks` are called with a :class:`Step`.
    progress : callable, optional
        Called as ``progress(i)`` after iteration i (for progress bars).
    return_network : bool
        Build the trained network. With False, None is returned in its place and
        :math:`W_1` is never materialized (the sample engine's one feature-sized product
        after the loop); the history has every cost and accuracy.

    Returns
    -------
    network : Network or None
        The trained population (diverged members as they were when they diverged).
    history : History
    """
    T = int(check_number("iterations", iterations, low=1, integer=True))
    dtype = network.dtype
    X = np.ascontiguousarray(network._check_X(X))
    Y = _check_labels(Y, X.shape[1], "Y").astype(dtype)  # one dtype in every product
    K, m = network.K, X.shape[1]
    lr = _learning_rates(learning_rate, K)
    step = (lr / m).astype(dtype)
    lr_d = lr.astype(dtype)
    name = _engines.choose(engine, X.shape[0], m, K, network.layer_sizes[1], T)
    eng = _engines.make(name, network.weights[0], X)
    # W_1 belongs to the engine (which copies it); the others are updated here in place
    weights = [network.weights[0], *(W.copy() for W in network.weights[1:])]
    biases = [b.copy() for b in network.biases]
    act = network.activation
    testing = X_test is not None
    if testing:
        X_test = np.ascontiguousarray(network._check_X(X_test))
        Y_test = _check_labels(Y_test, X_test.shape[1], "Y_test").astype(dtype)
        eval_every = eval_every or max(1, T // 100)
    record = set(record_at)
    costs = np.full((K, T), np.nan)
    diverged_at = np.full(K, -1)
    alive = np.ones(K, dtype=bool)
    saved: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    eval_iters, test_costs, test_acc = [], [], []

    def evaluate() -> None:
        Z1 = eng.preactivation_on(X_test, biases[0])
        ZL = forward_rest(Z1, weights, biases, act)[0][-1]
        test_costs.append(np.where(alive, bce_with_logits(ZL, Y_test), np.nan))
        test_acc.append(np.where(alive, accuracy_from_logits(ZL, Y_test), np.nan))

    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(T):
            Zs, As = forward_rest(eng.preactivation(biases[0]), weights, biases, act)
            J = bce_with_logits(Zs[-1], Y)
            bad = alive & ~np.isfinite(J)
            for k in np.flatnonzero(bad):
                log.info("member %d diverged at iteration %d (cost %s)", k, i, J[k])
                diverged_at[k] = i
                alive[k] = False
                saved[k] = _set_aside(k, eng, weights, biases)
            costs[alive, i] = J[alive]
            if testing and i % eval_every == 0:
                eval_iters.append(i)
                evaluate()
            recording = hooks and i in record
            dZs: list[np.ndarray] | None = [] if recording else None
            dZ1, dWs, dbs = backward(Y, weights, Zs, As, act, alive, dZs)
            if recording:
                st = Step(
                    i, Zs, As, dZs, dWs, dbs, eng.grad_norm(dZ1), eng.weight_norm(),
                    [eng.weight(), *weights[1:]], biases, lr, alive.copy(), J,
                )  # fmt: skip
                for hook in hooks:
                    hook(st)
            eng.update(dZ1, step)
            biases[0] -= lr_d[:, None, None] * dbs[0]
            for l in range(1, len(weights)):
                weights[l] -= lr_d[:, None, None] * dWs[l]
                biases[l] -= lr_d[:, None, None] * dbs[l]
            if progress is not None:
                progress(i)
        ZL = forward_rest(eng.preactivation(biases[0]), weights, biases, act)[0][-1]
        final_cost = np.where(alive, bce_with_logits(ZL, Y), np.nan)
        final_accuracy = np.where(alive, accuracy_from_logits(ZL, Y), np.nan)
        if testing:
            eval_iters.append(T)
            evaluate()
    trained = None
    if return_network:
        weights[0] = eng.weight()
        for k, (Ws, bs) in saved.items():
            for l in range(len(weights)):
                weights[l][k], biases[l][k] = Ws[l], bs[l]
        trained = Network(network.layer_sizes, act, weights, biases)
    seconds = time.perf_counter() - start
    history = History(
        costs=costs,
        final_cost=final_cost,
        final_accuracy=final_accuracy,
        diverged_at=diverged_at,
        engine=name,
        seconds=seconds,
        eval_iterations=eval_iters,
        test_costs=np.array(test_costs).T if testing else None,
        test_accuracy_history=np.array(test_acc).T if testing else None,
    )
    return trained, history


def _set_aside(k, eng, weights, biases) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Copy member k's parameters, then zero its rows so it costs nothing from now on."""
    Ws = [eng.member_weight(k), *(W[k].copy() for W in weights[1:])]
    bs = [b[k].copy() for b in biases]
    eng.freeze(k)
    for W in weights[1:]:
        W[k] = 0.0
    for b in biases:
        b[k] = 0.0
    return Ws, bs


def _check_labels(Y: Any, m: int, name: str) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[None, :]
    if Y.shape != (1, m):
        raise InitlabError(f"{name} has shape {Y.shape}, but X has {m} examples: expected (1, {m})")
    if not np.isin(Y, (0.0, 1.0)).all():
        found = np.unique(Y[~np.isin(Y, (0.0, 1.0))])[:5]
        raise InitlabError(f"{name} must hold labels 0 and 1 only; found {found.tolist()}")
    return Y
