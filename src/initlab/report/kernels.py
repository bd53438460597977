r"""The kernel study's tables and figure, drawn from its stored cells only.

``initlab theory kernels --out DIR`` stores the study's cells in ``DIR/sweep.sqlite``, from
which :func:`initlab.studies.kernel_study.read` assembles the record;
:func:`kernel_tables` are what the command prints and the report shows,
:func:`plot_kernels` its figure, :func:`report_sections` the report's section.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.report.tables import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _g(x: Any, digits: int = 4) -> str:
    if x is None:
        return "inf"
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def _summary(r: dict[str, Any]) -> Table:
    """Test MSE and accuracy of the NNGP posterior mean and of NTK gradient descent."""
    c, s = r["config"], r["summary"]
    rows = [["predictor", "test MSE", "test accuracy"]]
    rows.append(
        ["NNGP posterior mean", f"{s['nngp_test']['mse']:.4f}", f"{s['nngp_test']['accuracy']:.4f}"]
    )
    for e in s["ntk_test"]:
        rows.append([f"NTK GD, t = {_g(e['time'])}", f"{e['mse']:.4f}", f"{e['accuracy']:.4f}"])
    head = [
        f"infinite-width kernels: {c['activation']} MLP, {c['hidden_layers']} hidden layers, "
        f"sigma_w^2 = {_g(r['sigma_w2'], 6)} ({r['phase']}; the critical value is "
        f"{_g(r['critical_sigma_w2'], 6)}), sigma_b^2 = {_g(c['sigma_b2'])}, NTK "
        "parametrization",
        f"digits odd vs even (targets +-1, |x|^2 = 64): {c['train']} train, {c['test']} test",
        f"mean diagonal: NNGP {_g(s['nngp_diagonal'])}, NTK {_g(s['ntk_diagonal'])}; condition "
        f"number on the train set: NNGP {_g(s['nngp_condition'])}, NTK {_g(s['ntk_condition'])}",
        f"NTK gradient descent at eta = {_g(s['learning_rate'])} = {c['rate']:g} m / "
        "lambda_max, mean prediction (f_0 = 0):",
    ]
    return Table(head, rows)


def _convergence(r: dict[str, Any]) -> Table:
    """The empirical NTK's relative error against the analytic one, per width."""
    v, c = r["convergence"], r["config"]
    errors = np.asarray(v["errors"], dtype=float)
    rows = [["width", "|Theta_hat - Theta|_F / |Theta|_F", "spread over networks"]]
    for j, n in enumerate(v["widths"]):
        rows.append(
            [
                str(n),
                f"{v['mean'][j]:.4f}",
                f"{errors[:, j].std(ddof=1):.4f}" if errors.shape[0] > 1 else "-",
            ]
        )
    head = [
        f"finite vs infinite at initialization: empirical NTK of {c['members']} networks on "
        f"{c['convergence_examples']} train inputs; log-log slope {v['slope']:.3f} "
        "(1/sqrt(n): -0.5)",
    ]
    return Table(head, rows)


def _training(r: dict[str, Any]) -> Table:
    """Per width: the trained network's distance to the kernel's prediction, and how much
    each parametrization's NTK moved."""
    head = ["width", "steps", "|f_net - f_kernel| (test RMS)", "kernel's change"]
    rows = [[*head, "NTK change", "muP NTK change", "SP NTK change"]]
    for t in r["training"]:
        moved = t["kernel_change"]
        rows.append(
            [str(t["width"]), str(t["times"][-1]), f"{t['distance'][-1]:.4f}"]
            + [f"{t['movement'][-1]:.4f}"]
            + [_g(moved[p]) for p in ("ntk", "mup", "sp")]
        )
    c = r["config"]
    head = [
        f"trained: full-batch GD on the MSE, {c['fit_examples']} train digits, rate "
        f"{c['rate']:g} m / lambda_max; test outputs of the NTK-parametrized network vs the "
        "kernel's prediction from the same f_0; NTK change = |Theta_T - Theta_0|_F / "
        "|Theta_0|_F of each network's own kernel (muP and SP: base width "
        f"{c['train_widths'][0]}, rate eta sigma_w^2 / base width; inf: diverged)",
    ]
    return Table(head, rows)


