"""Coordinate checks and learning-rate transfer: the claims of Tensor Programs IV/V on a CI-sized
width ladder, stored results, and the numbers behind the figures."""

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.analysis.coordcheck import DEFAULT_BAND
from initlab.data import load, sample
from initlab.init import parametrization as par
from initlab.report import scaling as plots
from initlab.studies import scaling

LADDER = (32, 64, 128, 256)


@pytest.fixture(scope="module")
def coord():
    return scaling.coord_check(LADDER, ("sp", "mup"), optimizer="sgd", learning_rate=0.5,
                               steps=2, seeds=range(4), n_examples=64, base_width=32)  # fmt: skip


def test_mup_is_flat_in_width_and_sp_output_grows(coord):
    """After one or more SGD steps, under muP every layer's mean |x| has a fitted slope in
    width within +-0.25 (DEFAULT_BAND); under SP the output's slope exceeds it (TP IV: the
    output of SP at a fixed learning rate grows like n)."""
    rows = coord.rows("size")
    mup = [r for r in rows["mup"] if r.step >= 1]
    assert len(mup) == 4 * 2
    for r in mup:
        assert abs(r.slope) <= DEFAULT_BAND, r
    sp_out = [r for r in rows["sp"] if r.step >= 1 and r.layer == "output"]
    for r in sp_out:
        assert r.slope > DEFAULT_BAND and r.verdict == "grows", r
    # at initialization muP's output vanishes like n^-1/2 (its readout variance is 1/n^2)
    out0 = next(r for r in rows["mup"] if r.step == 0 and r.layer == "output")
    assert out0.slope == pytest.approx(-0.5, abs=0.15)


def test_adam_coord_check_mup_flat_sp_output_grows():
    """The same claims under Adam (TP V Table 3's Adam column): muP flat after a step, SP's
    output growing (at width 1024 in the docs: slopes -0.10 and +1.59 at step 1)."""
    result = scaling.coord_check(LADDER, ("sp", "mup"), optimizer="adam", learning_rate=0.01,
                                 steps=2, seeds=range(2), n_examples=64, base_width=32)  # fmt: skip
    rows = result.rows("size")
    for r in rows["mup"]:
        if r.step >= 1:
            assert abs(r.slope) <= DEFAULT_BAND, r
    for r in rows["sp"]:
        if r.step >= 1 and r.layer == "output":
            assert r.slope > DEFAULT_BAND, r


def test_coord_check_round_trip_and_figure_numbers(coord, tmp_path):
    back = scaling.CoordCheck.load(coord.save(tmp_path / "coord_check.json"))
    np.testing.assert_array_equal(back.size, coord.size)
    np.testing.assert_array_equal(back.change, coord.change)
    assert back.layers == coord.layers == ["input", "layer 2", "layer 3", "output"]
    fig = plots.coord_check_figure(back, "size")
    axes = fig.axes
    assert len(axes) == 2 * 3  # parametrizations x steps
    mean = coord.size.mean(axis=-1)
    for i in range(2):
        for t in range(3):
            lines = axes[i * 3 + t].get_lines()
            for l, line in enumerate(lines):
                np.testing.assert_allclose(line.get_xdata(), LADDER)
                np.testing.assert_allclose(line.get_ydata(), mean[i, l, t])
    from initlab.report.html import write_report

    write_report(tmp_path)  # the coordinate-check section alone: its verdicts, from the file
    md = (tmp_path / "report.md").read_text()
    assert "## Coordinate check" in md
    assert "mup size after training, steps 1..2: every layer stable" in md
    assert "mup size at step 0 (the initialization): output vanishes" in md  # n^-1/2 readout
    assert "sp size after training, steps 1..2: output grows" in md
    assert "warning:" not in md  # 4 widths over 8x
    change = plots.coord_check_figure(back, "change")
    assert len(change.axes) == 2 * 2
    np.testing.assert_allclose(change.axes[0].get_lines()[-1].get_ydata(),
                               coord.change.mean(axis=-1)[0, -1, 1])  # fmt: skip


def test_depth_scaling_of_residual_branches():
    """At initialization a ReLU residual MLP's last block grows with depth L when every branch
    has multiplier 1 (Var(x_L) ~ (1 + c)^L), stays bounded with 1/sqrt(L), and equals x_0
    with zero-initialized branches (SkipInit)."""
    X = sample(load("digits10"), 64).X
    last = {}
    for kind in ("constant", "depth"):
        for L in (4, 64):
            arch = scaling.Architecture(depth=L, skip=True, branch_scaling=kind)
            model, _ = arch.build(64, 128, 10, [0, 1], "sp", 128, "sgd")
            _, cache = model.forward(X)
            last[kind, L] = float(np.abs(cache["x"][-1]).mean() / np.abs(cache["x"][0]).mean())
    assert last["constant", 64] > 100 * last["constant", 4]
    assert last["depth", 64] < 2 * last["depth", 4]
    arch = scaling.Architecture(depth=8, skip=True, branch_layers=2, zero_branch=True)
    model, _ = arch.build(64, 128, 10, [0], "mup", 32, "sgd")
    _, cache = model.forward(X)
    np.testing.assert_array_equal(cache["x"][-1], cache["x"][0])


