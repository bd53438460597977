"""Adam's kept block views and the learning-rate transfer's chunks of members (issue 23, item 4):
both are the plain arithmetic's bits.

Adam's step is held to the whole-array expressions of ``torch.optim.Adam``'s step written out
here (an elementwise rule: the blocks and the kept views must not change a bit), through steps
whose gradients are new arrays (a bias's, recomputed each step) or the same arrays rewritten
(a weight's), with L2 and decoupled decay, in float64 and float32. The transfer trained by
chunks of members is held to the same transfer trained as whole groups.
"""

from __future__ import annotations

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.nn import optimizers
from initlab.nn.optimizers import get_optimizer
from initlab.studies import lrtransfer, scaling


def _reference(P, G, M, V, lr, t, dt, wd=0.0, decoupled=False, b1=0.9, b2=0.999, eps=1e-8):
    """One Adam step on whole arrays: torch's order of operations, initlab's casts."""
    col = lambda x: np.full((P.shape[0], 1, 1), x).astype(dt)  # noqa: E731
    one_b1, one_b2, b2d, epsd, wdd = col(1 - b1), col(1 - b2), col(b2), col(eps), col(wd)
    bc1 = 1 - np.full((P.shape[0], 1, 1), b1) ** t
    bc2 = np.sqrt(1 - np.full((P.shape[0], 1, 1), b2) ** t).astype(dt)
    if decoupled:
        P = P * (1 - lr * wdd)
    elif wd:
        G = G + wdd * P
    M = M + one_b1 * (G - M)
    V = V * b2d + one_b2 * (G * G)
    coef = (lr.astype(np.float64) / bc1).astype(dt)
    return P - coef * (M / (np.sqrt(V) / bc2 + epsd)), M, V


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decay", [None, "l2", "decoupled"])
def test_adam_by_kept_views_is_the_whole_array_step(dtype, decay, monkeypatch):
    """Blocks of 40 numbers: a (3, 7, 9) weight by rows of one member, a (3, 7, 1) bias
    whole; 4 steps, the weight's gradient rewritten in place, the bias's a new array."""
    monkeypatch.setattr(optimizers, "BLOCK", 40)
    rng = np.random.default_rng(0)
    name, wd = ("adamw", 0.05) if decay == "decoupled" else ("adam", 0.01 if decay else 0.0)
    opt = get_optimizer({"name": name, "weight_decay": wd})
    params = [rng.standard_normal(s).astype(dtype) for s in [(3, 7, 9), (3, 7, 1)]]
    lrs = [np.array([1e-3, 1e-2, 0.1], dtype)[:, None, None], np.full((3, 1, 1), 0.05, dtype)]
    state = opt.init_state(params, np.dtype(dtype))
    ref = [(P.copy(), np.zeros_like(P), np.zeros_like(P)) for P in params]
    grads = [np.empty_like(P) for P in params]
    for t in range(1, 5):
        grads[0][...] = rng.standard_normal(grads[0].shape)  # the same array, rewritten
        grads[1] = rng.standard_normal(grads[1].shape).astype(dtype)  # a new array
        opt.step(params, grads, lrs, state)
        for i, (P, M, V) in enumerate(ref):
            ref[i] = _reference(P, grads[i], M, V, lrs[i], t, dtype, wd, decay == "decoupled")
            np.testing.assert_array_equal(params[i], ref[i][0], err_msg=f"step {t}, param {i}")
            assert params[i].dtype == dtype
    assert len(state["views"][0].views) == 3 * 2  # rows of one member: 4 + 3 per member
    assert len(state["views"][1].views) == 1  # 21 numbers: the whole bias


def test_adam_refuses_a_parameter_of_another_dtype():
    P = [np.zeros((2, 3, 3)), np.zeros((2, 3, 1), np.float32)]
    with pytest.raises(InitlabError, match="adam: parameter 1 is float32, the training's dtype"):
        get_optimizer("adam").init_state(P, np.dtype(np.float64))


def test_lr_transfer_by_chunks_of_members_is_the_whole_groups_bits(monkeypatch):
    """Groups of 6 members (3 rates x 2 seeds) trained whole, and by chunks: at a budget of 3
    members of width 32, two chunks of 3 there (width 16: one of 6); at a budget of one, six
    chunks of 1 (width 16: three of 2). The same records."""
    kw = dict(widths=(16, 32), log2_lrs=(-9, -5, -1), steps=6, seeds=(0, 1), n_examples=96,
              base_width=16, parametrizations=("sp", "mup"))  # fmt: skip
    whole = scaling.lr_transfer(**kw)
    model, _ = scaling.Architecture().build(64, 32, 10, [0], "sp", 16, "adam")
    per_member = 4 * sum(P[0].nbytes for P in model.params)  # width 32
    train, calls = lrtransfer.train, []
    monkeypatch.setattr(
        lrtransfer, "train", lambda m, *a, **k: calls.append(m.K) or train(m, *a, **k)
    )
    for share, sizes in ((3, [3] * 4 + [6] * 2), (1, [1] * 12 + [2] * 6)):
        monkeypatch.setattr(lrtransfer, "CHUNK_BYTES", share * per_member)
        calls.clear()
        chunked = scaling.lr_transfer(**kw)
        assert sorted(calls) == sizes
        np.testing.assert_array_equal(chunked.loss, whole.loss)
        np.testing.assert_array_equal(chunked.curves, whole.curves)
