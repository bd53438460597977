"""``initlab run SPEC.toml --out DIR``: train the comparison a spec describes."""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli import _checks
from initlab.cli._common import (
    add_jobs,
    console,
    describe_data,
    err_console,
    expected_bytes,
    on_threads,
    progress_bar,
    summary_table,
    write_outputs,
)
from initlab.cli._outputs import check_dir, out_path
from initlab.nn import engines

SPEC_KEYS = """\
spec keys (defaults are the post's: one sigmoid unit, full-batch gradient descent):
  [data]      train = "digits" | "digits10" | FOLDER | FILE.h5 | FILE.npz
              test = FILE | test_fraction = 0.25 (split_seed = 0); x_key, y_key
              labels are integers 0..C-1 (image folders: one sub-folder per class)
  [model]     hidden = [5, 5]; activation = "tanh" (sigmoid, relu, leaky_relu, linear,
              or { name = "leaky_relu", slope = 0.2 })
              output = "sigmoid" (binary cross-entropy, 1 unit) | "softmax" (cross-entropy,
              one unit per class, accuracy by argmax) | "linear" (squared error, no accuracy)
  [training]  learning_rate = 0.01; iterations = 1000 (full-batch steps)
              optimizer = "gd" | "sgd" | "momentum" | "adam" | "adamw" or a table:
                { name = "momentum", momentum = 0.9, nesterov = false, dampening = 0.0 }
                { name = "adam", beta1 = 0.9, beta2 = 0.999, eps = 1e-8 }
                { name = "adamw", weight_decay = 0.01 }   (decoupled decay)
              weight_decay = 0.0 (L2 added to the gradient; adamw: decoupled)
              batch_size = N (default: every example at each step); epochs = N (passes
              over the data, instead of iterations); shuffle_seed = 0 (each epoch's order)
              seed = 1; seeds = 1; stream = "default" | "legacy"; dtype = "float64" | "float32"
              engine = "auto" | "direct" | "sample" (sample: exact for gd, sgd, momentum;
              refused for adam/adamw, which auto trains on direct); diagnostics = true
              twins = 1 (shadow twins per run, weights perturbed by 1e-12: mark chaotic
              runs with a dagger; 0: none; they never change a run's numbers)
  [[runs]]    name = "he"; init = "he" or { name = "random", scale = 10 };
              learning_rate, seed, seeds, activation override [training]/[model]

example (10 classes, Adam on mini-batches; works offline):
  initlab run examples/digits-adam.toml --out out/digits-adam
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train the runs of an experiment spec (TOML) and write results and figures",
        description="Train every run of SPEC as populations, write DIR/results.json, cost "
        "curves and accuracy figures, and print the summary table. The spec is validated "
        "whole before any training.",
        epilog=SPEC_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", type=Path, help="experiment file (TOML); see examples/")
    p.add_argument("--out", type=out_path, required=True, help="output directory")
    p.add_argument("--engine", choices=engines.CHOICES, help="override training.engine")
    p.add_argument("--no-figures", action="store_true", help="write results.json only")
    p.add_argument(
        "--twins", type=int, metavar="N",
        help="override training.twins: shadow twins per run that mark chaotic runs (0: none)",
    )  # fmt: skip
    add_jobs(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab.execution import runner as experiment
    from initlab.specs import spec as spec

    _checks.nonempty_out(args)
    s = spec.load(args.spec)
    if args.engine:
        s.training = s.training.with_engine(args.engine)
    if args.twins is not None:
        s.training = s.training.with_twins(args.twins)
    data = experiment.load_data(s)
    experiment.preflight(s, data, args.jobs)  # labels and memory, before the output dir
    check_dir(args.out, need=expected_bytes(s, figures=not args.no_figures))
    with progress_bar("training", args.quiet) as progress:
        results = experiment.run(s, data=data, progress=progress, jobs=args.jobs)
    saved = write_outputs(results, args.out, figures=not args.no_figures)
    console.print(describe_data(results))
    console.print(summary_table(results))
    reason = results.get("engine_reason")
    if reason and reason != "requested":
        console.print(f"engine {results['engine']}: {reason}")
    console.print(
        f"results and figures in {saved.where}/ (engine: {results['engine']}, "
        f"{results['seconds']:.2f} s of training{on_threads(results)})"
    )
    if saved.note:
        err_console.print(f"initlab run: error: {saved.note}")
        return 1
    return 0
