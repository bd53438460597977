"""The report's section on one experiment (``results.json`` of ``initlab run`` or
``initlab reproduce``): its comparison table, its setup, its figures and its table of depth
scales, as text and figures; :mod:`initlab.report.html` renders them into the page and the
Markdown summary, and the CLI prints the same table (:func:`comparison_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from initlab.report.provenance import chaos_mark, provenance_lines

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _fmt(summary: dict[str, Any], pct: bool) -> str:
    """``mean ±h`` where h is the half-width of the 95% interval (none with one seed)."""
    if summary is None or summary["mean"] is None:
        return "-"
    scale, digits, unit = (100, 2, "%") if pct else (1, 6, "")
    text = f"{scale * summary['mean']:.{digits}f}{unit}"
    if summary.get("note") and summary["low"] is not None:  # clipped: not symmetric
        text += f" [{scale * summary['low']:.{digits}f}, {scale * summary['high']:.{digits}f}]"
    elif summary["low"] is not None:
        text += f" ±{scale * (summary['high'] - summary['mean']):.{digits}f}"
    elif summary.get("note"):
        text += " (no interval: see note)"
    return text


INTERVAL_NOTE = (
    "± is the half-width of a 95% interval of the mean over seeds (Student t); [low, high] "
    "an interval clipped to the quantity's range (a cost >= 0, an accuracy in [0, 100%])"
)


def comparison_rows(results: dict[str, Any]) -> list[list[str]]:
    """The comparison table: header row, then one row per named run.

    The CLI prints it and the report writes it, so they always agree.
    """
    has_test = results["data"]["test"] is not None
    head = ["run", "init", "seeds", "final cost", "train accuracy"]
    head += ["test accuracy"] if has_test else []
    rows = [[*head, "diverged"]]
    for s in results["summary"]:
        params = ", ".join(f"{k}={v}" for k, v in s["params"].items())
        seeds = s["seeds"]
        seed_text = (
            str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}..{seeds[-1]} (N={len(seeds)})"
        )
        row = [s["name"] + chaos_mark(s), s["init"] + (f"({params})" if params else ""),
               seed_text]  # fmt: skip
        row += [_fmt(s["final_cost"], False), _fmt(s["train_accuracy"], True)]
        row += [_fmt(s["test_accuracy"], True)] if has_test else []
        rows.append([*row, str(s["diverged"])])
    return rows


def _schedule(t: dict[str, Any]) -> str:
    """``"1000 iterations of full-batch gradient descent"``, or the optimizer and batches."""
    opt = t.get("optimizer", {"name": "gd"})
    names = {"gd": "gradient descent", "sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
    name = names.get(opt["name"], opt["name"])
    decay = opt.get("weight_decay", 0.0)
    if opt["name"] == "momentum":
        name = ("Nesterov " if opt.get("nesterov") else "") + f"momentum {opt['momentum']:g}"
    if decay and opt["name"] != "adamw":
        name += f" with L2 weight decay {decay:g}"
    elif decay:
        name += f" (decoupled weight decay {decay:g})"
    batch = t.get("batch_size")
    steps = f"{t['epochs']} epochs" if t.get("epochs") else f"{t['iterations']} iterations"
    return (
        f"{steps} of {name}, mini-batches of {batch}" if batch else f"{steps} of full-batch {name}"
    )


def setup_text(results: dict[str, Any]) -> str:
    if results.get("setup"):  # results made outside initlab's runner (initlab.torch) say it
        made = f"initlab {results['initlab_version']}, {results['created']}"
        return "\n".join([*results["setup"], f"{made}, {results['machine']['platform']}"])
    spec = results["spec"]
    m, t = spec["model"], spec["training"]
    d = results["data"]
    lines = [
        f"data: {d['train']['name']} ({d['train']['n_features']} features, "
        f"{d['train']['n_examples']} examples)",
        f"held out: {d['test']['name']}" if d["test"] else "held out: none",
        f"network: hidden {m['hidden']}, {m['activation']} hidden units, "
        f"{m.get('output', 'sigmoid')} output",
        f"training: {_schedule(t)}, learning rate "
        f"{t['learning_rate']}, stream {t['stream']}, engine {results['engine']}, {t['dtype']}",
        f"initlab {results['initlab_version']}, {results['created']}, "
        f"{results['machine']['platform']}",
        *provenance_lines(results),
    ]
    return "\n".join(lines)


def sections(results: dict[str, Any]) -> Iterable[tuple[str, list[tuple[Figure | None, str]]]]:
    from initlab.report import figures as plots  # matplotlib: loaded when a figure is drawn

    yield (
        "Cost curves",
        [
            (plots.cost_curves(results), "Cost at every iteration (mean and 95% band over seeds)"),
            (plots.cost_curves(results, log=True), "The same on a log scale"),
        ],
    )
    figs = [(plots.accuracies(results), "Accuracy, with 95% intervals over seeds")]
    if results["data"]["test"] is not None:
        figs.append((plots.test_curves(results), "Held-out cost and accuracy during training"))
    yield "Accuracy", figs
    yield (
        "Signal propagation: theory beside measurement",
        [
            (
                plots.theory_vs_measurement(results),
                "Mean-field q_l (dashed) vs the measured mean square of Z_l at iteration 0 "
                "(dots). The theory is an average over random weights for wide layers: with "
                "few units, and above all at the single output unit, one draw can be far from it.",
            )
        ],
    )
    from initlab.report.diagnostics import plot_diagnostics, plot_histograms, plot_stream

    for rec in results["runs"]:
        dg = rec.get("diagnostics")
        if rec["replicate"] != 0 or not dg:
            continue
        note = f" (diverged at iteration {rec['diverged_at']})" if rec["diverged"] else ""
        figures = [
            (plot_diagnostics(dg, title=rec["name"]), "Per-layer statistics over training"),
            (plot_histograms(dg, title=rec["name"]), "Activations and gradients, first/last"),
        ]
        stream = plot_stream(dg, title=rec["name"])  # torch records: the residual stream
        if stream is not None:
            figures.append((stream, "Residual stream per block; each parameter's update ratio"))
        yield f"Per-layer diagnostics: {rec['name']}{note}", figures


DEPTH_NOTE = (
    "Mean-field fixed points and depth scales at each run's hidden-to-hidden sigma_w^2 "
    "(Poole et al. 2016; Schoenholz et al. 2017): signals and gradients change by a factor "
    "e every xi layers; inf on the critical line chi_1 = 1. E[s^2] and Var[s^2]: mean and "
    "variance of the squared singular values of the hidden-to-hidden Jacobian at the fixed "
    "point, by free probability (Pennington et al. 2017, 2018)."
)


def _num(x: Any) -> str:
    return "inf" if x is None else f"{x:.4g}"  # stored null: an infinite depth scale or q*


def depth_scale_rows(results: dict[str, Any]) -> list[list[str]]:
    """Header and one row per run (first seed) with stored depth scales; [] if none."""
    rows = []
    for rec in results["runs"]:
        th = rec.get("theory") or {}
        d = th.get("depth_scales")
        if rec["replicate"] != 0 or not d:
            continue
        jac = th.get("jacobian") or {}
        spectrum = [_num(jac["mean"]), _num(jac["variance"])] if jac else ["-", "-"]
        rows.append([rec["name"], rec["init"], _num(d["sigma_w2"]), _num(d["q_star"]),
                     _num(d["chi_1"]), d["phase"], _num(d["c_star"]), _num(d["chi_c"]),
                     _num(d["xi_q"]), _num(d["xi_c"]), _num(d["xi_grad"]), *spectrum])  # fmt: skip
    head = ["run", "init", "sigma_w^2", "q*", "chi_1", "phase", "c*", "chi_c", "xi_q", "xi_c",
            "xi_grad", "E[s^2] of J", "Var[s^2] of J"]  # fmt: skip
    return [head, *rows] if rows else []
