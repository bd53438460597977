"""``initlab theory STUDY``: mean-field signal propagation, predicted beside measured.

Each study is a subcommand with its own options (``initlab theory STUDY --help``):

``variance``      per-layer variances of one network: ``initlab theory variance --layers 1000
                  1000 1000 1000 1000 1 --init xavier --activation tanh`` predicts and measures
                  q_l = Var(Z_l) and r_l = Var(dZ_l) / Var(dZ_{l+1}), with chi_1, the critical
                  sigma_w^2 and the phase; ``--out DIR`` writes phase_diagram.png,
                  theory_vs_measurement.png and theory.json.
``critical``      the critical line chi_1 = 1 per activation and sigma_b^2.
``correlation``   the correlation map of two inputs, its depth scales, c_l measured.
``jacobian``      singular values of the input-output Jacobian beside free probability.
``trainability``  test accuracy by depth and sigma_w^2 beside a multiple of xi_c (trains).
``deep-linear``   learning time against depth of deep linear networks (trains).
``kernels``       the NNGP kernel and NTK beside finite networks (docs/kernels.md).

With ``--out DIR`` a study writes its figure and its results, which ``initlab report DIR``
shows (docs/signal-propagation.md): ``variance`` DIR/theory.json, ``critical``
DIR/critical.json; the others store their cells in DIR/sweep.sqlite as they finish (a rerun
computes only what is missing; ``initlab results DIR`` lists the cells), and ``--write-spec
FILE.toml`` writes a spec that ``initlab sweep FILE.toml --out DIR`` runs instead. The old
form ``initlab theory --critical ...`` (``--layers ...`` for ``variance``) still works in
this release, with a notice.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError, check_number
from initlab.analysis import theory as theory
from initlab.cli import _checks, _kernels, _sigprop, _trainmaps
from initlab.cli import _theory_grammar as _grammar
from initlab.cli._common import progress_bar
from initlab.cli._outputs import check_dir, save
from initlab.cli.inits import parse_value
from initlab.init import catalogue as initializers
from initlab.nn import activations as activations
from initlab.report import theory as plots_theory


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "theory",
        help="mean-field signal propagation: variances, critical line, correlations, "
        "Jacobians, trainability, kernels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # an abbreviation is the subcommand's to resolve, among its options
    )
    sub = parser.add_subparsers(dest="theory_command", metavar="STUDY")
    for name in _grammar.STUDIES:
        _grammar.add_study(sub, name, _grammar.DESCRIPTIONS[name])
    _grammar.add_old_grammar(parser)
    parser.set_defaults(func=run, study=None, study_name=None)


def parse_spec(text: str, what: str) -> dict[str, Any]:
    """``"random:scale=0.1,x=2"`` -> ``{"name": "random", "scale": 0.1, "x": 2}``."""
    name, _, rest = text.partition(":")
    spec: dict[str, Any] = {"name": name}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InitlabError(f"{what} takes NAME or NAME:KEY=VALUE,...; got {text!r}")
        spec[key.strip()] = parse_value(value.strip())
    return spec


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))


def _pm(value: float, se: float) -> str:
    return f"{value:.4g}" if math.isnan(se) else f"{value:.4g} ± {se:.2g}"  # nan for K = 1


def _hidden_sigma_w2(prediction: theory.Prediction):
    """sigma_w^2 of the hidden-to-hidden weights W_2 .. W_{L-1} (W_1 if there are none)."""
    w2 = prediction.sigma_w2
    return w2[1:-1] if len(w2) > 2 else w2[:1]


def table_lines(prediction: theory.Prediction, measurement: theory.Measurement) -> list[str]:
    """The per-layer table: q_l and r_l, theory beside measurement."""
    widths = [5, 6, 11, 19, 11, 19]
    lines = [_row(["layer", "width", "q theory", "q measured", "r theory", "r measured"], widths)]
    L = len(prediction.q)
    for l in range(L):
        r = ["-", "-"]
        if l < L - 1:
            r = [f"{prediction.ratio[l]:.4g}", _pm(measurement.ratio[l], measurement.ratio_se[l])]
        q = [f"{prediction.q[l]:.4g}", _pm(measurement.q[l], measurement.q_se[l])]
        lines.append(_row([str(l + 1), str(prediction.layer_sizes[l + 1]), *q, *r], widths))
    return lines


def _fixed_point_words(act: activations.Activation, w2: float, b2: float) -> str:
    q = float(theory.fixed_point(act, w2, b2))
    if q == 0:
        return "q* = 0: the signal's variance decays"
    if math.isinf(q):
        return "no finite q*: the variance does not contract"
    return f"q* = {q:.4g}"


def phase_lines(prediction: theory.Prediction, act: activations.Activation) -> list[str]:
    """chi_1, phase and gradient depth scale for the hidden-to-hidden sigma_w^2."""
    b2 = prediction.sigma_b2
    lines = []
    for w2 in sorted({round(float(v), 12) for v in _hidden_sigma_w2(prediction)}):
        chi = float(theory.chi1(act, w2, b2))
        rate = abs(math.log(chi)) if chi > 0 else math.inf
        depth = (
            f"deep in the network, gradients change by a factor e every {1 / rate:.3g} layers"
            if rate > 1e-12
            else "deep in the network, gradients keep their scale"
        )
        lines.append(
            f"chi_1 = {chi:.6g} at sigma_w^2 = {w2:.6g}, sigma_b^2 = {b2:.6g} "
            f"({_fixed_point_words(act, w2, b2)}): {theory.phase(chi)}; {depth}"
        )
    try:
        critical = f"{theory.critical_sigma_w2(act, b2):.6g}"
    except InitlabError:
        critical = "none (chi_1 does not cross 1)"
    lines.append(f"critical sigma_w^2 (chi_1 = 1) at sigma_b^2 = {b2:.6g}: {critical}")
    return lines


def _write_outputs(out: Path, config: dict, prediction, measurement, act, mark) -> list[Path]:
    from initlab.report.figures import save
    from initlab.results.records import jsonable, write_atomic

    paths = [out / "phase_diagram.png", out / "theory_vs_measurement.png", out / "theory.json"]
    save(plots_theory.plot_phase_diagram(act, mark=mark), paths[0], dpi=120)
    save(plots_theory.plot_theory_vs_measurement(prediction, measurement), paths[1], dpi=120)
    record = {
        "config": config,
        "prediction": prediction.as_dict(),
        "measurement": measurement.as_dict(),
    }
    write_atomic(paths[2], (json.dumps(jsonable(record), indent=2) + "\n").encode())
    return paths


def _study(kind: str, args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The lines of one study (``critical`` .. ``kernels``), with progress,
    and the note of a rescue directory if ``--out`` could not be written after the work."""
    if kind == "correlation" and args.no_map and args.out:
        raise InitlabError("--no-map prints the depth scales only and writes nothing; drop --out")
    if args.out:
        check_dir(args.out, need=5_000_000)
    unit = {
        "jacobian": "cells",
        "kernels": "parts",
        "trainability": "cells",
        "deep-linear": "cells",
    }.get(kind, "depths")
    quiet = args.quiet or kind not in ("trainability", "deep-linear", "jacobian", "kernels")
    quiet = quiet or bool(getattr(args, "write_spec", None))  # writes the spec only
    cost = _checks.theory_cost(args, kind)  # its work decides the default of --jobs
    flops = None if cost is None else cost.flops
    with progress_bar(kind.replace("-", " "), quiet, unit=unit) as progress:
        if kind in _trainmaps.STUDIES:
            return _trainmaps.run(kind, args, progress, flops)
        if kind in _kernels.STUDIES:
            return _kernels.run(args, progress)
        args.sigma_b2 = 0.0 if args.sigma_b2 is None else args.sigma_b2
        if args.members is None:
            args.members = 2 if kind == "jacobian" else theory.DEFAULT_MEMBERS
        return _sigprop.run(kind, args, parse_spec, progress, flops)


