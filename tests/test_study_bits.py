"""The studies' numbers are the bits they were before the per-step temporaries were removed
(issue 23, item 4): kept scratch arrays in the optimizers, weight gradients written into the
previous step's arrays, and the fused plain step on mini-batches of the direct engine.

The trainability map's default arithmetic is ``"fast"`` since (:mod:`initlab.nn.lean`: the
rate folded into the top gradient, other roundings): its pins hold the ``"exact"`` arithmetic,
which must keep main's bits; ``"trainability sgd fast"`` pins the default's own numbers
(computed with this branch's code when the default changed; not main's). The momentum map
never takes the lean step (not plain SGD), so its default is exact.

Every pinned value is the first 16 hex digits of the SHA-256 of the study's numbers, computed
with main's code at commit 15acaae (before the change) on the development machine (x86-64,
OpenBLAS 0.3 through NumPy 2.4; one BLAS thread), by running this file's ``_studies()`` with
``PYTHONPATH`` pointing at that commit's ``src``. A bit changed anywhere in any step changes
the hash. (Another CPU's BLAS kernel may round products differently, see DESIGN.md "Results
that travel": on such a machine, recompute the pins with the old commit the same way.)
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from initlab.data import load, sample
from initlab.init.build import init_population
from initlab.nn import fused, optimizers
from initlab.nn.training import train
from initlab.studies import scaling
from initlab.studies import trainability as tr

PINNED = {
    "trainability sgd": "301a84e5ba3d9233",
    "trainability sgd fast": "36a2d3b70fbf8b5e",
    "trainability momentum sigmoid relu": "257d4068359bdb87",
    "lr transfer adam": "9284f3e18628829e",
    "lr transfer sgd residual": "ef5e3c434f53f987",
    "coord check sgd": "22a5d134e513068d",
    "coord check adam": "387778ca68238edd",
    "train nesterov decay": "cf91ccb34b45e2a0",
    "train adam decay": "b2c9eb1803f816a2",
    "train adamw": "70474e6838623bc0",
}


def _hash(*arrays) -> str:
    d = hashlib.sha256()
    for a in arrays:
        d.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return d.hexdigest()[:16]


def _trainability(**kw) -> str:
    """Two depths of a small map (a diverging sigma_w^2 included), its records' JSON."""
    cfg = tr.TrainabilityConfig(
        depths=(2, 6), sigma_w2=(0.5, 1.5, 6.0), width=16, steps=40, seeds=2, batch_size=64, **kw
    )
    task = tr.load_task(cfg.task, cfg.test_fraction, cfg.seed)
    records = [tr.train_depth(cfg, d, task) for d in cfg.depths]
    for r in records:  # the record's numbers (dtype, arithmetic: keys added since)
        r.pop("seconds"), r.pop("dtype", None), r.pop("arithmetic", None)
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]


def _studies() -> dict[str, str]:
    out = {
        "trainability sgd": _trainability(arithmetic="exact"),
        "trainability sgd fast": _trainability(),
        "trainability momentum sigmoid relu": _trainability(
            optimizer="momentum", task="digits", activation="relu", learning_rate=0.2
        ),
    }
    lt = scaling.lr_transfer(
        widths=(16, 32), log2_lrs=(-9, -5, -1), steps=8, seeds=(0, 1), n_examples=128,
        base_width=16,
    )  # fmt: skip
    out["lr transfer adam"] = _hash(lt.loss, lt.curves)
    residual = scaling.Architecture(depth=2, skip=True, branch_layers=2, branch_scaling="learnable")
    lt = scaling.lr_transfer(
        widths=(16, 32), log2_lrs=(-4, 0, 4), steps=8, seeds=(0,), n_examples=128,
        optimizer="sgd", architecture=residual, base_width=16,
    )  # fmt: skip
    out["lr transfer sgd residual"] = _hash(lt.loss, lt.curves)
    cc = scaling.coord_check(widths=(16, 32), seeds=(0, 1), steps=2, n_examples=64, base_width=16)
    out["coord check sgd"] = _hash(cc.size, cc.change)
    cc = scaling.coord_check(
        widths=(16, 32), seeds=(0,), steps=2, n_examples=64, optimizer="adam",
        learning_rate=0.01, parametrizations=("mup",), base_width=16,
    )  # fmt: skip
    out["coord check adam"] = _hash(cc.size, cc.change)
    ds = sample(load("digits10"), 200)
    X, Y = ds.X, ds.one_hot()
    optimizers = {
        "nesterov decay": {"name": "momentum", "nesterov": True, "weight_decay": 1e-3},
        "adam decay": {"name": "adam", "weight_decay": 1e-3},
        "adamw": "adamw",
    }
    for name, opt in optimizers.items():
        members = [("he", s) for s in range(3)]
        net = init_population([64, 24, 24, 10], members, activation="tanh", head="softmax")
        _, hist = train(
            net, X, Y, learning_rate=[0.01, 0.1, 1.0], iterations=12, optimizer=opt, batch_size=50
        )
        out["train " + name] = _hash(hist.costs, hist.final_cost)
    return out


