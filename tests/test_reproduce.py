"""`initlab reproduce` on the post's 100 images prints the post's numbers.

Zeros and random x 10 are not chaotic: their costs must match the post's printed costs to
8 significant digits. He and Xavier are chaotic at this learning rate: rounding-level
differences grow until iteration ~30 decides the run (see the README). Their digits are
not checked, and neither is one run's accuracy: training runs BLAS on one thread (issue #10:
the same bits at any thread count); in that rounding variant the direct engine's He run
stalls at 98% (Xavier 99%), and the default (sample) engine's at 98% (Xavier 100%).
Their >= 99% training accuracy is checked as the distribution over perturbed replicas,
which does not depend on rounding.
"""

import json
import re

import numpy as np
import pytest

import initlab
from initlab.cli import main
from initlab.nn.training import train

POST_COSTS = {
    "zeros": [0.6931471805599453] * 10,
    "random": [
        1.2413142077549013,
        1.1258751902393416,
        1.0989052435267657,
        1.0840966471282327,
        1.0706953292105978,
        1.0574847320236294,
        1.0443168708889223,
        1.031157857251139,
        1.0179838815204902,
        1.004767088515343,
    ],
}
POST_ACCURACY = {"zeros": 0.50, "random": 0.55}


def same_8_digits(a, b):
    return abs(a - b) <= 5e-9 * abs(b)


@pytest.mark.slow
def test_reproduce_prints_the_posts_numbers(
    cats_vs_dogs_dir, tmp_path, capsys, default_blas_threads
):
    out = tmp_path / "out"
    argv = ["reproduce", "--data", str(cats_vs_dogs_dir), "--out", str(out), "--quiet"]
    assert main(argv) == 0  # with BLAS's default threads, as `initlab reproduce` runs
    text = capsys.readouterr().out
    # the post's printout: per run, the cost every 100 iterations, then the accuracy
    blocks = dict(re.findall(r"\n(\w+) initialization\n((?:The cost.*\n)+The accuracy.*)", text))
    assert set(blocks) == {"zeros", "random", "he", "xavier"}
    for name, costs in POST_COSTS.items():
        printed = [float(c) for c in re.findall(r"iterations is: (\S+)", blocks[name])]
        assert len(printed) == 10
        for ours, post in zip(printed, costs, strict=True):
            assert same_8_digits(ours, post), (name, ours, post)
        assert f"The accuracy rate is: {100 * POST_ACCURACY[name]:.2f}%." in blocks[name]

    results = json.loads((out / "results.json").read_text())
    runs = {r["name"]: r for r in results["runs"]}
    assert results["data"]["train"]["n_examples"] == 100
    for name, costs in POST_COSTS.items():
        hist = runs[name]["cost_history"]
        assert len(hist) == 1000
        assert all(
            same_8_digits(hist[i], c) for i, c in zip(range(99, 1000, 100), costs, strict=True)
        )
        assert runs[name]["train_accuracy"] == POST_ACCURACY[name]
        assert runs[name]["test_accuracy"] is None
    assert {p.name for p in out.glob("*.png")} >= {
        "cost_curves.png",
        "cost_zeros.png",
        "cost_he.png",
    }


def test_offline_main_job_uses_bundled_digits(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path / "empty-cache"))
    out = tmp_path / "out"
    assert main(["reproduce", "--out", str(out), "--quiet", "--engine", "sample"]) == 0
    captured = capsys.readouterr()
    assert "bundled digits" in captured.err
    assert "digits" in captured.out and "The accuracy rate is" in captured.out
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["train"]["n_features"] == 64
    assert [r["name"] for r in results["runs"]] == ["zeros", "random", "he", "xavier"]
    assert (out / "cost_curves.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_he_and_xavier_reach_99_percent_over_perturbed_replicas(cats_vs_dogs, init):
    """The post's claim as a distribution: 32 replicas of the post's network whose W1 is
    perturbed by 1e-12 (relative; replica 0 unperturbed), trained as one population. More
    than half reach >= 99% training accuracy (examples/chaos.py: 84% of 128 for He, 93%
    for Xavier), so the median does."""
    X, Y = cats_vs_dogs.X, cats_vs_dogs.Y
    pop = initlab.init_population([X.shape[0], 5, 5, 1], [(init, 1)] * 32, stream="legacy")
    noise = np.random.default_rng(0).standard_normal(pop.weights[0][1:].shape)
    pop.weights[0][1:] *= 1 + 1e-12 * noise
    trained, _ = train(pop, X, Y, learning_rate=0.01, iterations=1000, engine="sample")
    acc = trained.accuracy(X, Y)
    assert np.median(acc) >= 0.99 and np.mean(acc >= 0.99) > 0.5, np.sort(acc)
