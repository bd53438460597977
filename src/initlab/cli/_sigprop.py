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

The tables printed are built in :mod:`initlab.report.sigprop` (``TABLES``), which
``initlab report DIR`` shows beside the figures; this module prints them.
"""

from __future__ import annotations

import argparse
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


def _activation(text: str, parse_spec) -> activations.Activation:
    spec = parse_spec(text, "--activation")
    return activations.get(spec.pop("name"), **spec)


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
        return plots_sigprop.depth_scales_lines(record["scales"]), None
    lines = plots_sigprop.TABLES[kind](record).lines()
    if not args.out:
        return lines, None

    def write(out: Path) -> list[Path]:
        path, figure = sigprop.write(out, record), out / f"{kind}.png"
        plots_sigprop.FIGURES[kind](sigprop.read(out, kind)).savefig(figure, dpi=120)
        return [path, figure]

    saved = save(write, Path(args.out), what=f"{kind} results")
    return [*lines, "", *(f"wrote {p}" for p in saved.paths)], saved.note


def _run_study(kind: str, args: argparse.Namespace, parse_spec, progress=None,
               flops: float | None = None) -> tuple[list[str], str | None]:  # fmt: skip
    """``correlation`` or ``jacobian`` as every study command runs
    (:func:`initlab.cli._studies.run`)."""
    if kind == "correlation":
        config, module = correlation_config(args, parse_spec), correlation
        outputs = correlation_outputs
    else:
        config, module = jacobian_config(args, parse_spec), jacobian_study
        outputs = jacobian_outputs
    return _studies.run(
        module.study(config),
        args,
        lines=lambda d: plots_sigprop.TABLES[kind](module.read(d, config)).lines(),
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
    lines = plots_sigprop.correlation_table(record).lines()
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
    lines = plots_sigprop.jacobian_table(record).lines()
    return [*lines, "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]
