"""Trainability maps (Schoenholz et al. 2017) and deep-linear learning time (Saxe et al. 2014).

Bounds and the margins measured when they were set (seed 0, this machine, 2026-11-29):
- trainability, tanh, width 32, sigma_b^2 = 0.05, 10-class digits (chance 0.1), 200 SGD
  steps at lr 0.05, depth 24: near the critical line (sigma_w^2 = 1.75, 6 xi_c ~ 3e4) the
  test accuracy was 0.85 and 0.78 over two draws (bound: mean > 0.5); deep in the ordered
  phase (sigma_w^2 = 0.5, 6 xi_c = 7.1, depth 24 > 3 x 6 xi_c) it was 0.10 and 0.10, chance
  (bound: mean < 0.2).
- deep linear, width 16, rates eta_0 / D with eta_0 in 0.1 .. 0.4, 300 steps, criterion 5%:
  orthogonal learning time 16 at D = 8 and 20.5 at D = 32 (ratio 1.28; with seed 5: 15.5,
  16, ratio 1.03; bound <= 1.5); Gaussian 89.5 at D = 8 (5.6 x orthogonal; bound >= 3 x)
  and not reached within 300 steps at D = 32 (bound: not reached).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from initlab._validation import InitlabError
from initlab.analysis.correlation import depth_scales
from initlab.cli import main
from initlab.init.build import init_parameters, init_population
from initlab.report import trainability as plots
from initlab.report.html import write_report
from initlab.results.sweep_store import open_store
from initlab.studies import deeplinear, trainability

TINY = trainability.TrainabilityConfig(
    depths=(24, 2), sigma_w2=(0.5, 1.75), width=32, steps=200, seeds=2
)


class _Stop(Exception):
    pass


def _records(out):
    with open_store(out, readonly=True) as s:
        return {c["id"]: (c["record"], c["attempts"]) for c in s.cells()}


@pytest.fixture(scope="module")
def tiny_map(tmp_path_factory):
    """The tiny map, run as an interrupted run (stopped after its first population, one
    depth's 4 members) then resumed: its directory."""
    out = tmp_path_factory.mktemp("trainability")

    def interrupt(stored, failed, total):
        if stored:
            raise _Stop

    with pytest.raises(_Stop):
        trainability.run(TINY, out, progress=interrupt)
    first = {k: v for k, v in _records(out).items() if v[0] is not None}
    assert len(first) == 4 and len(trainability.read(out)["missing"]) == 1
    seen = []
    trainability.run(TINY, out, progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 0, 5)  # the other depth's 4 members and the curve
    after = _records(out)
    assert all(after[k] == v for k, v in first.items())  # not recomputed (one attempt)
    return out


def test_gaussian_biases_follow_their_law_and_leave_the_weights_alone():
    sizes = [30, 400, 400, 300]
    Ws0, bs0 = init_parameters(sizes, "xavier", np.random.default_rng(3))
    Ws, bs = init_parameters(sizes, "xavier", np.random.default_rng(3), sigma_b2=0.05)
    for W0, W in zip(Ws0, Ws, strict=True):
        np.testing.assert_array_equal(W0, W)
    assert all(not b.any() for b in bs0)
    z = np.concatenate([b.ravel() for b in bs]) / np.sqrt(0.05)
    assert z.size == 1100 and stats.kstest(z, "norm").pvalue > 1e-6
    with pytest.raises(InitlabError, match="sigma_b2"):
        init_population(sizes, [("xavier", 0)], sigma_b2=-1.0)


def test_population_draws_the_theorys_weights_and_biases():
    """Each member's hidden weights W_l sqrt(n/sigma_w^2) and biases b_l / sigma_b are N(0, 1):
    KS at alpha = 1e-6 on the 3 x 64 x 64 weights and 3 x 64 biases of each member."""
    config = trainability.TrainabilityConfig(depths=(4,), sigma_w2=(0.5, 4.0), seeds=2)
    net = trainability.population(config, 4, 64, 10, "softmax")
    assert net.K == 4 and net.layer_sizes == (64, 64, 64, 64, 64, 10)
    for k, w2 in enumerate(np.repeat(config.sigma_w2, 2)):
        W = np.concatenate([net.weights[l][k].ravel() for l in range(1, 4)]) * np.sqrt(64 / w2)
        b = np.concatenate([net.biases[l][k].ravel() for l in range(1, 4)]) / np.sqrt(0.05)
        assert stats.kstest(W, "norm").pvalue > 1e-6 and stats.kstest(b, "norm").pvalue > 1e-6
    # common random numbers: every sigma_w^2 of a draw scales the same standard normals
    np.testing.assert_allclose(net.weights[1][2], net.weights[1][0] * np.sqrt(8.0), rtol=1e-14)


def test_deep_nets_train_near_criticality_and_not_deep_in_the_ordered_phase(tiny_map):
    data = trainability.read(tiny_map)
    assert data["missing"] == [] and data["chance"] == 0.1
    acc = data["test_accuracy"][0]  # depth 24: (sigma_w^2, draws)
    assert 24 > 3 * 6 * depth_scales("tanh", 0.5, 0.05).xi_c
    assert acc[0].mean() < 0.2  # ordered: chance
    assert acc[1].mean() > 0.5  # critical: trains
    assert np.all(data["train_accuracy"][1] > 0.5)  # depth 2 trains at every sigma_w^2


def test_stored_curve_is_the_multiple_of_xi_c(tiny_map):
    th = trainability.read(tiny_map)["theory"]
    assert th["multiple"] == 6.0
    for w2, depth in zip(th["sigma_w2"][::20], th["depth"][::20], strict=True):
        assert depth == pytest.approx(6.0 * depth_scales("tanh", w2, 0.05).xi_c, rel=1e-12)


def test_a_member_trained_alone_gets_the_same_numbers(tiny_map):
    alone = trainability.TrainabilityConfig(**{**TINY.as_dict(), "sigma_w2": (1.75,)})
    task = trainability.load_task(alone.task, alone.test_fraction, alone.seed)
    record = trainability.train_depth(alone, 2, task)
    stored = trainability.read(tiny_map)
    assert record["test_accuracy"] == stored["test_accuracy"][1, 1:].tolist()
    whole = trainability.train_depth(TINY, 2, task)  # the depth's whole population
    assert whole["test_accuracy"] == stored["test_accuracy"][1].tolist()


def test_resuming_with_another_configuration_is_refused(tiny_map):
    other = trainability.TrainabilityConfig(**{**TINY.as_dict(), "steps": 10})
    with pytest.raises(InitlabError, match=r"holds another study.*--extend"):
        trainability.run(other, tiny_map)


def test_heat_map_draws_the_stored_means_and_curve(tiny_map):
    data = trainability.read(tiny_map)
    fig = plots.plot_trainability(data)
    for ax, which in zip(fig.axes[:2], ("train_accuracy", "test_accuracy"), strict=True):
        mesh = ax.collections[0].get_array().reshape(2, 2)  # depths sorted: 2, 24
        np.testing.assert_allclose(mesh, data[which].mean(axis=-1)[::-1], rtol=0, atol=0)
        line = ax.lines[0]
        np.testing.assert_array_equal(line.get_xdata(), data["theory"]["sigma_w2"])
        np.testing.assert_array_equal(line.get_ydata(), data["theory"]["depth"])


def test_report_shows_the_trainability_map(tiny_map, tmp_path):
    html, md = write_report(tiny_map, tmp_path)
    assert "Trainability: accuracy over depth x sigma_w^2" in html.read_text()
    assert "sweep.sqlite" in md.read_text()


def test_learning_times_are_first_crossings():
    costs = np.array(
        [
            [4.0, 3.0, 0.3, 0.1],
            [2.0, np.nan, np.nan, np.nan],
            [1.0, 0.9, 0.5, 0.2],
            [1.0, 0.5, 0.1, 0.0],
        ]
    )
    times = deeplinear.learning_times(costs, 0.1)
    np.testing.assert_array_equal(times, [2, np.nan, np.nan, 2])  # at the criterion counts
    np.testing.assert_array_equal(deeplinear.cell_times([[[3, 5], [2, np.nan]]]), [4.0])


@pytest.fixture(scope="module")
def deep_linear(tmp_path_factory):
    out = tmp_path_factory.mktemp("deeplinear")
    args = [
        "theory",
        "deep-linear",
        "--train-depths",
        "8",
        "32",
        "--width",
        "16",
        "--steps",
        "300",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return out


def test_orthogonal_learning_time_is_depth_independent_and_gaussian_grows(deep_linear):
    t = deeplinear.read(deep_linear)["time"]
    orth, gauss = np.array(t["orthogonal"], float), np.array(t["gaussian"], float)
    assert np.all(np.isfinite(orth)) and orth[1] / orth[0] <= 1.5
    assert gauss[0] >= 3 * orth[0]
    assert np.isnan(gauss[1])  # not within 300 steps (> 14 x the orthogonal time)


def test_deep_linear_cli_prints_and_draws_the_stored_times(deep_linear, capsys):
    record = deeplinear.read(deep_linear)
    fig = plots.plot_learning_time(record)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), record["time"]["orthogonal"])
    assert list(ax.lines[1].get_ydata()) == [record["time"]["gaussian"][0]]
    assert list(ax.lines[2].get_ydata()) == [record["config"]["steps"]]  # "more than"
    assert main(["report", str(deep_linear)]) == 0
    assert "Deep linear networks" in (deep_linear / "report.html").read_text()
    assert "sweep.sqlite" in (deep_linear / "report.md").read_text()


