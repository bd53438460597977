"""`initlab report`: one self-contained HTML page from stored results, and a Markdown summary."""

import json
import re
import shutil
import subprocess
import textwrap

import pytest

from initlab import InitlabError
from initlab.cli import main
from initlab.report.html import write_report

SPEC = """
[data]
train = "digits"
test_fraction = 0.25

[model]
hidden = [8, 8]
activation = "tanh"

[training]
learning_rate = 0.5
iterations = 40
seeds = 3

[[runs]]
name = "zeros"
init = "zeros"

[[runs]]
name = "xavier"
init = "xavier"

[[runs]]
name = "exploding"
init = { name = "random", scale = 1e200 }
activation = "relu"   # overflows to inf at once: a diverged member, in its own population
seeds = 1
"""


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("exp")
    (d / "exp.toml").write_text(textwrap.dedent(SPEC))
    assert main(["run", str(d / "exp.toml"), "--out", str(d / "out"), "--quiet"]) == 0
    return d / "out"


def test_report_is_self_contained_and_complete(experiment_dir):
    html_path, md_path = write_report(experiment_dir)
    page = html_path.read_text()
    # every figure is embedded; nothing is fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', page)
    runs_with_diag = 3  # first seed of each named run
    assert len(imgs) == 2 + 2 + 1 + 2 * runs_with_diag  # cost x2, accuracy + held-out, theory
    assert "diverged at iteration 0" in page  # the exploding run says so, and nothing crashed
    md = md_path.read_text()
    assert "| zeros | zeros | 1..3 (N=3) |" in md and "| exploding |" in md
    assert re.search(r"\| xavier \| xavier \| 1\.\.3 \(N=3\) \| [0-9.]+ ±[0-9.]+ \|", md)


def test_report_figures_load_in_headless_chromium(experiment_dir, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    html_path, _ = write_report(experiment_dir, tmp_path)
    n = len(re.findall(r"<img ", html_path.read_text()))
    dom = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000", "--dump-dom", html_path.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert f'data-figures-loaded="{n}/{n}"' in dom


def test_report_of_a_directory_without_results(tmp_path):
    with pytest.raises(InitlabError, match="no results in directory"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2


def test_report_refuses_an_unknown_format_version(experiment_dir, tmp_path):
    results = json.loads((experiment_dir / "results.json").read_text())
    results["schema_version"] = 99
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(InitlabError, match="schema version 99"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text('{"runs": []}')
    with pytest.raises(InitlabError, match="not an initlab results file"):
        write_report(tmp_path)


SWEEP = """
[data]
train = "digits"

[model]
hidden = [4]

[training]
iterations = 20

[axes]
init = ["zeros", "he"]
learning_rate = [0.1, 0.5]
activation = ["tanh", "relu"]
seeds = 2
"""


def test_report_of_a_sweep_has_heatmaps_over_chosen_axes(tmp_path):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    out = tmp_path / "out"
    assert (
        main(["sweep", str(tmp_path / "sweep.toml"), "--out", str(out), "--jobs", "1", "-q"]) == 0
    )
    assert main(["report", str(out), "--axes", "init", "learning_rate"]) == 0
    page = (out / "report.html").read_text()
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert captions == [
        "final_cost over init x learning_rate, mean over the rest",
        "train_accuracy over init x learning_rate, mean over the rest",
    ]
    assert "16 runs done, 0 failed, 16 in the sweep" in (out / "report.md").read_text()
    with pytest.raises(InitlabError, match="unknown x_axis 'depth'"):
        write_report(out, axes=("depth", "init"))


def test_cost_figures_and_setup_name_the_head_the_optimizer_and_the_batches():
    """A softmax run on mini-batches: the cost axis says cross-entropy, the step axis the
    batch, the setup line the optimizer; the curve is the stored mean cost. The post's
    defaults keep their words."""
    import numpy as np

    from initlab.execution import runner
    from initlab.report import figures
    from initlab.report.experiment import _schedule
    from initlab.specs import spec

    s = spec.parse({
        "data": {"train": "digits10"},
        "model": {"hidden": [8], "output": "softmax"},
        "training": {"learning_rate": 0.01, "epochs": 2, "batch_size": 300, "seeds": 2,
                     "optimizer": {"name": "momentum", "nesterov": True}, "diagnostics": False},
        "runs": [{"init": "he"}],
    })  # fmt: skip
    results = runner.run(s)
    ax = figures.cost_curves(results).axes[0]
    assert ax.get_ylabel() == "cost (cross-entropy)"
    assert ax.get_xlabel() == "step (mini-batch of 300)"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), results["summary"][0]["cost_mean"])
    assert len(ax.lines[0].get_ydata()) == 2 * 6  # 2 epochs of ceil(1797 / 300) steps
    setup = _schedule(results["spec"]["training"])
    assert setup == "2 epochs of Nesterov momentum 0.9, mini-batches of 300"
    assert _schedule({"iterations": 1000}) == "1000 iterations of full-batch gradient descent"