def _transfer(loss):
    P, W, R, S = loss.shape
    return scaling.LrTransfer(["sp", "mup"][:P], [16, 32, 64][:W], [float(k) for k in range(-R, 0)],
                              list(range(S)), loss, np.ones((*loss.shape, 3)), {"steps": 3})  # fmt: skip


def test_optimum_is_the_parabola_vertex_and_round_trips(tmp_path):
    """log loss = (x - c)^2 on an even grid: the refined optimum is c exactly (within half a
    step of the grid's best point); a diverged (inf) neighbour leaves the grid point."""
    x = np.arange(-8.0, 0.0)
    centers = np.array([[-4.3, -5.0, -2.6], [-6.1, -6.2, -5.8]])
    loss = np.exp((x[None, None, :] - centers[..., None]) ** 2)[..., None].repeat(2, axis=-1)
    loss[1, 2, -2:] = np.inf  # the last two rates diverged for one width
    result = _transfer(loss)
    expect = centers.copy()
    np.testing.assert_allclose(result.optimum(), expect, atol=1e-12)
    np.testing.assert_allclose(result.spread(), np.ptp(expect, axis=1), atol=1e-12)
    loss2 = loss.copy()
    loss2[0, 0, 5] = np.inf  # the best point's (-4) right neighbour diverged: no refinement
    assert _transfer(loss2).optimum()[0, 0] == -4.0
    back = scaling.LrTransfer.load(result.save(tmp_path / "lt.json"))
    np.testing.assert_array_equal(back.loss, result.loss)
    fig = plots.lr_transfer_figure(back)
    ax = fig.axes[1]
    lines = ax.get_lines()  # per width: the curve, then its optimum dot
    np.testing.assert_allclose(lines[0].get_ydata(), loss[1, 0].mean(axis=-1))
    k = int(np.argmin(loss[1, 0, :, 0]))
    assert lines[1].get_xdata()[0] == x[k] and lines[1].get_ydata()[0] == loss[1, 0, k, 0]


def test_mup_transfers_the_learning_rate_and_sp_does_not():
    """The default example (Adam, 40 steps of batch 32 on 256 digits), widths 64 and 256:
    the optimum log2 learning rate moves by less than 0.5 under muP and by at least 1 more
    under SP (measured: 0.01 and 1.76; TP V: with Adam, SP's optimum falls like 1/n)."""
    result = scaling.lr_transfer((64, 256), tuple(range(-10, -3)), base_width=64)
    spread = dict(zip(result.parametrizations, result.spread(), strict=True))
    assert spread["mup"] < 0.5
    assert spread["sp"] > spread["mup"] + 1.0
    assert result.optimum()[0, 1] < result.optimum()[0, 0]  # SP: wider wants a smaller rate


