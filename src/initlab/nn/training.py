r"""The training loop of a population: batches, optimizer, divergence, evaluation and hooks.

It trains every network initlab has: the plain MLP :class:`~initlab.nn.network.Network`
through its engines (:mod:`initlab.nn.engines`), and any :class:`~initlab.nn.model.Model`
(the residual and plain MLPs of :class:`~initlab.nn.residual.ResMLP`) by its own forward
and backward passes, on the direct engine. Each parameter may have a learning-rate factor of
its own (``lr_scale``; a Network's are its optimizer's per-layer factors).

Step :math:`i = 0, \dots, T-1` takes its batch :math:`B_i` (:mod:`initlab.nn.batches`;
all columns by default), computes the cost :math:`J_{B_i}(\theta_i)` of the current
parameters on it, back-propagates the head's :math:`dZ_L`, and updates
:math:`\theta_{i+1}` with the optimizer (:mod:`initlab.nn.optimizers`; the post's gradient
descent by default). So ``costs[:, i]`` is the cost of step i's batch *before* its update
(``costs[:, 0]`` is at initialization) and ``final_cost`` is the cost of the returned
parameters on the whole training set.

Divergence. A member is diverged at step i when its cost there is not finite, or exceeds
``divergence_factor`` times its cost at step 0 (default :math:`10^3`; None keeps only the
non-finite test; a member whose step-0 cost is 0 diverges only when non-finite). It is then
frozen: its parameters are set aside as they were at step i and its rows (and optimizer
buffers) are zeroed for the rest of the run, so it costs nothing and disturbs no other
member; its later costs are NaN. Floating-point overflow, invalid and divide-by-zero events
inside the loop are not printed: they are counted in ``History.warnings``. (The same holds
for a Model: its parameters and optimizer buffers are zeroed and its gradients are zero,
so it stays at zero; hooks see a frozen member's forward pass of zeros, and ``Step.alive``
says which members are frozen. Before this loop, the scaling studies trained a diverged
member on NaNs; every number they store from it, a non-finite cost and what follows it,
is unchanged: stored as inf.)

Hooks get a :class:`~initlab.nn.history.Step` at each step of ``record_at`` (after the
backward pass, before the update), made on no other step; its ``layers`` (what the
diagnostics read; a Model's one more pass back) only when a hook reads them, their
floating-point events uncounted: ``History`` is the same with any hooks.

Determinism. The loop runs its BLAS calls on one thread
(``threadpoolctl.threadpool_limits(1, "blas")``): a population's products are small, and
parallelism comes from members, chunks and processes, which never change a member's
arithmetic. So the same call gives the same bits at any BLAS thread count, and a member's
numbers do not depend on its population (every product is per member, every update
elementwise).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._validation import InitlabError
from initlab.nn import engines as _engines
from initlab.nn import optimizers as _optimizers
from initlab.nn.fused import PlainStep, divergence_limit
from initlab.nn.history import FirstOnDemand, History, Hook, Layers, Step
from initlab.nn.lean import ARITHMETICS, LeanStep
from initlab.nn.losses import Head
from initlab.nn.model import Model
from initlab.nn.network import Network, backward, forward_rest, logits
from initlab.nn.run_state import _ModelRun, _prepare, _prepare_model, _Run, history
from initlab.nn.start import SampleStart
from initlab.nn.workspace import Workspace

log = logging.getLogger(__name__)
Array = np.ndarray


def train(
    network: Network | Model,
    X: Array,
    Y: Array,
    *,
    learning_rate: float | Sequence[float] | Array,
    iterations: int | None = None,
    epochs: int | None = None,
    head: str | Head | None = None,
    optimizer: str | dict | _optimizers.Optimizer = "gd",
    batch_size: int | None = None,
    shuffle_seed: int = 0,
    engine: str = "auto",
    divergence_factor: float | None = 1e3,
    X_test: Array | None = None,
    Y_test: Array | None = None,
    eval_every: int | None = None,
    record_at: Iterable[int] = (),
    hooks: Sequence[Hook] = (),
    progress: Callable[[int], None] | None = None,
    return_network: bool = True,
    start: SampleStart | None = None,
    lr_scale: Sequence[float] | None = None,
    batch_order: str = "epochs",
    arithmetic: str = "exact",
    overwrite: bool = False,
    final: bool = True,
    workspace: Workspace | None = None,
) -> tuple[Network | Model | None, History]:
    r"""Train every member of `network`; by default, the post's full-batch gradient descent.

    Parameters
    ----------
    network : Network or Model
        The initial population (not modified; a trained copy is returned). A
        :class:`~initlab.nn.model.Model` (a :class:`~initlab.nn.residual.ResMLP`) needs a
        `head` and takes the direct engine.
    X, Y : ndarray (n_0, m) and (n_L, m)
        Training inputs and the head's targets, one column per example.
    learning_rate : float or array (K,)
        :math:`\eta`, one for all members or one each.
    iterations, epochs : int
        Exactly one: the number of steps T, or of passes over the data.
    head : str or Head, optional
        Output head and loss (:mod:`initlab.nn.losses`); by default the network's own.
    optimizer : str, dict or Optimizer
        :func:`initlab.nn.optimizers.get_optimizer`'s argument; ``"gd"`` by default.
    batch_size, shuffle_seed : int
        Mini-batches and their seeded order (:mod:`initlab.nn.batches`); full batch by default.
    batch_order : {"epochs", "stream"}
        :class:`~initlab.nn.batches.Schedule`'s order: a seeded permutation per epoch (the
        default), or the scaling studies' one stream of permutations, incomplete batches
        dropped.
    engine : {"auto", "direct", "sample"}
        :mod:`initlab.nn.engines`; the choice and its reason are in the history.
    divergence_factor : float or None
        A member's cost above this multiple of its step-0 cost marks it diverged.
    X_test, Y_test, eval_every
        Held-out data, measured every `eval_every` steps (default T // 100) and at the end.
    record_at, hooks, progress
        Steps at which each hook gets a :class:`Step`; ``progress(i)`` after step i.
    return_network : bool
        With False, None is returned for the network (:math:`W_1` never materialized).
    start : SampleStart, optional
        The sample engine's view of :math:`W_1(0)` gathered member by member
        (:mod:`initlab.nn.start`); ``network.weights[0]`` is then not read (its
        :meth:`~initlab.nn.start.SampleStart.placeholder` will do). Needs engine
        ``"sample"`` and ``return_network=False``, and `X`, `X_test` the arrays it was
        built with.
    lr_scale : sequence of float, optional
        One learning-rate factor per parameter: parameter i of member k moves at
        :math:`\eta_k s_i`. A Model's in the order of its ``params``; a Network's in the order
        ``W_1, b_1, ..., W_L, b_L`` (its optimizer's ``layer_lr_scale`` and
        ``bias_lr_scale``, which it then must not have).
    arithmetic : {"exact", "fast"}
        ``"fast"``: plain SGD on the direct engine with one rate per member takes
        :class:`initlab.nn.lean.LeanStep` (fewer passes over memory; the same step up to
        roundings, not the exact path's bits); any other run is exact.
    overwrite : bool
        A Model only: train `network`'s own parameter arrays in place, without copying the
        population first (it is then the trained population, a diverged member's parameters
        zero); for a caller that does not need the initial one. The same bits.
    final : bool
        With False, the final pass over the whole training set (and the test set) is not
        made: ``final_cost`` and ``final_accuracy`` are NaN (for a caller that measures the
        trained population its own way, as the coordinate check does).
    workspace : Workspace, optional
        A Model only: the forward cache and gradients of an earlier training given it, used
        again when they fit (:class:`initlab.nn.workspace.Workspace`), then this training's
        are left in it. The same bits.

    Returns
    -------
    (Network or None, History)
        Diverged members are returned as they were when they diverged.
    """
    if start is not None and return_network:
        raise InitlabError("train with a start needs return_network=False (W1(0) is not kept)")
    if (overwrite or workspace is not None) and not isinstance(network, Model):
        raise InitlabError("overwrite=True and workspace= are a Model's; a Network is copied")
    if arithmetic not in ARITHMETICS:
        raise InitlabError(
            f"arithmetic must be one of {', '.join(ARITHMETICS)}; got {arithmetic!r}"
        )
    with threadpool_limits(limits=1, user_api="blas"):
        if isinstance(network, Network):
            run: _Run | _ModelRun = _prepare(
                network, X, Y, learning_rate, iterations, epochs, head, optimizer, batch_size,
                shuffle_seed, engine, divergence_factor, X_test, Y_test, eval_every, start,
                lr_scale, batch_order,
            )  # fmt: skip
        elif isinstance(network, Model):
            run = _prepare_model(
                network, X, Y, learning_rate, lr_scale, iterations, epochs, head, optimizer,
                batch_size, shuffle_seed, batch_order, engine, divergence_factor, X_test,
                Y_test, eval_every, start, overwrite, workspace,
            )  # fmt: skip
        else:
            raise InitlabError(
                "train takes a Network or a Model (forward, backward, params: a ResMLP); got "
                f"{type(network).__name__}"
            )
        t0 = time.perf_counter()
        final, counts = _loop(run, set(record_at), hooks, progress, arithmetic, final)
        trained = _trained_network(run) if return_network else None
        if workspace is not None:
            workspace.keep(run.model, run.cache, run.grads)
    return trained, history(run, final, time.perf_counter() - t0, counts)


def _loop(
    run: _Run | _ModelRun,
    record: set[int],
    hooks: Sequence[Hook],
    progress,
    arithmetic: str,
    final: bool = True,
) -> tuple:
    """Every step, then the final measurements (step T); floating-point events counted, and
    the steps they occurred at kept, not printed."""
    counts: Counter[str] = Counter()
    steps: dict[str, set[int]] = {}
    at = [0]

    def count(kind: str, _flag: int) -> None:
        counts.update([kind.split()[0]])
        steps.setdefault(kind.split()[0], set()).add(at[0])

    fast = _plain_step(run, arithmetic) if isinstance(run, _Run) else None
    with np.errstate(all="call", under="ignore", call=count):
        for i in range(run.sched.steps):
            at[0] = i
            if isinstance(run, _ModelRun):
                _model_step(run, i, hooks if i in record else ())
            elif fast is None or i in record:
                _step(run, i, hooks if i in record else ())
            else:
                _fast_step(run, i, fast)
            if progress is not None:
                progress(i)
        at[0] = run.sched.steps
        none = np.full(run.costs.shape[0], np.nan)
        ends = _finish(run) if final else (none, none.copy())
        return ends, (dict(counts), {k: sorted(v) for k, v in steps.items()})


def _step(run: _Run, i: int, hooks: Sequence[Hook]) -> None:
    """One step: forward, cost, divergence, evaluation, backward, hooks, update."""
    cols = run.sched.cols(i)
    Y = run.Y if cols is None else run.Y[:, cols]
    Zs, As = forward_rest(
        run.eng.preactivation(run.biases[0], cols), run.weights, run.biases, run.net.activation
    )
    J = run.head.loss(Zs[-1], Y)
    _check_divergence(run, i, J)
    run.costs[run.alive, i] = J[run.alive]
    if run.test is not None and i % run.eval_every == 0:
        _evaluate(run, i)
    dZs: list[Array] | None = [] if hooks else None
    dZ1, dWs, dbs = backward(
        run.head.dZ(Zs[-1], Y), run.weights, Zs, As, run.net.activation, run.alive, dZs
    )
    if hooks:
        S = _engines.diagnostic_columns(run.X.shape[0])
        dW1 = FirstOnDemand(lambda: run.eng.weight_gradient(dZ1, cols), dWs[1:])
        W1 = FirstOnDemand(run.eng.weight_later(), run.weights[1:])
        g1, w1, WS = run.eng.grad_norm(dZ1, cols), run.eng.weight_norm(), run.eng.weight_columns(S)
        scale = tuple(run.opt.layer_lr_scale or (1.0,) * len(run.weights))
        layers = Layers(Zs, As, dZs, dW1, W1, run.biases, scale, g1, w1, WS)
        Step(
            i, Zs, As, dZs, dW1, dbs, g1, w1, W1, run.biases, run.lr, run.alive.copy(), J, S,
            WS, layer_source=lambda: layers,
        ).call(hooks)  # fmt: skip
    _update(run, dZ1, dWs, dbs, cols)


def _model_step(run: _ModelRun, i: int, hooks: Sequence[Hook]) -> None:
    """One step of a Model: forward, cost, divergence, evaluation, backward, hooks, update
    (a frozen member's gradients are zero)."""
    cols = run.sched.cols(i)
    X, Y = (run.X, run.Y) if cols is None else (run.X[:, cols], run.Y[:, cols])
    model = run.model
    Z, cache = model.forward(X, out=run.cache)  # the last step's arrays, written again
    run.cache = cache
    J = run.head.loss(Z, Y)
    _check_divergence(run, i, J)
    run.costs[run.alive, i] = J[run.alive]
    if run.test is not None and i % run.eval_every == 0:
        _evaluate(run, i)
    dZ = run.head.dZ(Z, Y)
    run.grads = model.backward(dZ, cache, out=run.grads)
    if not run.alive.all():
        for g in run.grads:  # a frozen member's: zero (its forward pass may hold inf)
            g[~run.alive] = 0.0
    if hooks:
        norm = lambda A: np.sqrt(np.square(A).sum(axis=(-2, -1)))  # noqa: E731
        Step(
            i, model.records(cache, Z), [], [], [], [], norm(run.grads[0]),
            norm(model.params[0]), [], [], run.lr, run.alive.copy(), J,
            params=model.params, grads=run.grads,
            layer_source=lambda: run.layers(cache, dZ),
        ).call(hooks)  # fmt: skip
    run.opt.step(model.params, run.grads, run.lrs, run.state)


def _plain_step(run: _Run, arithmetic: str = "exact") -> PlainStep | None:
    """:class:`~initlab.nn.fused.PlainStep` for plain gradient descent (full batch, or
    mini-batches on the direct engine), else None; :class:`~initlab.nn.lean.LeanStep`
    where `arithmetic` is ``"fast"`` and it applies."""
    batches = run.sched.full or run.eng.name == "direct"
    if not (batches and run.plain.all()) or run.flat is None:
        return None
    lean = arithmetic == "fast" and LeanStep.applies(run.eng, run.rest[1], run.step1)
    step = LeanStep if lean else PlainStep
    return step(run.eng, run.flat, run.net.activation, run.head, run.Y, run.rest[1], run.step1)


def _fast_step(run: _Run, i: int, fast: PlainStep) -> None:
    """:func:`_step` without hooks, by `fast`; divergence tested by one comparison per step
    (:meth:`~initlab.nn.fused.PlainStep.within`; the full test at step 0 and when the
    comparison fails)."""
    if not run.sched.full:
        cols = run.sched.cols(i)
        fast.batch(cols, run.Y[:, cols])
    J = fast.forward()[2]
    if i > 0 and run.limit is None:
        run.limit = divergence_limit(run.costs[:, 0], run.bound)
    if run.limit is None or not fast.within(J, run.limit):
        _check_divergence(run, i, J)
    if run.saved:
        run.costs[run.alive, i] = J[run.alive]
    else:
        run.costs[:, i] = J
    if run.test is not None and i % run.eval_every == 0:
        _evaluate(run, i)
    fast.backward_update(run.alive if run.saved else None)


def _update(run: _Run, dZ1: Array, dWs: list, dbs: list, cols: Array | None) -> None:
    """Every parameter's optimizer step (each gradient already divided by the batch size)."""
    params, lrs, state = run.rest
    grads = [dbs[0]]
    for l in range(1, len(run.weights)):
        grads += [dWs[l], dbs[l]]
    run.opt.step(params, grads, lrs, state)
    if run.plain.any():
        step = (run.step1 / dZ1.shape[-1]).astype(run.X.dtype)
        members = None if run.plain.all() else np.flatnonzero(run.plain)
        run.eng.descend(dZ1, step, cols, members)
    if run.first is not None:
        first_lrs, first_state = run.first
        g1 = run.eng.gradient(dZ1, cols, np.flatnonzero(~run.plain))
        run.opt.step(run.eng.params, g1, first_lrs, first_state)


def _check_divergence(run: _Run | _ModelRun, i: int, J: Array) -> None:
    """Mark and freeze the members diverging at step i (see the module docstring)."""
    bad = ~np.isfinite(J)
    if run.bound is not None and i > 0:
        J0 = run.costs[:, 0]
        with np.errstate(all="ignore"):  # bookkeeping: a bound * J0 overflow is no event
            bad |= (J0 > 0) & (J > run.bound * J0)
    for k in np.flatnonzero(run.alive & bad):
        log.info("member %d diverged at step %d (cost %s)", k, i, J[k])
        run.diverged_at[k] = i
        run.alive[k] = False
        run.saved[k] = _set_aside(run, k)


def _set_aside(run: _Run | _ModelRun, k: int) -> tuple[list[Array], list[Array]] | list[Array]:
    """Copy member k's parameters, then zero its rows so it costs nothing from now on."""
    if isinstance(run, _ModelRun):
        kept = [P[k].copy() for P in run.model.params]
        for P in run.model.params:
            P[k] = 0.0
        _optimizers.freeze(run.state, k)
        return kept
    first = None if getattr(run.eng, "W0", 0) is None else run.eng.member_weight(k)  # a start
    Ws = [first, *(W[k].copy() for W in run.weights[1:])]
    bs = [b[k].copy() for b in run.biases]
    run.eng.freeze(k)
    for A in (*run.weights[1:], *run.biases):
        A[k] = 0.0
    for state in (run.rest[2], *((run.first[1],) if run.first else ())):
        _optimizers.freeze(state, k)
    return Ws, bs


def _logits(run: _Run | _ModelRun, X: Array | None = None) -> Array:
    """The logits of every member on the training set, or on `X`."""
    if isinstance(run, _ModelRun):
        return run.model.forward(run.X if X is None else X)[0]
    b1 = run.biases[0]
    Z1 = run.eng.preactivation(b1) if X is None else run.eng.preactivation_on(X, b1)
    return logits(Z1, run.weights, run.biases, run.net.activation)


def _evaluate(run: _Run | _ModelRun, i: int) -> None:
    X, Y = run.test
    ZL = _logits(run, X)
    iters, costs, accs = run.evals
    iters.append(i)
    costs.append(np.where(run.alive, run.head.loss(ZL, Y), np.nan))
    accs.append(np.where(run.alive, run.head.accuracy(ZL, Y), np.nan))


def _finish(run: _Run | _ModelRun) -> tuple[Array, Array]:
    """Final training cost and accuracy on every column, and the last evaluation."""
    ZL = _logits(run)
    cost = np.where(run.alive, run.head.loss(ZL, run.Y), np.nan)
    accuracy = np.where(run.alive, run.head.accuracy(ZL, run.Y), np.nan)
    if run.test is not None:
        _evaluate(run, run.sched.steps)
    return cost, accuracy


def _trained_network(run: _Run | _ModelRun) -> Network | Model:
    """The trained population in arrays of its own (no view into the loop's buffers)."""
    if isinstance(run, _ModelRun):
        model = run.model.copy()
        for k, kept in run.saved.items():
            for P, p in zip(model.params, kept, strict=True):
                P[k] = p
        return model
    weights = [run.eng.weight(), *(W.copy() for W in run.weights[1:])]
    biases = [b.copy() for b in run.biases]
    for k, (Ws, bs) in run.saved.items():
        for l in range(len(weights)):
            weights[l][k], biases[l][k] = Ws[l], bs[l]
    return Network(run.net.layer_sizes, run.net.activation, weights, biases, run.head)