def run(args: argparse.Namespace) -> int:
    """Run the chosen study; the old grammar's form too, with its notice on stderr after the
    run (a refusal of bad input stays one line)."""
    old = _grammar.old_form(args)
    if old is None and args.study_name is None:
        names = ", ".join(_grammar.STUDIES)
        raise InitlabError(f"initlab theory needs a study, one of {names} (see --help)")
    args, notice = old or (_grammar.complete(args), None)
    status = _run(args)
    if notice:
        print(notice, file=sys.stderr)
    return status


def _run(args: argparse.Namespace) -> int:
    _checks.theory_options(args, args.study)
    if args.study is None:
        return _mean_field(args)
    lines, note = _study(args.study, args)
    print("\n".join(lines))
    if note:
        print(f"initlab theory: error: {note}", file=sys.stderr)
        return 1
    return 0


def _mean_field(args: argparse.Namespace) -> int:
    """Theory beside measurement for one network (``--layers``), optionally saved."""
    args.sigma_b2 = 0.0 if args.sigma_b2 is None else args.sigma_b2
    if args.layers is None:
        raise InitlabError("initlab theory variance needs --layers N_1 .. N_L (the last 1)")
    if args.activation is not None and len(args.activation) > 1:
        raise InitlabError(f"--activation takes one name here; got {args.activation}")
    args.members = theory.DEFAULT_MEMBERS if args.members is None else args.members
    for i, n in enumerate(args.layers):
        check_number(f"--layers[{i}]", n, low=1, integer=True)
    n0 = args.layers[0] if args.input_dim is None else args.input_dim
    check_number("--input-dim", n0, low=1, integer=True)
    sizes = [n0, *args.layers]
    if args.out:
        check_dir(args.out, need=1_000_000)
    init = initializers.get(parse_spec(args.init, "--init"))
    act_spec = parse_spec((args.activation or ["tanh"])[0], "--activation")
    act = activations.get(act_spec.pop("name"), **act_spec)
    b2 = args.sigma_b2
    measurement = theory.measure(
        sizes, init, act, m=args.examples, seed=args.seed, members=args.members, sigma_b2=b2
    )
    x2 = measurement.input_second_moment
    prediction = theory.predict(sizes, init, act, input_second_moment=x2, sigma_b2=b2)
    w2 = " ".join(f"{v:.4g}" for v in prediction.sigma_w2)
    lines = [
        f"mean-field theory vs measurement: {prediction.activation}, init {prediction.init}, "
        f"layers {'-'.join(map(str, sizes))}",
        f"sigma_w^2 = n_in Var(W), layers 1..{len(sizes) - 1}: {w2}; "
        f"sigma_b^2 = {prediction.sigma_b2:g}",
        f"measured on {measurement.members} network(s) x {measurement.m} inputs x ~ N(0, 1) "
        f"(mean x^2 = {measurement.input_second_moment:.4f}), seed {args.seed}, top gradient "
        "dZ_L ~ N(0, 1); ± one standard error over the networks",
        "",
        *table_lines(prediction, measurement),
        "q = Var(Z_l);  r = Var(dZ_l) / Var(dZ_{l+1}) = (n_{l+1} / n_l) chi_l",
        "",
        *phase_lines(prediction, act),
    ]
    if args.out:
        return _save_mean_field(args, sizes, lines, prediction, measurement, act)
    print("\n".join(lines))
    return 0


def _save_mean_field(args, sizes, lines, prediction, measurement, act) -> int:
    """Write the figures and theory.json to ``--out`` (or a rescue directory), then print."""
    mark = (float(_hidden_sigma_w2(prediction).mean()), prediction.sigma_b2)
    config = {
        "layer_sizes": sizes,
        "init": prediction.init,
        "activation": prediction.activation,
        "sigma_b2": args.sigma_b2,
        "seed": args.seed,
        "examples": args.examples,
        "members": args.members,
    }
    saved = save(
        lambda where: _write_outputs(where, config, prediction, measurement, act, mark),
        Path(args.out),
        what="figures and theory.json",
    )
    print("\n".join([*lines, "", *(f"wrote {p}" for p in saved.paths)]))
    if saved.note:
        print(f"initlab theory: error: {saved.note}", file=sys.stderr)
        return 1
    return 0
