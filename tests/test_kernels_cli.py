"""``initlab theory kernels`` and the new options of the other studies: what is printed,
stored and reported is what the library computes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.analysis import correlation, empirical_ntk, kernels
from initlab.cli import main
from initlab.report.html import write_report
from initlab.studies import kernel_study
from initlab.studies import kernels as study

SMALL = [
    "theory",
    "kernels",
    "--activation",
    "relu",
    "--sigma-b2",
    "0.1",
    "--hidden-layers",
    "1",
    "--width",
    "16",
    "--train-examples",
    "8",
    "--ntk-widths",
    "16",
    "64",
    "--members",
    "2",
    "--train-widths",
    "16",
    "64",
    "--steps",
    "5",
    "--max-depth",
    "3",
    "-q",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernels")
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def test_kernels_record_holds_the_library_numbers(stored):
    r = kernel_study.read(stored)
    assert (stored / "kernels.png").stat().st_size > 10_000
    X, _, Xt, _ = study.examples(8, 64)
    init = study.gaussian_init(r["sigma_w2"])
    assert r["sigma_w2"] == 2.0  # relu's critical value, at every sigma_b^2
    k = kernels.mlp_kernels(
        np.concatenate([X, Xt], axis=1),
        layer_sizes=[64, 16, 1],
        init=init,
        activation="relu",
        sigma_b2=0.1,
    )
    assert r["summary"]["ntk_diagonal"] == pytest.approx(np.mean(np.diag(k.ntk)), rel=1e-12)
    conv = empirical_ntk.ntk_convergence(
        X, widths=[16, 64], depth=1, init=init, activation="relu", sigma_b2=0.1, members=2, seed=0
    )
    np.testing.assert_allclose(r["convergence"]["errors"], conv["errors"], rtol=1e-12)
    chaotic = r["depth"][2]
    assert chaotic["c_star"] == correlation.depth_scales("relu", 4.0, 0.1).c_star
    assert [t["width"] for t in r["training"]] == [16, 64]
    json.dumps(r, allow_nan=False)  # strict JSON: infinite times and depth scales are null


def test_kernels_prints_its_tables(capsys):
    assert main(SMALL) == 0
    text = capsys.readouterr().out
    for needle in (
        "NNGP posterior mean",
        "NTK GD, t = inf",
        "log-log slope",
        "SP NTK change",
        "degeneration with depth",
    ):
        assert needle in text


def test_report_has_a_kernel_section(stored, tmp_path):
    paths = write_report(stored, tmp_path)
    text = next(p for p in paths if p.suffix == ".html").read_text()
    assert "Infinite-width kernels" in text and "data:image/png;base64" in text


def test_correlation_no_map_prints_the_depth_scales_only(capsys, tmp_path):
    args = ["theory", "correlation", "--activation", "relu", "--sigma-w2", "3", "--no-map"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "c* = 1, chi_c = 1" in text and "xi_c = inf" in text and "c_l per layer" not in text
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_jacobian_weights_runs_one_law(capsys):
    args = [
        "theory",
        "jacobian",
        "--activation",
        "linear",
        "--depths",
        "2",
        "--width",
        "20",
        "--members",
        "1",
        "--weights",
        "orthogonal",
    ]
    assert main(args) == 0
    rows = [ln.split()[0] for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert "orthogonal" in rows and "gaussian" not in rows


def test_deep_linear_criterion_is_used(capsys):
    args = [
        "theory",
        "deep-linear",
        "--train-depths",
        "2",
        "--width",
        "8",
        "--steps",
        "30",
        "--seeds",
        "1",
        "--rates",
        "0.2",
        "--criterion",
        "0.5",
        "-q",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "cost <= 0.5 x its initial value" in text
    from initlab.studies import deeplinear

    cfg = deeplinear.DeepLinearConfig(
        depths=(2,), width=8, steps=30, seeds=1, rates=(0.2,), criterion=0.5
    )
    t = deeplinear.run(cfg)["time"]["orthogonal"][0]
    row = next(ln.split() for ln in text.splitlines() if ln.strip().startswith("2 "))
    assert row[1] == (f"> {30}" if t is None or math.isnan(t) else f"{t:g}")
    assert main([*args[:-3], "--criterion", "1.5"]) == 2


def test_kernels_refuses_a_zero_bias_variance_before_work(capsys):
    assert main(["theory", "kernels", "--sigma-b2", "0", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sigma_b2" in err[0]


def test_kernels_subsets_are_among_the_train_examples(stored, capsys):
    """--train-examples 8: the empirical NTK, the trained networks and the depth table take
    at most those 8 (the defaults, 16 and 32, were cut to 8 in silence and printed as 16 and
    32); a spec asking for more than `train` is refused naming the key, while the config of
    a store made before the check is still read."""
    r = kernel_study.read(stored)
    assert [r["config"][k] for k in study.SUBSETS] == [8, 8, 8]
    assert main(SMALL) == 0
    text = capsys.readouterr().out
    assert "on 8 train inputs" in text and "8 train digits" in text
    assert "16 train inputs" not in text and "32 train" not in text
    with pytest.raises(InitlabError, match=r"^\[kernels\] fit_examples must be <= train "
                       r"\(20, .*got 32$"):  # fmt: skip
        kernel_study.from_spec({"train": 20})
    assert study.KernelConfig(train=20).fit_examples == 32  # an old store's settings
