"""``initlab theory kernels``: infinite-width kernels beside finite networks; print, store.

The study is :mod:`initlab.studies.kernel_study`: ``--out DIR`` computes its cells into
``DIR/sweep.sqlite`` (resumable, ``--jobs`` local processes or a Dask ``--scheduler``) and
draws ``DIR/kernels.png`` from the store, which ``initlab report DIR`` shows; without
``--out`` they are computed into a temporary store and printed; ``--write-spec FILE.toml``
writes its spec for ``initlab sweep`` (:func:`initlab.cli._studies.run`, as every study).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli import _studies
from initlab.report import kernels as plots
from initlab.report.tables import lines as table_lines
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import kernel_study
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
    if args.train_examples is not None:  # the finite networks' examples are among them
        given.update({k: min(getattr(study.KernelConfig, k), args.train_examples)
                      for k in study.SUBSETS})  # fmt: skip
    return study.KernelConfig(**{k: v for k, v in given.items() if v is not None}, seed=args.seed)


def run(args: argparse.Namespace, progress=None) -> tuple[list[str], str | None]:
    """Write the spec, or compute and print the study: into the store of ``--out``
    (checked before by the caller), resuming, or a temporary store
    (:func:`initlab.cli._studies.run`)."""
    c = config(args)
    lines = lambda d: table_lines(plots.kernel_tables(kernel_study.read(d, c)))  # noqa: E731
    return _studies.run(kernel_study.study(c), args, lines=lines, outputs=kernels_outputs,
                        progress=progress)  # fmt: skip


def kernels_outputs(s, out: Path) -> list[str]:
    """The study's lines from the store of `out`, its figure drawn."""
    record = kernel_study.read(out, study.KernelConfig(**s.spec[kernel_study.KIND]))
    figure = out / "kernels.png"
    plots.plot_kernels(record).savefig(figure, dpi=120)
    lines = table_lines(plots.kernel_tables(record))
    return [*lines, "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]
