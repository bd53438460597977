"""``initlab theory critical | correlation | jacobian``: compute, print, store.

``correlation --no-map`` prints only the depth scales (no map, no measurement, no figure);
``jacobian --weights LAW ...`` chooses the weight laws.

``critical --out DIR`` writes ``DIR/critical.json`` (atomically) with its figure
``DIR/critical.png``, drawn from that data. ``correlation`` and ``jacobian`` are studies on
the sweep's executor (:mod:`initlab.studies.correlation`: a cell per measured network and
the theory's; :mod:`initlab.studies.jacobian_study`: a cell per weight law and member
chain), run as every study command runs (:func:`initlab.cli._studies.run`: ``--out DIR``
stores the cells in ``DIR/sweep.sqlite``, resuming, and draws the figure from the store;
without it, a temporary store; ``--jobs``, ``--scheduler``, ``--write-spec``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.analysis import correlation as _correlation
from initlab.cli import _studies
from initlab.cli._outputs import save
from initlab.cli._theory_grammar import WEIGHTS
from initlab.nn import activations as activations
from initlab.report import sigprop as plots_sigprop
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import correlation, jacobian_study, sigprop

STUDIES = ("critical", "correlation", "jacobian")

FIGURES = {
    "critical": plots_sigprop.plot_critical_line,
    "correlation": plots_sigprop.plot_correlation,
    "jacobian": plots_sigprop.plot_jacobian_spectra,
}


def _g(x: float | None, digits: int = 6) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none"
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def _activation(text: str, parse_spec) -> activations.Activation:
    spec = parse_spec(text, "--activation")
    return activations.get(spec.pop("name"), **spec)


def critical_lines(record: dict[str, Any]) -> list[str]:
    """The critical-line table: one row per sigma_b^2, one column per activation."""
    names = list(record["lines"])
    rows = [["sigma_b^2", *names]]
    for i, b2 in enumerate(record["sigma_b2"]):
        cells = []
        for name in names:
            p = record["lines"][name][i]
            cells.append(f"{_g(p['sigma_w2'])} (q* {_g(p['q_star'], 4)})")
        rows.append([f"{b2:g}", *cells])
    return [
        "critical line chi_1 = 1: the sigma_w^2 = n_in Var(W) at which gradients neither "
        "vanish nor explode with depth (Brent's method; q* = the variance fixed point there; "
        "ordered below, chaotic above)",
        "",
        *_table(rows),
    ]


def correlation_lines(record: dict[str, Any]) -> list[str]:
    """Depth scales, then c_l per layer: theory beside measured mean ± standard error."""
    m, s = record["map"], record["study"]
    K = len(s["measured"])
    lines = [
        f"correlation map: {s['activation']}, sigma_w^2 = {_g(s['sigma_w2'])}, "
        f"sigma_b^2 = {_g(s['sigma_b2'])}",
        f"q* = {_g(m['q_star'])}, chi_1 = {_g(m['chi_1'])} ({m['phase']}), "
        f"c* = {_g(m['c_star'])}, chi_c = {_g(m['chi_c'])}",
        f"depth scales (layers): xi_q = {_g(m['xi_q'], 4)}, xi_c = {_g(m['xi_c'], 4)}, "
        f"gradients xi_grad = {_g(m['xi_grad'], 4)}",
        f"measured on {K} networks of width {s['width']} (seed {s['seed']}), inputs at "
        f"q0 = {_g(s['q0'], 4)}; ± one standard error over the networks",
        "c_l per layer: for each starting c0, the mean-field prediction, then the measured mean",
        "",
    ]
    import numpy as np

    measured = np.asarray(s["measured"], dtype=float)
    mean = measured.mean(axis=0)
    se = measured.std(axis=0, ddof=1) / math.sqrt(K) if K > 1 else np.full(mean.shape, np.nan)
    rows = [["layer"]]
    for c in s["c0"]:
        rows[0] += [f"c0={c:g}", "measured"]
    for l in range(mean.shape[1]):
        cells = [str(l)]
        for p in range(mean.shape[0]):
            err = "" if l == 0 or math.isnan(se[p, l]) else f" ± {se[p, l]:.1g}"
            cells += [f"{s['predicted'][p][l]:.4f}", f"{mean[p, l]:.4f}{err}"]
        rows.append(cells)
    return lines + _table(rows)


def jacobian_lines(record: dict[str, Any]) -> list[str]:
    """Per weight law and depth: mean and variance of sigma^2, theory beside measured."""
    import numpy as np

    first = record["panels"][0]["spectra"]
    lines = [
        f"Jacobian singular values at initialization: {first['activation']}, "
        f"sigma_w^2 = {_g(first['sigma_w2'])}, sigma_b^2 = {_g(first['sigma_b2'])}, "
        f"inputs at q* = {_g(first['q_star'], 4)}, width {first['width']}, "
        f"{len(first['singular_values'])} network(s)",
        "E[s^2], Var[s^2]: mean and variance of the squared singular values (theory: free "
        "probability, N -> inf); measured: per network, then averaged",
        "",
    ]
    rows = [["weights", "depth", "E[s^2] theory", "measured", "Var[s^2] theory", "measured",
             "s_max", "s_min"]]  # fmt: skip
    for panel in record["panels"]:
        sv = np.asarray(panel["spectra"]["singular_values"], dtype=float)
        for j, th in enumerate(panel["theory"]):
            lam = sv[:, j] ** 2
            rows.append([
                panel["spectra"]["weights"], str(th["depth"]), f"{th['mean']:.4g}",
                f"{lam.mean():.4g}", f"{th['variance']:.4g}", f"{lam.var(axis=-1).mean():.4g}",
                f"{sv[:, j].max():.3g}", _s_min(sv[:, j]),
            ])  # fmt: skip
    return lines + _table(rows)


def _s_min(sv: Any) -> str:
    """The smallest singular value over the networks ``sv`` (K, N), or ``< 1e-15 s_max`` if
    any network's is below float64 resolution relative to its own largest (rounding noise)."""
    from initlab.analysis.jacobian import RESOLUTION

    if (sv.min(axis=-1) < RESOLUTION * sv.max(axis=-1)).any():
        return f"< {RESOLUTION:.0e} s_max"
    return f"{sv.min():.3g}"


