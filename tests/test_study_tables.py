"""The signal-propagation studies' tables in ``initlab report DIR``: each table the command
prints is in the report beside its figure, as an HTML table (escaped) whose cells are the
numbers stored in the study's store, read back here independently of the report (through
the results API, :func:`initlab.results.table.cell_rows`, and
:func:`initlab.execution.study.records`) and formatted as the command formats them.

Tiny studies (seconds). That the commands print the same bytes as before the tables moved
to :mod:`initlab.report` is held by the docs' console blocks (tests/test_docs.py) and the
studies' CLI tests; here, that the printed table is the report's, row for row.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from initlab.cli import main
from initlab.execution.study import records
from initlab.report.html import write_report
from initlab.results.table import cell_rows

SIGPROP = [
    ["theory", "critical", "--activation", "tanh", "relu", "--sigma-b2-grid", "0", "0.05"],
    ["theory", "correlation", "--activation", "tanh", "--sigma-w2", "2.5", "--sigma-b2", "0.05",
     "--c0", "0.2", "0.9", "--depth", "4", "--width", "40", "--members", "3"],
    ["theory", "jacobian", "--activation", "linear", "--sigma-b2", "0", "--sigma-w2", "1",
     "--depths", "2", "60", "--width", "12", "--members", "2", "-q"],
]  # fmt: skip
TRAINABILITY = ["theory", "trainability", "--train-depths", "2", "4", "--sigma-w2-grid", "0.5",
                "1.75", "--width", "8", "--steps", "20", "--seeds", "2", "-q"]  # fmt: skip
KERNELS = ["theory", "kernels", "--activation", "relu", "--sigma-b2", "0.1", "--hidden-layers",
           "1", "--width", "16", "--train-examples", "8", "--ntk-widths", "16", "64",
           "--members", "2", "--train-widths", "16", "64", "--steps", "5", "--max-depth", "3",
           "-q"]  # fmt: skip
DEEP_LINEAR = ["theory", "deep-linear", "--train-depths", "1", "2", "--width", "8", "--steps",
               "30", "--seeds", "2", "--rates", "0.1", "1", "-q"]  # fmt: skip


def _run(argv: list[str]) -> list[str]:
    """The lines ``initlab ARGV`` prints (exit status 0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue().splitlines()


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cell texts (unescaped), header row first."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _report(directory) -> tuple[str, dict[str, list[list[list[str]]]]]:
    """The report's HTML and its tables by their first header cell, in page order."""
    page = write_report(directory)[0].read_text()
    parser = _Tables()
    parser.feed(page)
    tables: dict[str, list] = {}
    for t in parser.tables:
        tables.setdefault(t[0][0], []).append(t)
    return page, tables


def _printed_rows(lines: list[str], header: list[str]) -> list[list[str]]:
    """The rows of the printed table whose header is `header` (columns two spaces apart;
    a cell holds single spaces only), up to the blank line after it."""
    split = [re.split(r" {2,}", x.strip()) for x in lines]
    start = split.index(header)
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return split[start:end]


@pytest.fixture(scope="module")
def sigprop_dir(tmp_path_factory):
    """critical, correlation and jacobian stored in one directory: (dir, printed lines)."""
    out = tmp_path_factory.mktemp("sigprop")
    return out, [_run([*argv, "--out", str(out)]) for argv in SIGPROP]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """trainability and deep-linear stored in one directory: (dir, printed lines)."""
    out = tmp_path_factory.mktemp("trained")
    return out, [_run([*argv, "--out", str(out)]) for argv in (TRAINABILITY, DEEP_LINEAR)]


def _records(out, study: str) -> list[tuple[dict, dict]]:
    """(flat row, record) of every done cell of `study` in the store of `out`."""
    rows = [r for r in cell_rows(out) if r["study"] == study and r["status"] == "done"]
    found = records(out, [r["id"] for r in rows])
    return [(r, found[r["id"]]) for r in rows]


def test_correlation_table_holds_the_stored_c_l(sigprop_dir):
    out, printed = sigprop_dir
    _, tables = _report(out)
    (table,) = tables["layer"]
    assert table[0] == ["layer", "c0=0.2", "measured", "c0=0.9", "measured"]
    cells = _records(out, "correlation")
    theory = next(rec for row, rec in cells if row["part"] == "theory")
    nets = sorted((row["draw"], rec) for row, rec in cells if row["part"] == "network")
    measured = np.array([rec["measured"] for _, rec in nets])  # (K, P, L + 1)
    assert measured.shape == (3, 2, 5)
    for l, row in enumerate(table[1:]):
        assert row[0] == str(l)
        for p in range(2):
            predicted, shown = row[1 + 2 * p], row[2 + 2 * p]
            assert predicted == f"{theory['predicted'][p][l]:.4f}"
            values = measured[:, p, l]
            mean = math.fsum(values) / len(values)
            se = math.sqrt(math.fsum((values - mean) ** 2) / 2) / math.sqrt(3)
            assert shown == f"{mean:.4f}" + ("" if l == 0 else f" ± {se:.1g}")
    assert _printed_rows(printed[1], table[0]) == table


def test_jacobian_table_holds_the_stored_spectra_escaped(sigprop_dir):
    out, printed = sigprop_dir
    page, tables = _report(out)
    (table,) = tables["weights"]
    cells = _records(out, "jacobian")
    for row in table[1:]:
        weights, depth = row[0], int(row[1])
        j = [2, 60].index(depth)
        sv = np.array([rec["singular_values"][j] for r, rec in cells if r["weights"] == weights])
        assert sv.shape == (2, 12)
        assert row[3] == f"{np.mean(sv**2):.4g}"  # E[s^2] measured, over all networks' values
        var = [np.var(s**2) for s in sv]
        assert row[5] == f"{sum(var) / 2:.4g}"
        assert row[6] == f"{sv.max():.3g}"
    # 60 Gaussian linear layers at width 12: the smallest singular value is below float64's
    # resolution of the largest; the cell says so, escaped in the page
    deep = next(r for r in table if r[:2] == ["gaussian", "60"])
    assert deep[7] == "< 1e-15 s_max"
    assert "<td>&lt; 1e-15 s_max</td>" in page
    assert _printed_rows(printed[2], table[0]) == table


def test_critical_table_holds_the_stored_line(sigprop_dir):
    out, printed = sigprop_dir
    _, tables = _report(out)
    stored = json.loads((out / "critical.json").read_text())
    (table,) = tables["sigma_b^2"]
    assert table[0] == ["sigma_b^2", *stored["lines"]]
    for i, row in enumerate(table[1:]):
        assert row[0] == f"{stored['sigma_b2'][i]:g}"
        for name, cell in zip(stored["lines"], row[1:], strict=True):
            point = stored["lines"][name][i]
            q = "inf" if point["q_star"] is None else f"{point['q_star']:.4g}"  # relu: inf
            assert cell == f"{point['sigma_w2']:.6g} (q* {q})"
    assert _printed_rows(printed[0], table[0]) == table


def test_trainability_tables_hold_the_stored_accuracies(trained_dir):
    out, printed = trained_dir
    _, tables = _report(out)
    means, halves = tables["L \\ sigma_w^2"]  # the means, then the intervals' half-widths
    acc: dict[tuple[int, float], list[float]] = {}
    for row, _ in _records(out, "trainability"):
        if "draw" in row:
            acc.setdefault((row["depth"], row["sigma_w2"]), []).append(row["test_accuracy"])
    assert means[0] == halves[0] == ["L \\ sigma_w^2", "0.5", "1.75"]
    for row, half in zip(means[1:3], halves[1:], strict=True):
        for w2, cell, spread in zip((0.5, 1.75), row[1:], half[1:], strict=True):
            a = acc[int(row[0]), w2]
            assert len(a) == 2 and cell == f"{sum(a) / 2:.2f}"
            h = stats.t.ppf(0.975, 1) * abs(a[0] - a[1]) / 2  # s = |a0 - a1| / sqrt(2)
            assert spread == f"{h:.2f}"
    assert means[3][0] == "6 xi_c"
    assert _printed_rows(printed[0], means[0])[:4] == means


def test_deep_linear_table_holds_the_stored_learning_times(trained_dir):
    out, printed = trained_dir
    _, tables = _report(out)
    (table,) = tables["D"]
    times: dict[tuple, list[float]] = {}
    for row, _ in _records(out, "deep-linear"):
        times.setdefault((row["depth"], row["init"], row["rate"]), []).append(row["times"])
    for row in table[1:]:
        for init, cell in zip(table[0][1:], row[1:], strict=True):
            medians = [float(np.median(times[int(row[0]), init, r])) for r in (0.1, 1.0)]
            reached = [m for m in medians if not math.isnan(m)]
            assert cell == (f"{min(reached):g}" if reached else "> 30")
    assert _printed_rows(printed[1], table[0]) == table


def test_kernel_tables_hold_the_stored_values(tmp_path):
    printed = _run([*KERNELS, "--out", str(tmp_path)])
    _, tables = _report(tmp_path)
    parts = {}
    for row, rec in _records(tmp_path, "kernels"):
        key = (row["part"], row.get("width"), row.get("parametrization"))
        parts[key] = rec["value"]
    (summary,) = tables["predictor"]
    nngp = parts["summary", 16, None]["nngp_test"]
    assert summary[1] == ["NNGP posterior mean", f"{nngp['mse']:.4f}", f"{nngp['accuracy']:.4f}"]
    (convergence,) = [t for t in tables["width"] if t[0][1].startswith("|Theta_hat")]
    errors = np.array(parts["convergence", None, None]["errors"])  # (networks, widths)
    for j, row in enumerate(convergence[1:]):
        assert row[1] == f"{errors[:, j].mean():.4f}"
        assert row[2] == f"{errors[:, j].std(ddof=1):.4f}"
    (training,) = [t for t in tables["width"] if t[0][1] == "steps"]
    for row in training[1:]:
        moved = [parts["movement", int(row[0]), p]["kernel_change"] for p in ("ntk", "mup", "sp")]
        assert row[4:] == [f"{m:.4g}" for m in moved]
    for table in (summary, convergence, training):
        assert _printed_rows(printed, table[0]) == table


@pytest.mark.parametrize(("act", "w2", "b2"), [("tanh", 1.0, 0.0), ("relu", 2.0, 0.05)])
def test_depth_scales_read_back_print_as_computed(act, w2, b2):
    """The stored form of depth scales (infinities as null, :func:`jsonable`) prints as the
    computed one: at a critical point xi_q, xi_c, xi_grad are inf (and ReLU's q* with
    sigma_b^2 > 0), never "none" (the stored study's table said none where --no-map and the
    figure say inf)."""
    from initlab.analysis.correlation import depth_scales
    from initlab.report.sigprop import depth_scales_lines
    from initlab.results.records import jsonable

    computed = depth_scales(act, w2, b2).as_dict()
    stored = json.loads(json.dumps(jsonable(computed)))
    assert None in stored.values()  # the case that matters: a null to read back
    lines = depth_scales_lines(stored)
    assert lines == depth_scales_lines(computed)
    assert "xi_c = inf" in lines[2] and "none" not in " ".join(lines)


def test_a_studys_table_aligns_its_numbers_right_as_printed():
    """In the report a study's table has one label column, then numbers right-aligned, as
    the command prints them (the page's style left-aligned every table's second column: a
    correlation table's first c0 column, a trainability map's first sigma_w^2); the run
    comparison keeps its two label columns (run, init). In report.md the head's lines end in
    a hard break (they ran together into one line)."""
    from initlab.report.html import STYLE, _html_table, _tables_parts
    from initlab.report.tables import Table

    h, md = _tables_parts([Table(["t", "u"], [["layer", "c0=0.1", "c0=0.9"], ["0", "0.1", "0.9"]])])
    assert md.startswith("t  \nu\n\n| layer |")  # Markdown: a hard break, not "t u"
    assert '<tr><td class="label">0</td><td>0.1</td><td>0.9</td></tr>' in h
    assert '<th class="label">layer</th><th>c0=0.1</th>' in h
    assert "nth-child" not in STYLE and "td.label { text-align: left; }" in STYLE
    comparison = _html_table([["run", "init", "seeds"], ["a", "he", "0"]])
    assert '<td class="label">a</td><td class="label">he</td><td>0</td>' in comparison


def test_a_map_stopped_part_way_shows_its_missing_cells_without_warnings(trained_dir):
    """A cell not yet computed (all its draws NaN, a study stopped part way) is "-" in the
    tables and blank in the figure, with no RuntimeWarning (numpy's nanmean warned on the
    empty slice, in `initlab report`'s output); the other cells keep their means."""
    import warnings

    from initlab.report.trainability import plot_trainability, trainability_tables
    from initlab.studies import trainability

    data = trainability.read(trained_dir[0])
    full = trainability_tables(data)
    data["test_accuracy"] = np.array(data["test_accuracy"], dtype=float)
    data["test_accuracy"][0, 1, :] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        means, halves = trainability_tables(data)
        plot_trainability(data)
    assert means.rows[1][2] == "-" and halves.rows[1][2] == "-"
    assert means.rows[1][1] == full[0].rows[1][1] and means.rows[2:] == full[0].rows[2:]