@pytest.mark.parametrize("block", [None, 100])
def test_the_studies_numbers_are_the_bits_of_main_before_the_change(block, monkeypatch):
    """Also with Adam's parameters updated by blocks of about 100 numbers (one member's rows,
    the last block of a member shorter): the blocks must not change a bit."""
    if block is not None:
        monkeypatch.setattr(optimizers, "BLOCK", block)
        calls = []
        blocks = optimizers._blocks
        monkeypatch.setattr(optimizers, "_blocks", lambda *a: calls.append(1) or blocks(*a))
    assert _studies() == PINNED
    if block is not None:
        assert len(calls) > 100  # Adam ran (blocks of many parameters)


@pytest.mark.parametrize(("activation", "head"), [("tanh", "sigmoid"), ("relu", "softmax")])
def test_mini_batches_take_the_fused_step_with_the_general_steps_bits(
    activation, head, monkeypatch
):
    """Mini-batch plain SGD on the direct engine takes nn.fused.PlainStep (batches of two
    widths: 50 columns and the epoch's last 30), and a hook at every step forces the general
    step: every cost, divergence, test cost and parameter must be equal, with a member that
    diverges (rate 40, factor 3) and is frozen while the others train on."""
    X = sample(load("digits10"), 130).X
    rng = np.random.default_rng(3)
    Y = np.eye(4)[rng.integers(0, 4, 130)].T if head == "softmax" else (X[36:37] > 0.5) * 1.0
    pop = init_population([64, 12, 9, Y.shape[0]], [("he", 1), ("xavier", 2), ("he", 3)],
                          activation=activation, head=head)  # fmt: skip
    calls = []
    update = fused.PlainStep.backward_update
    monkeypatch.setattr(fused.PlainStep, "backward_update",
                        lambda self, alive: calls.append(self.m) or update(self, alive))  # fmt: skip
    kw = dict(learning_rate=[0.05, 0.5, 40.0], iterations=25, batch_size=50, engine="direct",
              divergence_factor=3, X_test=X[:, :20], Y_test=Y[:, :20], eval_every=4)  # fmt: skip
    a, ha = train(pop, X, Y, **kw)
    assert sorted(set(calls)) == [30, 50] and len(calls) == 25
    b, hb = train(pop, X, Y, record_at=range(25), hooks=[lambda st: None], **kw)
    assert ha.diverged_at[2] > 0 and (ha.diverged_at[:2] == -1).all()  # the case is exercised
    for key in ("costs", "diverged_at", "final_cost", "test_costs"):
        np.testing.assert_array_equal(getattr(ha, key), getattr(hb, key), err_msg=key)
    for P, Q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        np.testing.assert_array_equal(P, Q)


def test_a_float32_map_trains_in_float32_and_says_so(tmp_path):
    """``dtype="float32"``: every number of the map is a float32 (not float64's bits), within
    float32's rounding of the float64 map on well-conditioned cells; the configuration and
    every depth's record say float32; the float64 map is another study (other cells)."""
    kw = dict(depths=(3,), sigma_w2=(1.0, 2.0), width=16, steps=40, seeds=1)
    task = tr.load_task("digits10", 0.2, 0)
    r64 = tr.train_depth(tr.TrainabilityConfig(**kw), 3, task)
    r32 = tr.train_depth(tr.TrainabilityConfig(**kw, dtype="float32"), 3, task)
    assert (r64["dtype"], r32["dtype"]) == ("float64", "float32")
    c64, c32 = np.array(r64["final_cost"]), np.array(r32["final_cost"])
    assert (c32.astype(np.float32) == c32).all() and not (c64.astype(np.float32) == c64).all()
    np.testing.assert_allclose(c32, c64, rtol=1e-5)
    tr.run(tr.TrainabilityConfig(**kw, dtype="float32"), tmp_path / "a")
    assert tr.read(tmp_path / "a")["config"]["dtype"] == "float32"
    # the dtype is part of every member cell's id: a float64 store is another study's
    with pytest.raises(tr.InitlabError, match="holds another study"):
        tr.run(tr.TrainabilityConfig(**kw), tmp_path / "a")


@pytest.mark.parametrize("stream", ["default", "legacy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_drawing_into_a_stacked_array_gives_the_initializers_numbers(stream, dtype):
    """``Initializer.draw_into`` (how populations are drawn): the numbers of a call, and the
    generator left in the same state, for a scaled normal (its ``fill``), a uniform and a
    truncated normal (no fill), an orthogonal matrix; Generator and legacy RandomState."""
    from initlab._rng import make_rng
    from initlab.init import catalogue

    for name in ("he", "lecun_uniform", "truncated_normal", "orthogonal", "random"):
        init = catalogue.get(name)
        a, b = make_rng(5, stream), make_rng(5, stream)
        out = np.full((3, 7, 5), np.nan, dtype=dtype)
        init.draw_into(out[1], a)
        expected = init((7, 5), b, dtype)
        assert out[1].tobytes() == expected.tobytes(), name
        assert np.isnan(out[[0, 2]]).all()  # only the member's slice is written
        assert a.standard_normal(3).tobytes() == b.standard_normal(3).tobytes(), name
