"""Experiments end to end: populations from a spec, LSUV from a spec, progress, records."""

import itertools

import numpy as np
import pytest
from scipy import stats

from initlab import init_population
from initlab.execution import runner as experiment
from initlab.nn.training import train
from initlab.specs import spec as spec


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


# --------------------------------------------------------------------------- issue 9: classes


def _example(tmp_path, name, **edits):
    """examples/NAME with `edits` (old text -> new text) applied, written into tmp_path."""
    from conftest import REPO

    text = (REPO / "examples" / name).read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_initlab_run_trains_ten_digits_with_adam_and_with_momentum(tmp_path, capsys):
    """The two multi-class examples (one seed each, to stay fast): a 10-unit softmax reaches
    > 90% held-out accuracy; momentum runs on the sample engine, Adam on direct, and the
    reason is recorded; accuracy is the argmax's."""
    import json

    from initlab.cli import main

    results = {}
    for name in ("digits-adam.toml", "digits-momentum.toml"):
        path = _example(tmp_path, name, **{"seeds = 3": "seeds = 1"})
        out = tmp_path / f"{name}.out"
        assert main(["run", str(path), "--out", str(out), "--no-figures", "-q"]) == 0
        results[name] = json.loads((out / "results.json").read_text())
    adam, momentum = results["digits-adam.toml"], results["digits-momentum.toml"]
    assert momentum["engine"] == "sample" and momentum["runs"][0]["optimizer"] == "momentum"
    assert adam["engine"] == "direct" and "adam is not a linear" in adam["engine_reason"]
    assert "engine direct: adam is not a linear combination" in capsys.readouterr().out
    for res in (adam, momentum):
        assert res["n_classes"] == 10 and res["data"]["train"]["n_classes"] == 10
        for rec in res["runs"]:
            assert rec["layer_sizes"] == [64, 32, 32, 10] and rec["output"] == "softmax"
            assert rec["test_accuracy"] > 0.9, (rec["name"], rec["test_accuracy"])
            assert len(rec["cost_history"]) == 10 * 22  # 10 epochs of ceil(1347 / 64) = 22 steps


def test_softmax_accuracy_is_the_argmax_and_targets_are_one_hot():
    s = spec.parse({
        "data": {"train": "digits10", "test_fraction": 0.25},
        "model": {"hidden": [16], "activation": "relu", "output": "softmax"},
        "training": {"learning_rate": 0.5, "iterations": 60, "seed": 0, "diagnostics": False},
        "runs": [{"init": "he"}],
    })  # fmt: skip
    data = experiment.load_data(s)
    Y = experiment.targets(data.train, "softmax", 10)
    assert Y.shape == (10, data.train.n_examples) and (Y.sum(axis=0) == 1).all()
    assert np.array_equal(Y.argmax(axis=0), data.train.Y[0])
    rec = experiment.run(s, data=data)["runs"][0]
    # the same member, trained alone, then scored by hand: argmax of its logits
    net = init_population([64, 16, 10], [("he", 0)], activation="relu", head="softmax")
    trained, _ = train(net, data.train.X, Y, learning_rate=0.5, iterations=60)
    logits = trained.logits(data.test.X)[0]
    assert rec["test_accuracy"] == np.mean(logits.argmax(axis=0) == data.test.Y[0])


def test_outputs_and_labels_that_do_not_fit_are_refused_before_training():
    from initlab import DataError

    s = spec.parse({"data": {"train": "digits10"}, "training": {"iterations": 5},
                    "runs": [{"init": "he"}]})  # fmt: skip
    with pytest.raises(DataError, match=r"model\.output = 'sigmoid' is for two classes .* "
                       r"labels 0\.\.9: use output = 'softmax'"):  # fmt: skip
        experiment.run(s)


def test_a_linear_output_trains_and_has_no_accuracy():
    s = spec.parse({"data": {"train": "digits10"}, "model": {"output": "linear", "hidden": [8]},
                    "training": {"iterations": 20, "learning_rate": 0.05, "diagnostics": False},
                    "runs": [{"init": "xavier"}]})  # fmt: skip
    rec = experiment.run(s)["runs"][0]
    assert rec["layer_sizes"][-1] == 10 and rec["train_accuracy"] is None
    assert rec["cost_history"][-1] < rec["cost_history"][0]


# --------------------------------------------------------------------------- issue 10: memory


def test_a_run_beyond_memory_is_refused_up_front_with_its_estimate(tmp_path, capsys):
    from initlab.cli import main

    path = tmp_path / "huge.toml"
    path.write_text('[data]\ntrain = "digits"\n[model]\nhidden = [100000000]\n'
                    '[training]\niterations = 5\n[[runs]]\ninit = "he"\n')  # fmt: skip
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a population of 1 network 64 x 100000000 x 1 needs about" in err
    assert "GiB is available: refused before any work" in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "hidden,K,optimizer,batch",
    [([200, 50], 8, "adam", None), ([300], 4, "gd", 64), ([64, 64], 16, "momentum", None)],
)
def test_the_memory_estimate_bounds_the_measured_peak(hidden, K, optimizer, batch):
    """tracemalloc sees every NumPy allocation: the estimate is above the measured peak of
    training, and within 3 times it (measured: 1.4 to 1.7 times)."""
    import tracemalloc

    from initlab.execution import budget

    s = spec.parse({"data": {"train": "digits10"}, "model": {"hidden": hidden, "output": "softmax"},
                    "training": {"iterations": 3, "optimizer": optimizer, "batch_size": batch,
                                 "seeds": K, "diagnostics": False, "twins": 0},
                    "runs": [{"init": "he"}]})  # fmt: skip
    data = experiment.load_data(s)
    tracemalloc.start()
    try:
        experiment.train_group(s.runs, data, s.model, s.training)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = budget.estimate_bytes([64, *hidden, 10], K, m=1797, batch=batch, steps=3,
                                optimizer=optimizer, engine="auto")  # fmt: skip
    assert peak < est < 3 * peak


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_public_population_trains_to_the_records_of_train_group(engine):
    """``runner.population`` (what the playground trains with its own hooks) gives, trained
    by ``nn.training.train``, the costs ``train_group`` records, bit for bit, on both
    engines (the sample one: 40 features > 24 examples)."""
    from initlab.data.dataset import Dataset
    from initlab.execution.population import ExperimentData

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 24))
    Y = (rng.random((1, 24)) < 0.5).astype(float)
    data = ExperimentData(Dataset(X, Y, "g", tuple(map(str, range(24)))), None)
    s = spec.parse({
        "data": {"train": "digits"}, "model": {"hidden": [6, 5], "activation": "tanh"},
        "training": {"learning_rate": 0.05, "iterations": 30, "seeds": 2, "engine": engine},
        "runs": [{"name": "he", "init": "he"}, {"name": "r", "init": {"name": "random"}}],
    })  # fmt: skip
    records = experiment.train_group(s.runs, data, s.model, s.training)
    net, kwargs, reason = experiment.population(s.runs, data, s.model, s.training)
    assert kwargs["engine"] == engine and reason == records[0]["engine_reason"]
    _, hist = train(net, **kwargs, return_network=False)
    for k, rec in enumerate(records):
        np.testing.assert_array_equal(hist.costs[k], rec["cost_history"])
