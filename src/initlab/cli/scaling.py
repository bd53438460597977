"""``initlab scaling``: width parametrizations (SP, NTK, muP), coordinate checks, lr transfer.

``initlab scaling table`` prints the parametrization table (docs/scaling.md).

``initlab scaling coord-check --widths 64 128 256 512 --out DIR`` trains each
parametrization at each width for a few steps on one batch of scikit-learn's digits and
prints, per layer and step, the mean |x| at each width, the fitted slope in width and the
verdict (stable within the band, grows, vanishes); DIR gets coord_check.json and the figures
coord_check.png (sizes) and coord_check_change.png (changes since step 0).

``initlab scaling lr-transfer --widths 64 128 256 --log2-lrs -11 -3 --out DIR`` trains one
population per parametrization and width over learning rates 2^k x seeds and prints each
width's optimum learning rate; DIR gets lr_transfer.json and lr_transfer.png.

Both take ``--depth`` (hidden layers after the first, or residual blocks with
``--residual``), ``--branch-scaling constant|depth|completep|learnable``, ``--base-depth``,
``--alpha``, ``--zero-branch``, ``--dtype float64|float32`` (the training's floating type,
recorded in the result) and ``--base-width`` (required with ntk or mup: the width at which
they equal SP, never a default that moves with ``--widths``). ``initlab scaling figures
RESULT.json`` redraws the figures of a stored result.

With ``--out DIR`` each member's numbers are a cell stored in ``DIR/sweep.sqlite`` as its
population finishes (the sweep's executor: a rerun computes only what is missing, after
Ctrl-C or kill -9; ``--jobs N`` local processes or ``--scheduler ADDRESS`` a Dask cluster,
the same bits; ``initlab results DIR`` lists the cells); without ``--out`` the cells go
to a temporary store and only the table is printed. ``--write-spec FILE.toml`` writes
the study's spec instead, which ``initlab sweep FILE.toml --out DIR`` runs to the same cells.
These four options mean what they mean for ``initlab theory``'s studies
(:mod:`initlab.cli._studies`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.analysis import coordcheck as _cc
from initlab.cli import _checks, _studies
from initlab.cli._common import console, err_console, progress_bar
from initlab.cli._outputs import check_dir, save
from initlab.init import parametrization as _par
from initlab.studies import lrtransfer as _lrtransfer
from initlab.studies import scaling as _scaling


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scaling",
        help="width parametrizations (SP, NTK, muP): coordinate checks and lr transfer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="scaling_command", metavar="ACTION", required=True)
    table = sub.add_parser("table", help="print the parametrization table")
    table.set_defaults(func=run_table)
    cc = sub.add_parser("coord-check", help="activation sizes by width, per layer and step")
    _common(cc, widths=(64, 128, 256, 512), parametrizations=("sp", "ntk", "mup"))
    cc.add_argument("--steps", type=int, default=2, help="updates (default 2)")
    cc.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    cc.add_argument("--seeds", type=int, default=4, help="seeds 0..S-1 (default 4)")
    cc.add_argument("--examples", type=int, default=128, help="batch size (default 128)")
    cc.add_argument("--band", type=float, default=_cc.DEFAULT_BAND,
                    help=f"|slope| called stable (default {_cc.DEFAULT_BAND})")  # fmt: skip
    cc.set_defaults(func=run_coord_check)
    lt = sub.add_parser("lr-transfer", help="loss against learning rate, per width")
    _common(lt, widths=(64, 128, 256), parametrizations=("sp", "mup"))
    lt.add_argument("--log2-lrs", type=int, nargs=2, default=(-11, -3), metavar=("LO", "HI"),
                    help="learning rates 2^LO .. 2^HI (default -11 -3)")  # fmt: skip
    lt.add_argument("--steps", type=int, default=40, help="updates (default 40)")
    lt.add_argument("--batch-size", type=int, default=32, help="mini-batch (default 32)")
    lt.add_argument("--seeds", type=int, default=1, help="seeds 0..S-1 (default 1)")
    lt.add_argument("--examples", type=int, default=256,
                    help="digits used (default 256; 0 for all 1797)")  # fmt: skip
    lt.set_defaults(func=run_lr_transfer)
    fig = sub.add_parser("figures", help="redraw the figures of a stored result")
    fig.add_argument("result", help="coord_check.json or lr_transfer.json")
    fig.add_argument("--out", help="folder (default: the result's)")
    fig.set_defaults(func=run_figures)


def _common(p: argparse.ArgumentParser, widths, parametrizations) -> None:
    p.add_argument("--widths", type=int, nargs="+", default=list(widths), metavar="N",
                   help=f"hidden widths (default {' '.join(map(str, widths))})")  # fmt: skip
    p.add_argument("--parametrizations", nargs="+", default=list(parametrizations),
                   choices=_par.available(), metavar="P",
                   help=f"of {', '.join(_par.available())} (default "
                   f"{' '.join(parametrizations)})")  # fmt: skip
    p.add_argument("--optimizer", default=None, choices=("sgd", "momentum", "adam", "adamw"),
                   help="default sgd (coord-check), adam (lr-transfer)")  # fmt: skip
    p.add_argument("--base-width", type=int, metavar="N0",
                   help="n0, where ntk and mup equal sp (required with ntk or mup)")  # fmt: skip
    p.add_argument("--depth", type=int, default=2, help="layers/blocks after the first (2)")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument("--init", default="he", help="SP initializer (default he)")
    p.add_argument("--residual", action="store_true", help="residual blocks")
    p.add_argument("--branch-layers", type=int, default=1, help="layers per branch (1)")
    p.add_argument("--branch-scaling", default="constant", choices=("constant", "depth",
                   "completep", "learnable"),
                   help="branch multiplier alpha, alpha/sqrt(L), alpha/L or trained "
                   "(default constant)")  # fmt: skip
    p.add_argument("--base-depth", type=int, metavar="L0",
                   help="scale the blocks' learning rates from depth L0 as --branch-scaling "
                   "depth|completep requires (default: no depth factor)")  # fmt: skip
    p.add_argument("--alpha", type=float, default=1.0, help="branch multiplier (default 1)")
    p.add_argument("--zero-branch", action="store_true", help="zero each branch's last layer")
    p.add_argument("--dtype", default="float64", choices=_scaling.DTYPES,
                   help="floating type of the training (default float64)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", help=_studies.HELP["out"] + " (the result as JSON "
                   "too)")  # fmt: skip
    p.add_argument("--jobs", type=int, metavar="N", help=_studies.HELP["jobs"])
    p.add_argument("--scheduler", metavar="ADDRESS", help=_studies.HELP["scheduler"])
    p.add_argument("--write-spec", metavar="FILE.toml", help=_studies.HELP["write_spec"])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _architecture(args: argparse.Namespace) -> _scaling.Architecture:
    return _scaling.Architecture(
        depth=args.depth, init=args.init, activation=args.activation, skip=args.residual,
        branch_layers=args.branch_layers, branch_scaling=args.branch_scaling,
        alpha=args.alpha, zero_branch=args.zero_branch, base_depth=args.base_depth,
    )  # fmt: skip


def run_table(args: argparse.Namespace) -> int:
    console.print(_par.markdown_table())
    return 0


def _check_base_width(args: argparse.Namespace) -> None:
    """``--base-width`` is given whenever a parametrization other than sp is (before any work)."""
    scaled = [p for p in args.parametrizations if p != "sp"]
    if scaled and args.base_width is None:
        raise InitlabError(
            f"--base-width N0 is required with --parametrizations {' '.join(scaled)}: the width "
            "at which they equal sp (no default, so that it does not move with --widths)"
        )


def run_coord_check(args: argparse.Namespace) -> int:
    _checks.scaling_options(args, lr_transfer=False)
    _check_base_width(args)
    kwargs = dict(
        steps=args.steps, optimizer=args.optimizer or "sgd", learning_rate=args.lr,
        seeds=range(args.seeds), base_width=args.base_width, n_examples=args.examples,
        architecture=_architecture(args), dtype=args.dtype,
    )  # fmt: skip
    if args.write_spec:
        return _write_spec(args, _scaling.study(args.widths, args.parametrizations, **kwargs))
    with (
        _interrupted(args, lambda: _scaling.study(args.widths, args.parametrizations, **kwargs)),
        _store(args, "coord-check") as executor,
        progress_bar("coord check", args.quiet, unit="cells") as progress,
    ):
        result = _scaling.coord_check(
            args.widths, args.parametrizations, progress=progress, **kwargs, **executor
        )
    for line in coord_check_lines(result, args.band):
        console.print(line, markup=False)
    return _write(result, Path(args.out), "coord_check") if args.out else 0


def coord_check_lines(result: _scaling.CoordCheck, band: float = _cc.DEFAULT_BAND) -> list[str]:
    """What ``initlab scaling coord-check`` prints: the sizes by width, the verdicts."""
    from initlab.report.scaling import verdict_lines

    lines = []
    for p, rows in result.rows("size", band).items():
        lines += [f"\n{p}: mean |x| by width; slope of log size in log width",
                  _cc.format_rows(result.widths, rows)]  # fmt: skip
    lines += ["verdict " + line for line in verdict_lines(result, band)]
    warning = _cc.ladder_warning(result.widths)
    return lines + ([warning] if warning else [])


def run_lr_transfer(args: argparse.Namespace) -> int:
    _checks.scaling_options(args, lr_transfer=True)
    lo, hi = args.log2_lrs
    _check_base_width(args)
    kwargs = dict(
        optimizer=args.optimizer or "adam", steps=args.steps, batch_size=args.batch_size,
        seeds=range(args.seeds), base_width=args.base_width, architecture=_architecture(args),
        n_examples=args.examples or None, dtype=args.dtype,
    )  # fmt: skip
    grid = (args.widths, tuple(range(lo, hi + 1)), args.parametrizations)
    if args.write_spec:
        return _write_spec(args, _lrtransfer.study(*grid, **kwargs))
    with (
        _interrupted(args, lambda: _lrtransfer.study(*grid, **kwargs)),
        _store(args, "lr-transfer") as executor,
        progress_bar("lr transfer", args.quiet, unit="cells") as progress,
    ):
        result = _scaling.lr_transfer(*grid, progress=progress, **kwargs, **executor)
    for line in lr_transfer_lines(result):
        console.print(line, markup=False)
    return _write(result, Path(args.out), "lr_transfer") if args.out else 0


def lr_transfer_lines(result: _scaling.LrTransfer) -> list[str]:
    """What ``initlab scaling lr-transfer`` prints: the optimum by width, its shift."""
    from initlab.report.scaling import optimum_table, shift_lines

    return ["optimum learning rate (least mean training loss over seeds) by width:",
            optimum_table(result), *shift_lines(result)]  # fmt: skip


def study_outputs(study, out: Path) -> list[str]:
    """The lines of ``initlab sweep SPEC`` for a scaling study: its command's, from the store
    (every cell done), with the result and figures written into `out`."""
    kwargs = dict(study.spec[study.kind])
    kwargs["architecture"] = _scaling.Architecture(**kwargs["architecture"])
    if study.kind == _lrtransfer.KIND:
        result = _lrtransfer.lr_transfer(**kwargs, out=out)
        lines, stem = lr_transfer_lines(result), "lr_transfer"
    else:
        result = _scaling.coord_check(**kwargs, out=out)
        lines, stem = coord_check_lines(result), "coord_check"
    paths = [result.save(out / f"{stem}.json"), *_figures(result, out)]
    return [*lines, "wrote " + ", ".join(str(p) for p in paths)]


def _write_spec(args: argparse.Namespace, study) -> int:
    """``--write-spec FILE.toml``: the study's spec, nothing computed."""
    for line in _studies.write_spec(args, study.spec):
        console.print(line)
    return 0


