"""The fused full-batch step on flat buffers (nn.fused.PlainStep, FlatParams) held bit for bit
to the post's gradient descent written out from the formulas with the library's own
forward, backward and engine, member by member; what train returns owns its memory; the
divergence shortcut tests |J| <= limit exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from initlab import init_population
from initlab.nn import engines, fused
from initlab.nn.losses import HEADS
from initlab.nn.network import backward, forward_rest
from initlab.nn.run_state import _prepare
from initlab.nn.training import train

SIZES = {2: [40, 6, 1], 3: [40, 6, 4, 1], 4: [40, 5, 1, 3, 2]}  # L=4: a hidden unit of 1
SCALES = {2: ([0.5, 2.0], [3.0, 0.25]), 3: ([1.0, 0.5, 2.0], [2.0, 1.0, 0.5]),
          4: ([0.5, 1.0, 2.0, 1.5], [1.0, 0.25, 3.0, 0.5])}  # fmt: skip


def reference(net, X, Y, lr, T, scale, bias_scale, engine):
    """Full-batch GD from the formulas: the engine's Z_1, ``forward_rest``, the head's cost
    and dZ, ``backward``, then :math:`\\theta \\leftarrow \\theta - \\eta s_l\\, g` per
    parameter and ``descend`` with :math:`\\eta s_1 / m` for the first layer.
    Returns ``(costs (K, T), weights, biases)``."""
    dtype, head, act = net.dtype, net.head, net.activation
    X, Y = X.astype(dtype), Y.astype(dtype)
    eng = engines.make(engine, net.weights[0], X)
    Ws = [None, *(W.copy() for W in net.weights[1:])]
    bs = [b.copy() for b in net.biases]
    rate = lambda s: (lr * s).astype(dtype)[:, None, None]  # noqa: E731
    costs = []
    for _ in range(T):
        Zs, As = forward_rest(eng.preactivation(bs[0]), Ws, bs, act)
        costs.append(head.loss(Zs[-1], Y))
        dZ1, dWs, dbs = backward(head.dZ(Zs[-1], Y), Ws, Zs, As, act)
        for l in range(len(bs)):
            bs[l] -= rate(bias_scale[l]) * dbs[l]
            if l:
                Ws[l] -= rate(scale[l]) * dWs[l]
        eng.descend(dZ1, (lr * scale[0] / X.shape[1]).astype(dtype))
    return np.array(costs).T.reshape(net.K, T), [eng.weight(), *Ws[1:]], bs


def problem(L, dtype, m=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((SIZES[L][0], m)) / np.sqrt(SIZES[L][0])
    Y = rng.integers(0, 2, (SIZES[L][-1], m)).astype(float)
    members = [("he", 1), ("xavier", 2), ("he", 3)]
    pop = init_population(SIZES[L], members, activation="tanh" if L < 4 else "relu",
                          dtype=dtype, sigma_b2=0.1)  # fmt: skip
    return pop, X, Y


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_fused_and_general_steps_equal_the_formulas_member_by_member(engine, dtype, L, monkeypatch):
    """Per-member rates, per-layer weight and bias rate scales, m = 150 (sums of more than
    one pairwise block), and a member (rate 60) that diverges mid-run and is frozen. Each
    member alive to the end has the costs and parameters of the formulas run on it alone;
    the diverged one, those of the formulas run up to its divergence step, then NaN. The
    fused step must be the one taken without hooks; a hook at every step takes the general
    step on the same buffers, and must give the same bits."""
    pop, X, Y = problem(L, dtype)
    lr, T = np.array([0.05, 0.5, 60.0]), 30
    scale, bias_scale = SCALES[L]
    opt = {"name": "gd", "layer_lr_scale": scale, "bias_lr_scale": bias_scale}
    fused_calls = []
    update = fused.PlainStep.backward_update
    monkeypatch.setattr(fused.PlainStep, "backward_update",
                        lambda self, alive: fused_calls.append(1) or update(self, alive))  # fmt: skip
    kw = dict(learning_rate=lr, iterations=T, engine=engine, optimizer=opt, divergence_factor=3)
    a, ha = train(pop, X, Y, **kw)
    assert len(fused_calls) == T  # every step, the diverging one's too
    b, hb = train(pop, X, Y, record_at=range(T), hooks=[lambda st: None], **kw)
    assert len(fused_calls) == T
    d = int(ha.diverged_at[2])
    assert 0 < d < T - 1 and (ha.diverged_at[:2] == -1).all()  # the case is exercised
    for net, hist in ((a, ha), (b, hb)):
        for k in range(3):
            steps = T if k < 2 else d
            costs, Ws, bs = reference(pop.member(k), X, Y, lr[k : k + 1], steps, scale,
                                      bias_scale, engine)  # fmt: skip
            np.testing.assert_array_equal(hist.costs[k, :steps], costs[0])
            assert np.isnan(hist.costs[k, steps:]).all()
            for P, Q in zip([*net.weights, *net.biases], [*Ws, *bs], strict=True):
                assert P.dtype == dtype
                np.testing.assert_array_equal(P[k], Q[0])


def test_what_train_returns_owns_its_memory():
    """The trained network's arrays are ordinary arrays of their own: writing into the
    training buffers a hook saw (live views) after training changes none of them, and no
    two of them share memory, a diverged member's saved arrays included. (The hook, after
    fused steps, also sees the diverged member's rows still zero, as frozen.)"""
    pop, X, Y = problem(3, np.float64)
    seen = []
    net, hist = train(pop, X, Y, learning_rate=[0.05, 0.5, 60.0], iterations=20,
                      divergence_factor=3, record_at=[19], hooks=[seen.append])  # fmt: skip
    assert hist.diverged_at[2] > 0
    returned = [*net.weights, *net.biases]
    before = [A.copy() for A in returned]
    live = [*seen[0].weights[1:], *seen[0].biases]
    assert all(not A[2].any() for A in live)
    for A in live:
        A[...] = 7.0
    for A, B in zip(returned, before, strict=True):
        np.testing.assert_array_equal(A, B)
        assert A.flags.c_contiguous and A.flags.owndata
    for i, A in enumerate(returned):
        assert not any(np.shares_memory(A, B) for B in returned[i + 1 :])


