"""``initlab theory kernels``: infinite-width kernels beside finite networks; print, store.

The study is :mod:`initlab.studies.kernels`; ``--out DIR`` writes ``DIR/kernels.json``
(atomically) and ``DIR/kernels.png`` drawn from it, which ``initlab report DIR`` shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli._outputs import save
from initlab.report import kernels as plots
from initlab.studies import kernels as study

STUDIES = ("kernels",)


def config(args: argparse.Namespace) -> study.KernelConfig:
    """The study's configuration from the command's arguments (defaults: :class:`KernelConfig`)."""
    given = {
        "activation": (args.activation or [None])[0],
        "sigma_w2": args.sigma_w2,
        "sigma_b2": args.sigma_b2,
        "hidden_layers": args.hidden_layers,
        "width": args.width,
        "train": args.train_examples,
        "widths": args.ntk_widths,
        "members": args.members,
        "train_widths": args.train_widths,
        "steps": args.steps,
        "max_depth": args.max_depth,
    }
    return study.KernelConfig(**{k: v for k, v in given.items() if v is not None}, seed=args.seed)


def run(args: argparse.Namespace, progress=None) -> tuple[list[str], str | None]:
    """Compute, print and (with ``--out``, checked before by the caller) store the study."""
    record = study.run(config(args), progress)
    lines = plots.summary_lines(record)
    if not args.out:
        return lines, None

    def write(out: Path) -> list[Path]:
        path, figure = study.write(out, record), out / "kernels.png"
        plots.plot_kernels(study.read(out)).savefig(figure, dpi=120)
        return [path, figure]

    saved = save(write, Path(args.out), what="kernel results")
    return [*lines, "", *(f"wrote {p}" for p in saved.paths)], saved.note