@contextlib.contextmanager
def _interrupted(args: argparse.Namespace, study: Callable[[], Any]) -> Iterator[None]:
    """On Ctrl-C, say what the other study commands say (how many of ``study()``'s cells
    are stored in ``--out`` and how to resume, or that nothing is kept), then re-raise."""
    from initlab.results.sweep_store import STORE_FILE, open_store

    try:
        yield
    except KeyboardInterrupt:
        statuses, store = {}, Path(args.out or ".") / STORE_FILE
        if args.out and store.is_file():
            with open_store(args.out, readonly=True) as s:
                statuses = s.statuses("cells")
        err_console.print(_studies.interrupted_note(study(), statuses, store,
                                                    kept=bool(args.out)), markup=False)  # fmt: skip
        raise


@contextlib.contextmanager
def _store(args: argparse.Namespace, kind: str) -> Iterator[dict]:
    """Where the study's cells go, as the executor's keywords: the store of ``--out``
    (checked here, before the work), or a temporary store that is removed afterwards, as
    every study command does (:func:`initlab.cli._studies.run`)."""
    flops = _checks.scaling_cost(args, kind == "lr-transfer").flops
    executor = {"jobs": _studies.default_jobs(args.jobs, flops), "scheduler": args.scheduler}
    if args.out:
        check_dir(args.out, need=5_000_000)
        yield {"out": args.out, **executor}
        return
    with _studies.temporary_store(kind) as tmp:
        yield {"out": tmp, **executor}


