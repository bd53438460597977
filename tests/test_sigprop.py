"""Signal propagation in the lab: stored studies, figures from them, CLI, run records, report.

The numbers printed, stored and drawn are held to the library functions that compute them
(and those are held to independent truths in test_correlation.py and test_jacobian.py).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.analysis import correlation as C
from initlab.analysis import jacobian as J
from initlab.analysis import theory as theory
from initlab.cli import main
from initlab.execution import runner as experiment
from initlab.report import sigprop as plots_sigprop
from initlab.report.html import depth_scale_rows, write_report
from initlab.results.records import jsonable
from initlab.specs import spec as spec
from initlab.studies import sigprop


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The three studies, stored by the CLI as users run it (small sizes)."""
    out = tmp_path_factory.mktemp("sigprop")
    assert main(["theory", "critical", "--sigma-b2-grid", "0", "0.05", "--out", str(out)]) == 0
    args = ["theory", "correlation", "--activation", "tanh", "--sigma-w2", "2.5", "--sigma-b2",
            "0.05", "--depth", "4", "--width", "200", "--members", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    args = ["theory", "jacobian", "--activation", "linear", "--depths", "1", "3", "--width",
            "50", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    return out


def test_critical_table_prints_and_stores_the_solved_line(studies, capsys):
    assert (
        main(["theory", "critical", "--activation", "tanh", "relu", "--sigma-b2-grid", "0.05"]) == 0
    )
    text = capsys.readouterr().out
    w2 = theory.critical_sigma_w2("tanh", 0.05)
    assert f"{w2:.6g}" in text and "1.76095" in text and " 2 (q* inf)" in text
    stored = sigprop.read(studies, "critical")
    assert stored["sigma_b2"] == [0.0, 0.05]
    tanh = stored["lines"]["tanh"]
    assert tanh[1]["sigma_w2"] == w2 and tanh[0]["sigma_w2"] == pytest.approx(1.0, rel=1e-9)
    assert stored["lines"]["relu"][1]["q_star"] is None  # inf, stored as null


def test_correlation_study_stores_the_map_depth_scales_and_measurements(studies):
    data = sigprop.read(studies, "correlation")
    m, s = data["map"], data["study"]
    assert m["c_star"] == C.correlation_fixed_point("tanh", 2.5, 0.05)
    assert m["xi_c"] == pytest.approx(C.depth_scales("tanh", 2.5, 0.05).xi_c, rel=1e-12)
    np.testing.assert_allclose(
        m["C"][::20], C.correlation_map("tanh", 2.5, 0.05, np.array(m["c"][::20]))
    )
    measured = np.array(s["measured"])
    assert measured.shape == (3, 5, 5)  # members, c0 (default five), layers 0..4
    np.testing.assert_allclose(measured[:, :, 0], np.broadcast_to(s["c0"], (3, 5)), atol=1e-12)


def test_figures_draw_the_stored_numbers(studies):
    data = sigprop.read(studies, "correlation")
    fig = plots_sigprop.plot_correlation(data)
    left, right = fig.axes[:2]
    _x, y = left.lines[0].get_data()
    np.testing.assert_allclose(y, np.array(data["map"]["C"]) - np.array(data["map"]["c"]))
    np.testing.assert_allclose(right.lines[0].get_ydata(), data["study"]["predicted"][0])
    jac = sigprop.read(studies, "jacobian")
    fig = plots_sigprop.plot_jacobian_spectra(jac)
    assert len(fig.axes) == 2
    for ax, panel in zip(fig.axes, jac["panels"], strict=True):
        sv = np.array(panel["spectra"]["singular_values"])
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"E[$\\sigma^2$] {np.mean(sv[:, 0] ** 2):.3g}" in legend[0]
    gaussian = jac["panels"][0]["theory"]
    assert gaussian[1]["variance"] == pytest.approx(3.0, rel=1e-12)  # linear Gaussian: L
    assert gaussian[1]["x"] is not None  # the Fuss-Catalan density is stored and drawn
    crit = sigprop.read(studies, "critical")
    fig = plots_sigprop.plot_critical_line(crit)
    tanh = next(ln for ln in fig.axes[0].lines if ln.get_label() == "tanh")
    np.testing.assert_allclose(tanh.get_ydata(), [p["sigma_w2"] for p in crit["lines"]["tanh"]])


def test_jacobian_cli_prints_theory_beside_measured(capsys):
    args = ["theory", "jacobian", "--activation", "linear", "--depths", "2", "--width", "30",
            "--members", "1"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    orth = next(ln.split() for ln in lines if ln.strip().startswith("orthogonal"))
    assert orth[:5] == ["orthogonal", "2", "1", "1", "0"]  # exact isometry, printed
    assert float(orth[5]) < 1e-20
    s = J.jacobian_spectra("linear", 1.0, depths=(2,), width=30, members=1, seed=0)
    gauss = next(ln.split() for ln in lines if ln.strip().startswith("gaussian"))
    assert gauss[3] == f"{np.mean(s.singular_values**2):.4g}" and gauss[4] == "2"


def test_stored_files_are_refused_when_foreign(tmp_path):
    (tmp_path / "jacobian.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(
        InitlabError, match=r"not an initlab file of format initlab\.sigprop\.jacobian"
    ):
        sigprop.read(tmp_path, "jacobian")
    with pytest.raises(
        InitlabError,
        match=r"no results at .*critical\.json: run `initlab theory critical --out DIR`",
    ):
        sigprop.read(tmp_path, "critical")
    assert main(["theory"]) == 2  # no study: one clear error


def test_report_shows_the_stored_studies(studies):
    html, md = write_report(studies)
    page = html.read_text()
    assert page.count("<img") == 3 and "Signal propagation studies" in page
    assert "critical.json, sweep.sqlite" in md.read_text()  # correlation, jacobian: studies


def test_run_records_carry_depth_scales():
    s = spec.parse(
        {
            "data": {"train": "digits", "test_fraction": 0.25},
            "model": {"hidden": [8, 8, 8], "activation": "tanh"},
            "training": {"learning_rate": 0.1, "iterations": 2, "diagnostics": False},
            "runs": [
                {"name": "glorot", "init": "glorot_normal"},
                {"name": "zeros", "init": "zeros"},
            ],
        }
    )
    results = experiment.run(s)
    d = results["runs"][0]["theory"]["depth_scales"]
    # hidden-to-hidden 8 -> 8: sigma_w^2 = 2 n/(n + n) = 1 (the input layer's is 2 64/72)
    expected = C.depth_scales("tanh", 1.0, 0.0)
    assert d["sigma_w2"] == pytest.approx(1.0) and d["c_star"] == expected.c_star
    assert d["chi_1"] == pytest.approx(expected.chi_1, rel=1e-12) and d["phase"] == "critical"
    jac = results["runs"][0]["theory"]["jacobian"]  # W_2, W_3: two hidden-to-hidden layers
    expected_jac = J.spectrum_moments("tanh", 1.0, 0.0, 2, "gaussian")
    assert jac["depth"] == 2 and jac["weights"] == "gaussian"
    assert jac["variance"] == pytest.approx(expected_jac.variance, rel=1e-12)
    zeros = results["runs"][1]["theory"]["depth_scales"]
    assert zeros["chi_1"] == 0 and zeros["xi_grad"] == 0 and zeros["phase"] == "ordered"
    rows = depth_scale_rows(json.loads(json.dumps(jsonable(results))))
    assert rows[0][:5] == ["run", "init", "sigma_w^2", "q*", "chi_1"]
    assert rows[1][0] == "glorot" and rows[1][5] == "critical" and rows[1][9] == "inf"
    assert math.isinf(expected.xi_c)


def test_jacobian_cli_does_not_print_an_s_min_below_float64_resolution(capsys):
    # Gaussian linear chains of width 30: s_min / s_max shrinks by ~e^-2.3 per layer, so
    # depth 24 is far below 1e-15 (rounding noise), depth 2 far above it.
    args = ["theory", "jacobian", "--activation", "linear", "--depths", "2", "24",
            "--width", "30", "--members", "2"]  # fmt: skip
    assert main(args) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    rows = {r[1]: r for r in rows if r and r[0] == "gaussian"}
    s = J.jacobian_spectra("linear", 1.0, depths=(2, 24), width=30, members=2, seed=0)
    ratio = s.singular_values.min(axis=-1) / s.singular_values.max(axis=-1)  # (K, depths)
    assert ratio[:, 1].max() < 1e-15 < ratio[:, 0].min()
    assert rows["24"][-3:] == ["<", "1e-15", "s_max"]
    assert rows["2"][-1] == f"{s.singular_values[:, 0].min():.3g}"
