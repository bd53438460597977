r"""The state of a population's training loop (:class:`_Run`), validated and built once at
the boundary of :func:`initlab.nn.training.train` (:func:`_prepare`), with the optimizer's
parameter groups (:func:`_param_groups`): layers 2..L with :math:`b_1`, and the engine's
first layer, plain gradient descent by ``engine.descend`` or the optimizer on the engine's
coordinates.

The training copies of layers 2..L and of every bias are views into one buffer
(:class:`initlab.nn.fused.FlatParams`) when every parameter has one dtype, so that the
fused step updates them all in one call; the optimizer, the divergence freeze and the hooks
use the views as any arrays. What :func:`~initlab.nn.training.train` returns is copied out.
With parameters of several dtypes they are separate copies, and every step the general one.

A :class:`~initlab.nn.model.Model` (a :class:`~initlab.nn.residual.ResMLP`) has a state of
its own, :class:`_ModelRun` (:func:`_prepare_model`): a training copy of the model, whose
``params`` the optimizer updates with one rate per member and parameter,
:math:`\eta_k s_i` (``lr_scale``), in the parameters' dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.nn import engines as _engines
from initlab.nn import optimizers as _optimizers
from initlab.nn.batches import Schedule
from initlab.nn.fused import FlatParams
from initlab.nn.history import History, Layers
from initlab.nn.losses import Head, get_head
from initlab.nn.model import Model
from initlab.nn.network import Network
from initlab.nn.optimizers import per_member

Array = np.ndarray


@dataclass
class _Run:
    """The loop's state, built once by :func:`_prepare`."""

    net: Network
    head: Head
    X: Array
    Y: Array
    sched: Schedule
    eng: _engines.DirectEngine | _engines.SampleEngine
    reason: str
    weights: list[Array]
    biases: list[Array]
    lr: Array
    opt: _optimizers.Optimizer
    rest: tuple[list[Array], list[Array], dict]  # (params, lrs, state): b_1 and layers 2..L
    first: tuple[list[Array], dict] | None  # (lrs, state) of the engine's params, if generic
    plain: Array  # members whose first layer takes engine.descend
    step1: Array  # lr * scale_1 in float64: descend's step before / |B|
    bound: float | None
    costs: Array
    diverged_at: Array
    alive: Array
    saved: dict[int, tuple[list[Array], list[Array]]] = field(default_factory=dict)
    test: tuple[Array, Array] | None = None
    eval_every: int = 1
    evals: tuple[list[int], list[Array], list[Array]] = field(default_factory=lambda: ([], [], []))
    limit: Array | None = None  # per member, the largest |cost| that is surely no divergence
    flat: FlatParams | None = None  # the buffer behind weights[1:] and biases, if one dtype


@dataclass
class _ModelRun:
    """The loop's state for a :class:`~initlab.nn.model.Model`, built by :func:`_prepare_model`
    (the fields it shares with :class:`_Run` have their names and meanings)."""

    model: Model  # the training copy, updated in place
    head: Head
    X: Array
    Y: Array
    sched: Schedule
    lr: Array
    opt: _optimizers.Optimizer
    lrs: list[Array]  # (K, 1, 1) per parameter: lr * lr_scale[i], in the parameters' dtype
    state: dict
    bound: float | None
    costs: Array
    diverged_at: Array
    alive: Array
    saved: dict[int, list[Array]] = field(default_factory=dict)
    test: tuple[Array, Array] | None = None
    cache: dict | None = None  # the last forward pass's, whose arrays the next reuses
    eval_every: int = 1
    evals: tuple[list[int], list[Array], list[Array]] = field(default_factory=lambda: ([], [], []))
    grads: list[Array] | None = None  # the last step's gradients (their arrays are reused)
    reason: str = "a Model computes its own first layer (its forward multiplies W by X)"
    lr_scale: list[float] | None = None  # s_i per parameter (the diagnostics' update ratio)

    def layers(self, cache: Any, dZ: Array) -> Layers:
        """The model's :class:`~initlab.nn.history.Layers` of this step (its first weight
        matrix also on the diagnostic columns, as a Network's), by arithmetic whose
        floating-point events are not the loop's (``History.warnings`` does not depend on
        the hooks)."""
        with np.errstate(all="ignore"):
            layers = self.model.layers(cache, dZ, self.grads, self.lr_scale)
        S = _engines.diagnostic_columns(self.model.n_in)
        if S.size < self.model.n_in:
            layers.weight_columns_1 = layers.weights[0][:, :, S]
        return layers


def _check_X(X: Array, n_in: int, dtype: np.dtype, name: str = "X") -> Array:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != n_in:
        raise InitlabError(
            f"{name} has shape {X.shape}, but this network expects (n_features={n_in}, "
            "n_examples): one column per example"
        )
    return np.ascontiguousarray(X.astype(dtype, copy=False))