def _write(result, out: Path, stem: str) -> int:
    """Store the result and its figures in `out` (checked before the work), or in a rescue
    directory if that fails now; the exit status."""
    what = f"{stem}.json and its figures"
    saved = save(lambda where: [result.save(where / f"{stem}.json"), *_figures(result, where)],
                 out, what=what)  # fmt: skip
    console.print("wrote " + ", ".join(str(p) for p in saved.paths))
    if saved.note:
        err_console.print(f"initlab scaling: error: {saved.note}", markup=False)
        return 1
    return 0


def _figures(result, out: Path) -> list[Path]:
    from initlab.report import scaling as plots

    out.mkdir(parents=True, exist_ok=True)
    if isinstance(result, _scaling.CoordCheck):
        figs = {"coord_check.png": plots.coord_check_figure(result, "size"),
                "coord_check_change.png": plots.coord_check_figure(result, "change")}  # fmt: skip
    else:
        figs = {"lr_transfer.png": plots.lr_transfer_figure(result)}
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=110)
    return [out / name for name in figs]


def run_figures(args: argparse.Namespace) -> int:
    _checks.nonempty_out(args)
    path = Path(args.result)
    if not path.exists():
        raise InitlabError(f"no result file {path}")
    import json

    from initlab._limits import read_bounded

    what = f"{path} is not a coord_check.json or lr_transfer.json"
    try:
        doc = json.loads(read_bounded(path, 2**30, "result file"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InitlabError(f"{what} (not JSON: {exc})") from None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    cls = {"coord-check": _scaling.CoordCheck, "lr-transfer": _scaling.LrTransfer}.get(kind)
    if cls is None:
        raise InitlabError(what)
    try:
        result = cls.load(path)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, InitlabError):
            raise
        raise InitlabError(f"{path} is damaged: {type(exc).__name__} {exc}") from None
    paths = _figures(result, Path(args.out) if args.out else path.parent)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0
