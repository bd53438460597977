"""Experiments end to end: populations from a spec, LSUV from a spec, progress, records."""

import itertools

import numpy as np
import pytest
from scipy import stats

from initlab import init_population
from initlab.experiment import runner as experiment
from initlab.experiment import spec as spec
from initlab.nn.training import train


def small_spec(**training):
    return spec.parse(
        {
            "data": {"train": "digits", "test_fraction": 0.25, "split_seed": 3},
            "model": {"hidden": [6, 6], "activation": "tanh"},
            "training": {"learning_rate": 0.5, "iterations": 30, "seed": 2, **training},
            "runs": [
                {"name": "lsuv", "init": {"name": "lsuv", "tol": 0.05}},
                {"name": "he", "init": "he", "seeds": 2},
                {"name": "relu he", "init": "he", "activation": "relu"},
            ],
        }
    )


def test_runs_of_a_spec_match_training_each_alone():
    s = small_spec()
    data = experiment.load_data(s)
    calls = []
    results = experiment.run(s, data=data, progress=lambda done, total: calls.append((done, total)))
    recs = results["runs"]
    assert [(r["name"], r["seed"]) for r in recs] == [
        ("lsuv", 2),
        ("he", 2),
        ("he", 3),
        ("relu he", 2),
    ]
    # progress reaches the total (two populations: tanh and relu), monotonically
    assert calls[-1] == (60, 60) and all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    # each member equals the same network trained alone
    X, Y = data.train.X, data.train.Y
    alone = init_population([64, 6, 6, 1], [("he", 3)], activation="tanh")
    _, hist = train(
        alone, X, Y, learning_rate=0.5, iterations=30, X_test=data.test.X, Y_test=data.test.Y
    )
    np.testing.assert_array_equal(recs[2]["cost_history"], hist.costs[0])
    assert recs[2]["test_accuracy"] == hist.test_accuracy_history[0, -1]
    assert recs[2]["train_accuracy"] == hist.final_accuracy[0]


def test_lsuv_from_a_spec_is_recorded():
    results = experiment.run(small_spec())
    rec = results["runs"][0]
    assert rec["init"] == "lsuv" and rec["params"] == {"tol": 0.05}
    assert all(all(row) for row in rec["lsuv"]["converged"])
    assert rec["theory"]["available"] is False  # data-dependent: no a-priori prediction
    # LSUV brought the variance of every layer's pre-activations on the training batch to
    # within tol of 1: the diagnostics at iteration 0 measure the same thing independently
    for layer, variance in enumerate(rec["lsuv"]["variances"]):
        z_std = rec["diagnostics"]["z_std"][layer][0]
        assert abs(z_std**2 - 1) < 0.05
        assert z_std**2 == pytest.approx(variance[0], rel=1e-9)


def test_summary_over_seeds():
    results = experiment.run(small_spec(diagnostics=False))
    he = next(s for s in results["summary"] if s["name"] == "he")
    costs = np.array([r["cost_history"] for r in results["runs"] if r["name"] == "he"])
    np.testing.assert_allclose(he["cost_mean"], costs.mean(axis=0), rtol=1e-12)
    finals = [r["final_cost"] for r in results["runs"] if r["name"] == "he"]
    low, high = stats.t.interval(0.95, len(finals) - 1, np.mean(finals), stats.sem(finals))
    assert he["final_cost"]["n"] == 2
    assert he["final_cost"]["low"] == pytest.approx(low, rel=1e-12)
    assert he["final_cost"]["high"] == pytest.approx(high, rel=1e-12)
    lsuv = next(s for s in results["summary"] if s["name"] == "lsuv")
    assert lsuv["final_cost"]["low"] is None  # one seed: no interval


@pytest.mark.slow
def test_engines_and_populations_agree_on_the_posts_data(cats_vs_dogs):
    """Non-chaotic settings on the post's images: zeros, random x 10, and He at a small
    learning rate. Population and sample-space training reproduce the single-model direct
    engine's cost histories to 1e-9 relative."""
    X, Y = cats_vs_dogs.X, cats_vs_dogs.Y
    members = [("zeros", 1), ({"name": "random", "scale": 10}, 1), ("he", 1)]
    lrs = [0.01, 0.01, 0.0005]
    T = 150
    pop = init_population([X.shape[0], 5, 5, 1], members, activation="tanh", stream="legacy")
    _, sample = train(pop, X, Y, learning_rate=lrs, iterations=T, engine="sample")
    for k in range(3):
        _, direct = train(pop.member(k), X, Y, learning_rate=lrs[k], iterations=T, engine="direct")
        np.testing.assert_allclose(sample.costs[k], direct.costs[0], rtol=1e-9)