def test_cli_coord_check_writes_result_figures_and_verdicts(tmp_path, capsys):
    from initlab.cli import main

    out = tmp_path / "cc"
    args = ["scaling", "coord-check", "--widths", "16", "32", "--steps", "1", "--seeds", "1",
            "--examples", "8", "--depth", "1", "--residual", "--zero-branch", "--base-width", "16",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    result = scaling.CoordCheck.load(out / "coord_check.json")
    assert result.layers == ["input", "block 1", "output"]
    assert result.settings["architecture"]["zero_branch"] is True
    for line in plots.verdict_lines(result):
        assert f"verdict {line}" in printed
    assert "warning: 2 widths spanning 2x (16..32): slopes from fewer than 4 widths" in printed
    assert (out / "coord_check.png").stat().st_size > 0
    (out / "coord_check.png").unlink()
    assert main(["scaling", "figures", str(out / "coord_check.json")]) == 0
    assert (out / "coord_check.png").is_file()
    assert main(["scaling", "table"]) == 0
    assert par.markdown_table().splitlines()[2] in capsys.readouterr().out


def _synthetic(widths, steps, out0_slope):
    """A muP-like result: every size and change flat in width except the output's size at
    step 0, which scales like n^out0_slope."""
    n = np.asarray(widths, dtype=float)
    size = np.full((1, 2, steps + 1, len(widths), 1), 0.5)
    size[0, 1, 0, :, 0] = 0.5 * (n / n[0]) ** out0_slope
    change = np.full_like(size, 0.2)
    change[:, :, 0] = 0.0
    return scaling.CoordCheck(["mup"], list(widths), ["input", "output"], list(range(steps + 1)),
                              [0], size, change)  # fmt: skip


def test_verdicts_name_the_steps_they_summarize_and_report_step_0_apart():
    """Step 0 (the initialization) has its own line, so a layer flagged there in the table is
    not hidden behind 'every layer stable' for the steps after it."""
    lines = plots.verdict_lines(_synthetic((32, 64, 128, 256), 2, -0.5))
    assert lines == [
        "mup size at step 0 (the initialization): output vanishes",
        "mup size after training, steps 1..2: every layer stable",
        "mup change mean |x_t - x_0|, steps 1..2: every layer stable",
    ]
    one = plots.verdict_lines(_synthetic((32, 64, 128, 256), 1, 0.0))
    assert one[0] == "mup size at step 0 (the initialization): every layer stable"
    assert one[1] == "mup size after training, step 1: every layer stable"


def test_short_ladders_are_warned_about(tmp_path):
    from initlab.analysis.coordcheck import ladder_warning
    from initlab.report.html import write_report

    assert ladder_warning((32, 64, 128, 256)) is None  # 4 widths, 8x
    assert ladder_warning((64, 128, 256, 384, 512)) is None
    few = ladder_warning((64, 128, 256))  # 3 widths over 4x: the reviewer's ladder
    assert few.startswith("warning: 3 widths spanning 4x (64..256)")
    assert ladder_warning((100, 200, 300, 400)).startswith("warning: 4 widths spanning 4x")
    assert ladder_warning((16, 1024)).startswith("warning: 2 widths spanning 64x")
    _synthetic((64, 128, 256), 2, -0.5).save(tmp_path / "coord_check.json")
    write_report(tmp_path)
    assert few in (tmp_path / "report.md").read_text()


def test_ntk_or_mup_without_a_base_width_is_one_error_before_any_work(tmp_path, capsys):
    """No default base width (issue 19): the CLI, the library and specs refuse it."""
    from initlab._validation import SpecError
    from initlab.cli import main
    from initlab.specs import spec as spec_mod

    out = tmp_path / "never"
    assert main(["scaling", "coord-check", "--widths", "16", "32", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--base-width N0 is required with --parametrizations ntk mup" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    sp_only = [
        "scaling",
        "lr-transfer",
        "--parametrizations",
        "sp",
        "--widths",
        "8",
        "16",
        "--log2-lrs",
        "-5",
        "-5",
        "--steps",
        "1",
        "--examples",
        "8",
        "--batch-size",
        "4",
    ]
    assert main([*sp_only, "-q"]) == 0  # SP alone needs no base width
    with pytest.raises(InitlabError, match="'mup' needs base_width"):
        scaling.lr_transfer((16, 32), (-5,), ("sp", "mup"))
    raw = {"data": {"train": "digits"}, "model": {"hidden": [8, 8], "parametrization": "mup"}}
    with pytest.raises(SpecError, match=r"parametrization 'mup' needs model\.base_width"):
        spec_mod.parse(raw)


def test_float32_studies_train_in_float32_and_say_so(tmp_path):
    """``dtype="float32"``: every stored loss and coordinate size is a float32 (not float64's
    bits), within float32's rounding grown over the steps of the float64 study's (losses
    after 8 Adam steps: rtol 1e-3, measured 6e-5; sizes after 2 SGD steps: rtol 1e-5,
    measured 3e-7); the settings say float32 (and float64 by default), through the CLI too."""
    from initlab.cli import main

    kw = dict(widths=(16, 32), log2_lrs=(-9, -7, -5), steps=8, seeds=(0, 1), n_examples=128,
              base_width=16)  # fmt: skip
    lt64, lt32 = (scaling.lr_transfer(**kw, dtype=d) for d in ("float64", "float32"))
    kw = dict(widths=(16, 32), seeds=(0, 1), steps=2, n_examples=64, base_width=16)
    cc64, cc32 = (scaling.coord_check(**kw, dtype=d) for d in ("float64", "float32"))
    for a64, a32, rtol in ((lt64.loss, lt32.loss, 1e-3), (lt64.curves, lt32.curves, 1e-3),
                           (cc64.size, cc32.size, 1e-5), (cc64.change, cc32.change, 1e-5)):  # fmt: skip
        assert (a32.astype(np.float32) == a32).all() and not (a64.astype(np.float32) == a64).all()
        np.testing.assert_allclose(a32, a64, rtol=rtol, atol=1e-30)
    assert (lt64.settings["dtype"], cc64.settings["dtype"]) == ("float64", "float64")
    assert (lt32.settings["dtype"], cc32.settings["dtype"]) == ("float32", "float32")
    lt32.save(tmp_path / "lt.json")
    assert scaling.LrTransfer.load(tmp_path / "lt.json").settings["dtype"] == "float32"
    out = tmp_path / "cli"
    assert main(["scaling", "lr-transfer", "--widths", "8", "16", "--log2-lrs", "-5", "-4",
                 "--steps", "2", "--examples", "16", "--batch-size", "8", "--dtype", "float32",
                 "--base-width", "8", "-q", "--out", str(out)]) == 0  # fmt: skip
    stored = scaling.LrTransfer.load(out / "lr_transfer.json")
    assert (
        stored.settings["dtype"] == "float32"
        and (stored.loss.astype(np.float32) == stored.loss).all()
    )
    with pytest.raises(InitlabError, match="dtype must be one of float64, float32"):
        scaling.coord_check(**kw, dtype="float16")