def test_trainability_table_prints_each_cells_t_interval_over_draws():
    """With several draws per cell the CLI prints, under the means, each cell's 95% half-width
    of the mean (Student t), as scipy computes it; with one draw, no such table."""
    from scipy import stats

    from initlab.cli._trainmaps import trainability_lines

    acc = np.array([[[0.90, 0.92, 0.94], [0.10, 0.40, 0.70]]])  # (1 depth, 2 sigma_w^2, 3 draws)
    config = {"activation": "tanh", "sigma_w2": [1.0, 4.0], "sigma_b2": 0.05, "multiple": 6,
              "depths": [8], "width": 64, "task": "digits10", "optimizer": "sgd",
              "learning_rate": 0.05, "batch_size": 64, "steps": 300, "seeds": 3}  # fmt: skip
    data = {"config": config, "chance": 0.1, "test_accuracy": acc, "missing": []}
    lines = trainability_lines(data)
    half = stats.t.ppf(0.975, 2) * acc[0].std(axis=1, ddof=1) / np.sqrt(3)
    at = next(i for i, x in enumerate(lines) if x.startswith("+- half-width"))
    row = lines[at + 3].split()
    assert row == ["8", f"{half[0]:.2f}", f"{half[1]:.2f}"]
    means = next(x for x in lines[:at] if x.split()[:1] == ["8"]).split()
    assert means == ["8", "0.92", "0.40"]
    one = trainability_lines(
        {**data, "config": {**config, "seeds": 1}, "test_accuracy": acc[..., :1]}
    )
    assert not any(x.startswith("+- half-width") for x in one)