def _depth(r: dict[str, Any]) -> Table:
    """The NNGP kernel's condition number after L hidden layers, per phase."""
    depths = range(1, r["config"]["max_depth"] + 1)
    shown = [d for d in depths if d in (1, 2, 4, 8, 16, 32, 64) or d == max(depths)]
    rows = [["phase", "sigma_w^2", "c*", "xi_c", *(f"L={d}" for d in shown)]]
    for p in r["depth"]:
        rows.append(
            [
                p["phase"],
                f"{p['sigma_w2']:.4g}",
                _g(p["c_star"]),
                _g(p["xi_c"]),
                *(_g(p["nngp_condition"][d - 1], 3) for d in shown),
            ]
        )
    head = [
        f"degeneration with depth: condition number of the NNGP kernel on "
        f"{r['config']['depth_examples']} train inputs after L hidden layers (ordered: K -> "
        "q* 1 1^T, c* = 1, grows without bound; chaotic: K -> q*((1 - c*) I + c* 1 1^T))",
    ]
    return Table(head, rows)


def kernel_tables(record: dict[str, Any]) -> list[Table]:
    """The study's tables: summary, convergence, training and depth (`record`:
    :func:`initlab.studies.kernel_study.read`'s)."""
    return [_summary(record), _convergence(record), _training(record), _depth(record)]


def plot_kernels(record: dict[str, Any]) -> Figure:
    """Three panels: empirical NTK error against width (log-log), trained network's distance
    to the kernel and each NTK's change against width, NNGP condition number against depth."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16.5, 4.6), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    v = record["convergence"]
    n, err = np.asarray(v["widths"], float), np.asarray(v["mean"], float)
    a.loglog(n, err, "o-", label=f"measured (slope {v['slope']:.2f})")
    a.loglog(n, err[0] * np.sqrt(n[0] / n), "k:", label="1/sqrt(n)")
    a.set(xlabel="width n", ylabel="relative Frobenius error", title="empirical NTK at init")
    tr = record["training"]
    w = np.asarray([t["width"] for t in tr], float)
    b.loglog(w, [t["distance"][-1] for t in tr], "o-", label="|f_net - f_kernel| (test RMS)")
    b.loglog(w, [t["kernel_change"]["ntk"] for t in tr], "s--", label="NTK change (NTK param)")
    b.loglog(w, [t["kernel_change"]["mup"] for t in tr], "^--", label="NTK change (muP)")
    sp = np.array([t["kernel_change"]["sp"] for t in tr], dtype=float)  # null: diverged
    b.loglog(w, sp, "v--", label="NTK change (SP, fixed rate; missing: diverged)")
    b.set(xlabel="width n", title=f"after {tr[0]['times'][-1]} GD steps")
    for i, p in enumerate(record["depth"]):
        cond = np.asarray(p["nngp_condition"], float)
        c.semilogy(
            np.arange(1, cond.size + 1),
            cond,
            "o-",
            ms=3,
            color=f"C{i}",
            label=f"{p['phase']} (sigma_w^2 {p['sigma_w2']:.3g}, c* {_g(p['c_star'])})",
        )
    c.set(xlabel="hidden layers L", ylabel="condition number", title="NNGP kernel with depth")
    for ax in (a, b, c):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    cfg = record["config"]
    fig.suptitle(
        f"{cfg['activation']}, sigma_w^2 = {record['sigma_w2']:.4g}, "
        f"sigma_b^2 = {cfg['sigma_b2']:g}"
    )
    return fig


def has_results(source: Path) -> bool:
    """Whether the store of `source` holds a kernel study."""
    from initlab.studies import kernel_study

    return kernel_study.has_study(source)


def report_sections(
    source: Path,
) -> Iterator[tuple[str, list[Table], list[tuple[Figure, str]]]]:
    """The report's section for the kernel study stored in `source`: (title, tables, figures)."""
    from initlab.studies import kernel_study  # the reader and its checks

    if has_results(source):
        record = kernel_study.read(source)
        caption = "empirical NTK vs width; trained network vs kernel; NNGP condition vs depth"
        yield (
            "Infinite-width kernels",
            kernel_tables(record),
            [(plot_kernels(record), caption)],
        )
