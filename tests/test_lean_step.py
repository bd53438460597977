"""``train(..., arithmetic="fast")`` (:class:`initlab.nn.lean.LeanStep`): the exact step's
training up to roundings, a member's bits independent of its population (a diverging member
included), the same bits at any BLAS thread count, and the exact path wherever it does not
apply.

Tolerance: 40 steps of mini-batch SGD on the digits at rates 0.05..0.5 (well-conditioned, no
chaos); when written, the two arithmetics' costs differed by 4.3e-13 relative at most (bound
1e-11) and their parameters by 1.2e-13 absolute (bound 1e-11 relative + 1e-13).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.init.build import init_population
from initlab.nn import lean
from initlab.nn.training import train
from initlab.studies import _widths

SRC = str(Path(__file__).resolve().parents[1] / "src")
KW = dict(iterations=40, batch_size=50, engine="direct", return_network=True)


def _problem(head="softmax", activation="tanh", members=(("he", 1), ("xavier", 2), ("he", 3))):
    X, Y = _widths.digits(130)
    if head == "sigmoid":
        Y = (X[36:37] > 0.5) * 1.0
    pop = init_population([64, 12, 9, Y.shape[0]], list(members), activation=activation,
                          head=head)  # fmt: skip
    return pop, X, Y


@pytest.mark.parametrize(("activation", "head"), [("tanh", "softmax"), ("relu", "sigmoid")])
def test_fast_is_the_exact_training_up_to_roundings(activation, head, monkeypatch):
    pop, X, Y = _problem(head, activation)
    calls = []
    update = lean.LeanStep.backward_update
    monkeypatch.setattr(lean.LeanStep, "backward_update",
                        lambda self, alive: calls.append(1) or update(self, alive))  # fmt: skip
    lr = [0.05, 0.2, 0.5]
    a, ha = train(pop, X, Y, learning_rate=lr, arithmetic="fast", **KW)
    assert len(calls) == 40  # every step took the lean step
    b, hb = train(pop, X, Y, learning_rate=lr, **KW)
    assert not np.array_equal(ha.costs, hb.costs)  # another arithmetic...
    np.testing.assert_allclose(ha.costs, hb.costs, rtol=1e-11, atol=0)  # ...the same training
    for P, Q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        np.testing.assert_allclose(P, Q, rtol=1e-11, atol=1e-13)


def test_a_members_bits_do_not_depend_on_its_population_nor_on_a_diverging_neighbour():
    """Member ("xavier", 2) trained alone and beside a member that diverges (rate 40,
    frozen at its divergence) and another: the same bits."""
    pop, X, Y = _problem(members=(("he", 1), ("xavier", 2), ("he", 3)))
    alone, *_ = _problem(members=(("xavier", 2),))
    kw = dict(KW, divergence_factor=3, arithmetic="fast")
    a, ha = train(pop, X, Y, learning_rate=[0.05, 0.2, 40.0], **kw)
    assert ha.diverged_at[2] > 0 and ha.diverged_at[1] == -1
    b, hb = train(alone, X, Y, learning_rate=[0.2], **kw)
    assert ha.costs[1].tobytes() == hb.costs[0].tobytes()
    for P, Q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        assert P[1].tobytes() == Q[0].tobytes()


def test_fast_keeps_the_exact_path_where_it_does_not_apply():
    """The sample engine and momentum: the exact path's bits; an unknown arithmetic: an error."""
    pop, X, Y = _problem()
    for kw in ({"engine": "sample", "batch_size": None}, {"optimizer": "momentum"}):
        args = dict(KW, **kw)
        _, ha = train(pop, X, Y, learning_rate=0.1, arithmetic="fast", **args)
        _, hb = train(pop, X, Y, learning_rate=0.1, **args)
        assert ha.costs.tobytes() == hb.costs.tobytes()
    with pytest.raises(InitlabError, match="arithmetic must be one of exact, fast"):
        train(pop, X, Y, learning_rate=0.1, arithmetic="quick", **KW)


STUDY = """
import json
from initlab.studies import trainability as tr
cfg = tr.TrainabilityConfig(depths=(3,), sigma_w2=(1.0, 2.0), width=24, steps=20)
r = tr.train_depth(cfg, 3, tr.load_task(cfg.task, cfg.test_fraction, cfg.seed))
r.pop("seconds")
print(json.dumps(r))
"""


def test_the_default_map_has_the_same_bits_at_one_and_two_blas_threads():
    out = []
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
        run = subprocess.run([sys.executable, "-c", STUDY], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        out.append(json.loads(run.stdout))
    assert out[0]["arithmetic"] == "fast"
    assert out[0] == out[1]
