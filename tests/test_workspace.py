"""Trainings sharing a :class:`~initlab.nn.workspace.Workspace` (one's forward cache and
gradients written again by the next) give every bit of each training alone: records,
gradients, costs and parameters, across a change of shapes and with a diverging member; the
records handed to hooks are never written again."""

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.init.build import init_population
from initlab.init.parametrization import init_model
from initlab.nn.training import train
from initlab.nn.workspace import Workspace

RNG = np.random.default_rng(11)
X, Y = RNG.standard_normal((6, 24)), np.eye(4)[:, RNG.integers(0, 4, 24)]

# (width, seeds, learning rates): the second diverges a member (rate 1e200: NaN at step 1), the third has
# other shapes, the fourth the first's shapes again after it
TRAININGS = [(16, [0, 1], [0.1, 0.2]), (16, [2, 3], [0.1, 1e200]), (24, [0, 1], [0.3, 0.1]),
             (16, [4, 5], [0.2, 0.1])]  # fmt: skip


def _train(width, seeds, lrs, workspace=None, kept=None):
    """Train a fresh population; every step's records and gradients (copied), the history
    and the trained parameters. `kept` gets the records as handed to the hook, with copies."""
    model, s = init_model((6, width, 4), seeds, depth=2, skip=True, optimizer="sgd")
    seen = []

    def hook(st):
        seen.append(([z.copy() for z in st.Zs], [g.copy() for g in st.grads], st.grads))
        if kept is not None:
            kept.extend((z, z.copy()) for z in st.Zs)

    _, h = train(model, X, Y, learning_rate=lrs, lr_scale=s, iterations=4, optimizer="sgd",
                 head="softmax", divergence_factor=None, record_at=range(4), hooks=[hook],
                 return_network=False, overwrite=True, final=False,
                 workspace=workspace)  # fmt: skip
    return seen, h, model.params


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_trainings_sharing_a_workspace_have_the_bits_of_each_alone():
    alone = [_train(*t) for t in TRAININGS]
    assert (alone[1][1].diverged_at >= 0).tolist() == [False, True]  # a member diverges
    ws, kept, last, cache = Workspace(), [], None, None
    for (width, seeds, lrs), (seen0, h0, params0) in zip(TRAININGS, alone, strict=True):
        seen, h, params = _train(width, seeds, lrs, ws, kept)
        assert h.costs.tobytes() == h0.costs.tobytes()
        assert h.diverged_at.tolist() == h0.diverged_at.tolist()
        for (Zs, gs, _), (Zs0, gs0, _) in zip(seen, seen0, strict=True):
            assert all(_same(a, b) for a, b in zip(Zs, Zs0, strict=True))
            assert all(_same(a, b) for a, b in zip(gs, gs0, strict=True))
        assert all(_same(a, b) for a, b in zip(params, params0, strict=True))
        # the gradients are the workspace's arrays: the last training's when the shapes fit
        weights = [g for g, p in zip(seen[0][2], params, strict=True) if p.shape[2] > 1]
        if last is not None and last[0] == width:
            assert all(any(g is G for G in last[1]) for g in weights) and ws.cache is cache
        elif last is not None:
            assert not any(g is G for g in weights for G in last[1]) and ws.cache is not cache
        last, cache = (width, weights), ws.cache
        # the workspace holds this training's arrays only (replaced, never accumulated)
        assert ws.grads is seen[-1][2] and [g.shape for g in ws.grads] == [p.shape for p in params]
    # every record handed to a hook is as it was then, after all later steps and trainings
    assert len(kept) == 4 * 4 * 4 and all(_same(z, c) for z, c in kept)


def test_a_workspace_is_a_models_only():
    net = init_population([6, 8, 4], [("he", 0)], head="softmax")
    with pytest.raises(InitlabError, match="workspace"):
        train(net, X, Y, learning_rate=0.1, iterations=1, workspace=Workspace())