def _prepare_model(
    model, X, Y, learning_rate, lr_scale, iterations, epochs, head, optimizer, batch_size,
    shuffle_seed, batch_order, engine, divergence_factor, X_test, Y_test, eval_every, start,
    overwrite=False, workspace=None,
) -> _ModelRun:  # fmt: skip
    """Validate once at the boundary and build a Model's loop state; with a `workspace`
    (:class:`initlab.nn.workspace.Workspace`), the cache and gradients it holds, if they fit."""
    name = type(model).__name__
    if engine not in _engines.CHOICES:
        raise unknown_name("engine", engine, _engines.CHOICES)
    if engine == "sample" or start is not None:
        raise InitlabError(
            f"the sample engine (and a start) trains the plain Network only; a {name} trains "
            "on the direct engine (engine='auto' or 'direct')"
        )
    if head is None:
        raise InitlabError(f"a {name} has no head of its own: give head= (e.g. 'softmax')")
    head, dtype = get_head(head), model.dtype
    head.check_outputs(model.n_out)
    X = _check_X(X, model.n_in, dtype)
    K, m = model.K, X.shape[1]
    Y = head.check_targets(Y, model.n_out, m, "Y").astype(dtype)
    sched = Schedule(m, iterations, epochs, batch_size, shuffle_seed, batch_order)
    lr = per_member("learning_rate", learning_rate, K, low=0, low_open=True)
    opt = _optimizers.get_optimizer(optimizer)
    if opt.layer_lr_scale is not None or getattr(opt, "bias_lr_scale", None) is not None:
        raise InitlabError(
            f"layer_lr_scale and bias_lr_scale are the plain Network's; give a {name}'s "
            "factors as lr_scale, one per parameter"
        )
    copy = model if overwrite else model.copy()
    scale = _lr_scale(lr_scale, len(copy.params))
    lrs = [(lr * s).astype(dtype)[:, None, None] for s in scale]
    run = _ModelRun(
        copy, head, X, Y, sched, lr, opt, lrs, opt.init_state(copy.params, dtype),
        _bound(divergence_factor), np.full((K, sched.steps), np.nan), np.full(K, -1),
        np.ones(K, dtype=bool), lr_scale=scale,
    )  # fmt: skip
    if X_test is not None:
        X_test = _check_X(X_test, model.n_in, dtype, "X_test")
        Y_test = head.check_targets(Y_test, model.n_out, X_test.shape[1], "Y_test")
        run.test = (X_test, Y_test.astype(dtype))
        run.eval_every = eval_every or max(1, sched.steps // 100)
    if workspace is not None:
        run.cache, run.grads = workspace.take(copy)
    return run


def _lr_scale(lr_scale: Sequence[float] | None, n: int) -> list[float]:
    """One positive learning-rate factor per parameter (all 1 by default)."""
    if lr_scale is None:
        return [1.0] * n
    if isinstance(lr_scale, str) or len(lr_scale) != n:
        raise InitlabError(f"lr_scale must be {n} factors, one per parameter; got {lr_scale!r}")
    return [float(check_number(f"lr_scale[{i}]", s, low=0, low_open=True))
            for i, s in enumerate(lr_scale)]  # fmt: skip


def _network_lr_scale(opt: _optimizers.Optimizer, lr_scale, L: int) -> _optimizers.Optimizer:
    """A plain Network's per-parameter factors ``[W_1, b_1, ..., W_L, b_L]`` as the
    optimizer's ``layer_lr_scale`` (weights) and ``bias_lr_scale`` (biases)."""
    if lr_scale is None:
        return opt
    scale = _lr_scale(lr_scale, 2 * L)
    if opt.layer_lr_scale is not None or getattr(opt, "bias_lr_scale", None) is not None:
        raise InitlabError(
            "give lr_scale or the optimizer's layer_lr_scale/bias_lr_scale, not both"
        )
    if not is_dataclass(opt) or "bias_lr_scale" not in {f.name for f in fields(opt)}:
        raise InitlabError(f"optimizer {opt.name!r} takes no per-parameter factors (lr_scale)")
    return replace(opt, layer_lr_scale=tuple(scale[0::2]), bias_lr_scale=tuple(scale[1::2]))


def _bound(divergence_factor: float | None) -> float | None:
    if divergence_factor is None:
        return None
    return float(check_number("divergence_factor", divergence_factor, low=1))


def _prepare(
    network, X, Y, learning_rate, iterations, epochs, head, optimizer, batch_size,
    shuffle_seed, engine, divergence_factor, X_test, Y_test, eval_every, start=None,
    lr_scale=None, batch_order="epochs",
) -> _Run:  # fmt: skip
    """Validate once at the boundary and build the loop's state."""
    X = np.ascontiguousarray(network._check_X(X))
    head = get_head(network.head if head is None else head)
    head.check_outputs(network.layer_sizes[-1])
    K, m, n_out = network.K, X.shape[1], network.layer_sizes[-1]
    Y = head.check_targets(Y, n_out, m, "Y").astype(network.dtype)
    sched = Schedule(m, iterations, epochs, batch_size, shuffle_seed, batch_order)
    lr = per_member("learning_rate", learning_rate, K, low=0, low_open=True)
    opt = _optimizers.get_optimizer(optimizer)
    opt = _network_lr_scale(opt, lr_scale, len(network.weights))
    name, reason = _engines.choose(
        engine, X.shape[0], m, K, network.layer_sizes[1], sched.steps,
        batch=sched.batch_size, optimizer=opt,
    )  # fmt: skip
    if start is not None:
        X_test_in = None if X_test is None else np.ascontiguousarray(network._check_X(X_test))
        start.check(K, X, X_test_in)
    eng = _engines.make(name, network.weights[0], X, start)
    flat = None
    if len({A.dtype for A in (*network.weights, *network.biases)}) == 1:
        flat = FlatParams.holding(network.weights, network.biases)
        weights, biases = [network.weights[0], *flat.weights[1:]], list(flat.biases)
    else:
        weights = [network.weights[0], *(W.copy() for W in network.weights[1:])]
        biases = [b.copy() for b in network.biases]
    bound = _bound(divergence_factor)
    run = _Run(
        network, head, X, Y, sched, eng, reason, weights, biases, lr, opt,
        *_param_groups(opt, eng, weights, biases, lr),
        bound=bound, costs=np.full((K, sched.steps), np.nan),
        diverged_at=np.full(K, -1), alive=np.ones(K, dtype=bool), flat=flat,
    )  # fmt: skip
    if X_test is not None:
        X_test = np.ascontiguousarray(network._check_X(X_test))
        Y_test = head.check_targets(Y_test, n_out, X_test.shape[1], "Y_test")
        run.test = (X_test, Y_test.astype(network.dtype))
        run.eval_every = eval_every or max(1, sched.steps // 100)
    return run


def _param_groups(opt, eng, weights, biases, lr):
    """The optimizer's parameter groups: layers 2..L with b_1, and the engine's first layer.

    Members whose update is plain gradient descent take ``engine.descend`` for the first
    layer (the post's order of operations); the others the optimizer, on the engine's
    coordinates, with a zero rate for the plain ones (so ``theta - 0 * g`` leaves them).
    """
    K, L, dtype = lr.shape[0], len(weights), weights[-1].dtype
    scale = opt.layer_lr_scale or (1.0,) * L
    bias_scale = getattr(opt, "bias_lr_scale", None) or scale  # a rule may predate the key
    for key, s in (("layer_lr_scale", scale), ("bias_lr_scale", bias_scale)):
        if len(s) != L:
            raise InitlabError(f"{key} has {len(s)} entries; the network has {L} weight layers")
    rate = lambda s: (lr * s).astype(dtype)[:, None, None]  # noqa: E731
    params, lrs = [biases[0]], [rate(bias_scale[0])]
    for l in range(1, L):
        params += [weights[l], biases[l]]
        lrs += [rate(scale[l]), rate(bias_scale[l])]
    plain = opt.plain(K)
    first = None
    if not plain.all():
        first_lr = np.where(plain, 0.0, lr * scale[0]).astype(dtype)[:, None, None]
        first = ([first_lr] * len(eng.params), opt.init_state(eng.params, dtype))
    rest = (params, lrs, opt.init_state(params, dtype))
    return rest, first, plain, lr * scale[0]


def history(run: _Run | _ModelRun, final: tuple[Array, Array], seconds: float, counts) -> History:
    """The :class:`~initlab.nn.history.History` of a finished loop: `final` its final costs
    and accuracies, `counts` its floating-point events and their steps."""
    iters, costs, accs = run.evals
    return History(
        costs=run.costs,
        final_cost=final[0],
        final_accuracy=final[1],
        diverged_at=run.diverged_at,
        engine=run.eng.name if isinstance(run, _Run) else "direct",
        seconds=seconds,
        eval_iterations=iters,
        test_costs=np.array(costs).T if run.test is not None else None,
        test_accuracy_history=np.array(accs).T if run.test is not None else None,
        engine_reason=run.reason,
        optimizer=run.opt.name,
        head=run.head.name,
        batch_size=run.sched.batch_size,
        steps_per_epoch=run.sched.per_epoch,
        warnings=counts[0],
        warning_steps=counts[1],
    )