PRINTERS = {
    "critical": critical_lines,
    "correlation": correlation_lines,
    "jacobian": jacobian_lines,
}


def build(kind: str, args: argparse.Namespace, parse_spec, progress=None) -> dict[str, Any]:
    """Compute the record of `kind` from the command's arguments (``progress(done, total)``
    after each weight law of ``jacobian``; the other studies take seconds)."""
    if kind == "critical":
        names = args.activation or activations.available()
        acts = [_activation(a, parse_spec) for a in names]
        grid = args.sigma_b2_grid or sigprop.DEFAULT_SIGMA_B2
        return sigprop.critical_record(acts, grid)
    act = _activation((args.activation or ["tanh"])[0], parse_spec)
    w2 = sigprop.resolve_sigma_w2(act, args.sigma_w2, args.sigma_b2)
    return {"scales": _correlation.depth_scales(act, w2, args.sigma_b2).as_dict()}


def scales_lines(m: dict[str, Any]) -> list[str]:
    """``correlation --no-map``: the fixed points, slopes and depth scales alone."""
    return [
        f"correlation map: {m['activation']}, sigma_w^2 = {_g(m['sigma_w2'])}, "
        f"sigma_b^2 = {_g(m['sigma_b2'])}",
        f"q* = {_g(m['q_star'])}, chi_1 = {_g(m['chi_1'])} ({m['phase']}), "
        f"c* = {_g(m['c_star'])}, chi_c = {_g(m['chi_c'])}",
        f"depth scales (layers): xi_q = {_g(m['xi_q'], 4)}, xi_c = {_g(m['xi_c'], 4)}, "
        f"gradients xi_grad = {_g(m['xi_grad'], 4)}",
    ]