def test_training_copies_are_blocks_of_one_buffer():
    """_prepare keeps b_1, W_2, b_2, ... as C-contiguous views into one buffer, shared by
    the optimizer's parameter list, with the biases first in the order of dZ's rows; a
    population of several dtypes keeps separate arrays (and the general step)."""
    pop, X, Y = problem(4, np.float32)
    run = _prepare(pop, X, Y, 0.1, 3, None, None, "gd", None, 0, "sample", 1e3, None, None, None)
    flat = run.flat
    assert flat.buffer.dtype == np.float32 and flat.buffer.flags.c_contiguous
    params = run.rest[0]
    assert [p.shape for p in params] == [p.shape for p in flat.ordered()]
    for p, q in zip(params, flat.ordered(), strict=True):
        assert p is q and p.base is flat.buffer and p.flags.c_contiguous
    assert all(W is V for W, V in zip(run.weights[1:], flat.weights[1:], strict=True))
    assert all(b is c for b, c in zip(run.biases, flat.biases, strict=True))
    for A, B in zip([*run.weights[1:], *run.biases], [*pop.weights[1:], *pop.biases],
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(A, B)
        assert not np.shares_memory(A, B)
    nb = pop.K * sum(SIZES[4][1:])
    np.testing.assert_array_equal(flat.buffer[:nb], np.concatenate([b.ravel() for b in pop.biases]))
    assert flat.buffer.size == nb + sum(W.size for W in pop.weights[1:])
    pop.biases[1] = pop.biases[1].astype(np.float64)
    mixed = _prepare(pop, X, Y, 0.1, 3, None, None, "gd", None, 0, "sample", 1e3, None, None,
                     None)  # fmt: skip
    assert mixed.flat is None and mixed.biases[1].dtype == np.float64


@pytest.mark.parametrize("head", ["sigmoid", "linear", "softmax"])
def test_the_divergence_shortcut_is_exactly_abs_cost_within_the_limit(head):
    """PlainStep.within(J, limit) is ``all(|J| <= limit)`` (NaN fails) for any J its head
    can give: for the heads whose costs are never negative (sigmoid and linear, checked
    here on extreme logits) it compares J itself; for the others |J| (a cost of -inf
    must fail)."""
    h = HEADS[head]
    step = SimpleNamespace(head=h)
    limit = np.array([1.0, 1.0, np.finfo(np.float64).max, 2.0])
    cases = [[0.5, 1.0, 1e308, 2.0], [0.5, 1.0 + 1e-15, 0.0, 0.0], [0.5, np.nan, 0.0, 0.0],
             [0.5, 0.0, np.inf, 0.0], [0.0, 0.0, 0.0, -0.0]]  # fmt: skip
    if not h.nonnegative:
        cases += [[0.5, 0.0, -np.inf, 0.0], [-1.5, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 0.0]]
    for J in map(np.array, cases):
        assert fused.PlainStep.within(step, J, limit) == bool((np.abs(J) <= limit).all()), J
    assert h.nonnegative == (head != "softmax")
    if h.nonnegative:
        z = np.array([-800.0, -40.0, -1e-300, -0.0, 0.0, 5e-324, 1e-8, 3.0, 40.0, 800.0,
                      -np.inf, np.inf, np.nan])  # fmt: skip
        Z = np.broadcast_to(z, (2, 1, z.size)).copy()
        rng = np.random.default_rng(0)
        for Y in (np.zeros((1, z.size)), np.ones((1, z.size)), rng.standard_normal((1, z.size))):
            if head == "sigmoid" and not np.isin(Y, (0, 1)).all():
                continue
            with np.errstate(all="ignore"):
                for k in range(z.size):  # each logit alone, so an infinity is not hidden
                    J = h.loss(Z[:, :, k : k + 1], Y[:, k : k + 1])
                    assert not (J < 0).any(), (z[k], Y[0, k], J)
