r"""The training loop of a population: batches, optimizer, divergence, evaluation and hooks.

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
inside the loop are not printed: they are counted in ``History.warnings``.

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
from initlab.nn.history import History, Hook, Step
from initlab.nn.lean import ARITHMETICS, LeanStep
from initlab.nn.losses import Head
from initlab.nn.network import Network, backward, forward_rest, logits
from initlab.nn.run_state import _prepare, _Run
from initlab.nn.start import SampleStart

log = logging.getLogger(__name__)
Array = np.ndarray


def train(
    network: Network,
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
    arithmetic: str = "exact",
) -> tuple[Network | None, History]:
    r"""Train every member of `network`; by default, the post's full-batch gradient descent.

    Parameters
    ----------
    network : Network
        The initial population (not modified; a trained copy is returned).
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
    arithmetic : {"exact", "fast"}
        ``"fast"``: plain SGD on the direct engine with one rate per member takes
        :class:`initlab.nn.lean.LeanStep` (fewer passes over memory; the same step up to
        roundings, not the exact path's bits); any other run is exact.

    Returns
    -------
    (Network or None, History)
        Diverged members are returned as they were when they diverged.
    """
    if start is not None and return_network:
        raise InitlabError("train with a start needs return_network=False (W1(0) is not kept)")
    if arithmetic not in ARITHMETICS:
        raise InitlabError(
            f"arithmetic must be one of {', '.join(ARITHMETICS)}; got {arithmetic!r}"
        )
    with threadpool_limits(limits=1, user_api="blas"):
        run = _prepare(
            network, X, Y, learning_rate, iterations, epochs, head, optimizer, batch_size,
            shuffle_seed, engine, divergence_factor, X_test, Y_test, eval_every, start,
        )  # fmt: skip
        t0 = time.perf_counter()
        final, counts = _loop(run, set(record_at), hooks, progress, arithmetic)
        trained = _trained_network(run) if return_network else None
    return trained, _history(run, final, time.perf_counter() - t0, counts)


def _loop(run: _Run, record: set[int], hooks: Sequence[Hook], progress, arithmetic: str) -> tuple:
    """Every step, then the final measurements (step T); floating-point events counted, and
    the steps they occurred at kept, not printed."""
    counts: Counter[str] = Counter()
    steps: dict[str, set[int]] = {}
    at = [0]

    def count(kind: str, _flag: int) -> None:
        counts.update([kind.split()[0]])
        steps.setdefault(kind.split()[0], set()).add(at[0])

    fast = _plain_step(run, arithmetic)
    with np.errstate(all="call", under="ignore", call=count):
        for i in range(run.sched.steps):
            at[0] = i
            if fast is None or i in record:
                _step(run, i, hooks if i in record else ())
            else:
                _fast_step(run, i, fast)
            if progress is not None:
                progress(i)
        at[0] = run.sched.steps
        return _finish(run), (dict(counts), {k: sorted(v) for k, v in steps.items()})


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
        st = Step(
            i, Zs, As, dZs, dW1, dbs, run.eng.grad_norm(dZ1, cols), run.eng.weight_norm(),
            W1, run.biases, run.lr, run.alive.copy(), J, S, run.eng.weight_columns(S),
        )  # fmt: skip
        for hook in hooks:
            hook(st)
    _update(run, dZ1, dWs, dbs, cols)


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


class FirstOnDemand(list):
    """Per-layer arrays whose first (the feature-sized ``dW_1`` or ``W_1``) is formed when
    first read, by a function that gives the step's value whenever it is called (the
    gradient from the step's ``dZ_1``; :meth:`~initlab.nn.engines.SampleEngine.weight_later`),
    so a hook may keep the step."""

    def __init__(self, first: Callable[[], Array], rest: Sequence[Array]) -> None:
        super().__init__([None, *rest])
        self._first: Callable[[], Array] | None = first

    def _fill(self) -> None:
        if self._first is not None:
            first, self._first = self._first, None
            list.__setitem__(self, 0, first())

    def __getitem__(self, i):  # type: ignore[override]
        if (0 in range(len(self))[i]) if isinstance(i, slice) else i in (0, -len(self)):
            self._fill()
        return list.__getitem__(self, i)

    def __iter__(self):
        self._fill()
        return list.__iter__(self)


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


def _check_divergence(run: _Run, i: int, J: Array) -> None:
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


def _set_aside(run: _Run, k: int) -> tuple[list[Array], list[Array]]:
    """Copy member k's parameters, then zero its rows so it costs nothing from now on."""
    first = None if getattr(run.eng, "W0", 0) is None else run.eng.member_weight(k)  # a start
    Ws = [first, *(W[k].copy() for W in run.weights[1:])]
    bs = [b[k].copy() for b in run.biases]
    run.eng.freeze(k)
    for A in (*run.weights[1:], *run.biases):
        A[k] = 0.0
    for state in (run.rest[2], *((run.first[1],) if run.first else ())):
        _optimizers.freeze(state, k)
    return Ws, bs


def _evaluate(run: _Run, i: int) -> None:
    X, Y = run.test
    Z1 = run.eng.preactivation_on(X, run.biases[0])
    ZL = logits(Z1, run.weights, run.biases, run.net.activation)
    iters, costs, accs = run.evals
    iters.append(i)
    costs.append(np.where(run.alive, run.head.loss(ZL, Y), np.nan))
    accs.append(np.where(run.alive, run.head.accuracy(ZL, Y), np.nan))


def _finish(run: _Run) -> tuple[Array, Array]:
    """Final training cost and accuracy on every column, and the last evaluation."""
    Z1 = run.eng.preactivation(run.biases[0])
    ZL = logits(Z1, run.weights, run.biases, run.net.activation)
    cost = np.where(run.alive, run.head.loss(ZL, run.Y), np.nan)
    accuracy = np.where(run.alive, run.head.accuracy(ZL, run.Y), np.nan)
    if run.test is not None:
        _evaluate(run, run.sched.steps)
    return cost, accuracy


def _trained_network(run: _Run) -> Network:
    """The trained population in arrays of its own (no view into the loop's buffers)."""
    weights = [run.eng.weight(), *(W.copy() for W in run.weights[1:])]
    biases = [b.copy() for b in run.biases]
    for k, (Ws, bs) in run.saved.items():
        for l in range(len(weights)):
            weights[l][k], biases[l][k] = Ws[l], bs[l]
    return Network(run.net.layer_sizes, run.net.activation, weights, biases, run.head)


def _history(run: _Run, final: tuple[Array, Array], seconds: float, counts) -> History:
    iters, costs, accs = run.evals
    return History(
        costs=run.costs,
        final_cost=final[0],
        final_accuracy=final[1],
        diverged_at=run.diverged_at,
        engine=run.eng.name,
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