def run(
    kind: str, args: argparse.Namespace, parse_spec, progress=None, flops: float | None = None
) -> tuple[list[str], str | None]:
    """Compute, store (with ``--out``, checked before by the caller; a rescue directory if
    writing fails) and return the lines to print and the rescue note, if any (`flops`, a
    study's estimated work, decides the default of ``--jobs``)."""
    if kind == "correlation" and args.no_map and (args.write_spec or args.jobs or args.scheduler):
        raise InitlabError("--no-map prints the depth scales only and computes no study; drop "
                           "--write-spec, --jobs and --scheduler")  # fmt: skip
    if kind in ("correlation", "jacobian") and not args.no_map:
        return _run_study(kind, args, parse_spec, progress, flops)
    record = build(kind, args, parse_spec, progress)
    if "scales" in record:
        return scales_lines(record["scales"]), None
    lines = PRINTERS[kind](record)
    if not args.out:
        return lines, None

    def write(out: Path) -> list[Path]:
        path, figure = sigprop.write(out, record), out / f"{kind}.png"
        FIGURES[kind](sigprop.read(out, kind)).savefig(figure, dpi=120)
        return [path, figure]

    saved = save(write, Path(args.out), what=f"{kind} results")
    return [*lines, "", *(f"wrote {p}" for p in saved.paths)], saved.note


def _run_study(kind: str, args: argparse.Namespace, parse_spec, progress=None,
               flops: float | None = None) -> tuple[list[str], str | None]:  # fmt: skip
    """``correlation`` or ``jacobian`` as every study command runs
    (:func:`initlab.cli._studies.run`)."""
    if kind == "correlation":
        config, module = correlation_config(args, parse_spec), correlation
        printer, outputs = correlation_lines, correlation_outputs
    else:
        config, module = jacobian_config(args, parse_spec), jacobian_study
        printer, outputs = jacobian_lines, jacobian_outputs
    return _studies.run(
        module.study(config),
        args,
        lines=lambda d: printer(module.read(d, config)),
        outputs=outputs,
        progress=progress,
        flops=flops,
    )


def correlation_config(args: argparse.Namespace, parse_spec) -> correlation.CorrelationConfig:
    """The correlation study's configuration from the command's arguments."""
    act = _activation((args.activation or ["tanh"])[0], parse_spec)
    return correlation.CorrelationConfig(
        activation=act.spec, sigma_w2=args.sigma_w2, sigma_b2=args.sigma_b2, c0=args.c0,
        depth=args.depth, width=1000 if args.width is None else args.width,
        members=args.members, seed=args.seed,
    )  # fmt: skip


def correlation_outputs(study, out: Path) -> list[str]:
    """The correlation study's lines from the store of `out`, its figure drawn."""
    config = correlation.CorrelationConfig(**study.spec[correlation.KIND])
    record = correlation.read(out, config)
    figure = out / "correlation.png"
    plots_sigprop.plot_correlation(record).savefig(figure, dpi=120)
    lines = correlation_lines(record)
    if record.get("missing"):
        draws = " ".join(map(str, record["missing"]))
        lines += ["", f"not yet computed: networks {draws} (run the same command to resume)"]
    return [*lines, "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]


def jacobian_config(args: argparse.Namespace, parse_spec) -> jacobian_study.JacobianConfig:
    """The Jacobian study's configuration from the command's arguments."""
    act = _activation((args.activation or ["tanh"])[0], parse_spec)
    return jacobian_study.JacobianConfig(
        activation=act.spec, sigma_w2=args.sigma_w2, sigma_b2=args.sigma_b2,
        weights=tuple(args.weights or WEIGHTS), depths=tuple(args.depths),
        width=400 if args.width is None else args.width, members=args.members, seed=args.seed,
    )  # fmt: skip


def jacobian_outputs(study, out: Path) -> list[str]:
    """The Jacobian study's lines from the store of `out`, its figure drawn; while chains
    are missing (they failed), how many instead."""
    config = jacobian_study.JacobianConfig(**study.spec[jacobian_study.KIND])
    left = jacobian_study.missing(out, config)
    if left:
        return [f"not yet computed: {left} of {len(study.cells)} member chains (run the same "
                "command to resume)"]  # fmt: skip
    record = jacobian_study.read(out, config)
    figure = out / "jacobian.png"
    plots_sigprop.plot_jacobian_spectra(record).savefig(figure, dpi=120)
    return [*jacobian_lines(record), "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]
