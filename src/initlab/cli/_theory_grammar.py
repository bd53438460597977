"""``initlab theory``'s grammar: one subcommand per study, each with only its own options.

Every option is defined once (:data:`OPTIONS`: flags, type, default); a study lists the options
it reads (:data:`STUDIES`), with its own help text where the meaning or default differs
(:data:`HELP`). The subcommands are built from these tables, and so is the old grammar
(``initlab theory --critical ...``, every option on one parser), kept for one release: its
options are hidden on ``initlab theory``'s parser under ``old_<dest>`` (so they are not
mistaken for a subcommand's), and :func:`old_form` turns them into the namespace the
subcommand would have given, with the one-line notice naming the new form.
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

from initlab._validation import InitlabError
from initlab.analysis import theory as _theory
from initlab.cli import _studies
from initlab.studies import deeplinear, kernels, trainability

_T, _D = trainability.TrainabilityConfig(), deeplinear.DeepLinearConfig()
_K = kernels.KernelConfig()
WEIGHTS = ("gaussian", "orthogonal")


def _words(values: Any) -> str:
    return " ".join(f"{v:g}" for v in values)


def _o(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, kwargs


OPTIONS = {
    "layers": _o("--layers", type=int, nargs="+", metavar="N"),
    "input_dim": _o("--input-dim", type=int, metavar="N"),
    "init": _o("--init", default="xavier"),
    "activation": _o("--activation", nargs="+", metavar="NAME"),
    "sigma_w2": _o("--sigma-w2", type=float, metavar="V"),
    "sigma_b2": _o("--sigma-b2", type=float, metavar="V"),
    "seed": _o("--seed", type=int, default=0),
    "examples": _o("--examples", type=int, default=_theory.DEFAULT_EXAMPLES, metavar="M"),
    "members": _o("--members", type=int, metavar="K"),
    "sigma_b2_grid": _o("--sigma-b2-grid", type=float, nargs="+", metavar="V"),
    "depth": _o("--depth", type=int, default=20),
    "width": _o("--width", type=int, metavar="N"),
    "c0": _o("--c0", type=float, nargs="+", default=[-0.5, 0.1, 0.5, 0.9, 0.99], metavar="C"),
    "depths": _o("--depths", type=int, nargs="+", default=[1, 4, 16, 64], metavar="L"),
    "weights": _o("--weights", nargs="+", choices=WEIGHTS, metavar="LAW"),
    "no_map": _o("--no-map", action="store_true"),
    "train_depths": _o("--train-depths", type=int, nargs="+", metavar="L"),
    "sigma_w2_grid": _o("--sigma-w2-grid", type=float, nargs="+", metavar="V"),
    "steps": _o("--steps", type=int, metavar="T"),
    "task": _o("--task", choices=trainability.TASKS, default=_T.task),
    "multiple": _o("--multiple", type=float, default=_T.multiple),
    "learning_rate": _o("--learning-rate", type=float, default=_T.learning_rate),
    "batch_size": _o("--batch-size", type=int, default=_T.batch_size),
    "dtype": _o("--dtype", choices=trainability.DTYPES, default=_T.dtype),
    "seeds": _o("--seeds", type=int, metavar="S"),
    "criterion": _o("--criterion", type=float, metavar="F"),
    "rates": _o("--rates", type=float, nargs="+", metavar="ETA0"),
    "hidden_layers": _o("--hidden-layers", type=int, metavar="L"),
    "ntk_widths": _o("--ntk-widths", type=int, nargs="+", metavar="N"),
    "train_widths": _o("--train-widths", type=int, nargs="+", metavar="N"),
    "train_examples": _o("--train-examples", type=int, metavar="M"),
    "max_depth": _o("--max-depth", type=int, metavar="L"),
    "out": _o("--out", metavar="DIR"),
    "jobs": _o("--jobs", type=int, metavar="N"),
    "scheduler": _o("--scheduler", metavar="ADDRESS"),
    "write_spec": _o("--write-spec", metavar="FILE.toml"),
    "quiet": _o("-q", "--quiet", action="store_true"),
}
"""Every option of ``initlab theory``, once: dest -> (flags, argparse keywords)."""

HELP: dict[str, str | dict[str, str]] = {
    "layers": "widths n_1 .. n_L of the layers after the input; the last must be 1",
    "input_dim": "n_0 (default: n_1)",
    "init": "initializer, NAME or NAME:KEY=VALUE,... (default xavier)",
    "activation": {
        "critical": "activations, NAME or NAME:KEY=VALUE,... (default: all)",
        "": "hidden activation, NAME or NAME:KEY=VALUE,... (default tanh)",
    },
    "sigma_w2": "sigma_w^2 = n_in Var(W) (default: the critical value at --sigma-b2)",
    "sigma_b2": {
        "trainability": f"bias variance; biases are drawn N(0, V) (default {_T.sigma_b2:g})",
        "kernels": f"bias variance, > 0 (default {_K.sigma_b2:g})",
        "": "bias variance; biases are drawn N(0, V) (default 0: initlab's zero biases)",
    },
    "seed": "random seed (default 0)",
    "examples": f"Gaussian inputs per network (default {_theory.DEFAULT_EXAMPLES})",
    "members": {
        "jacobian": "independent networks measured (default 2)",
        "kernels": f"finite networks of the empirical NTK (default {_K.members})",
        "": f"independent networks measured (default {_theory.DEFAULT_MEMBERS})",
    },
    "sigma_b2_grid": "sigma_b^2 values (default 0 0.01 0.05 0.1 0.2 0.5 1 2)",
    "depth": "layers (default 20)",
    "width": {
        "correlation": "hidden width, >= 2 (default 1000)",
        "jacobian": "hidden width (default 400)",
        "trainability": f"hidden width (default {_T.width})",
        "deep-linear": f"width (default {_D.width})",
        "kernels": f"hidden width of the finite networks (default {_K.width})",
    },
    "c0": "starting correlations (default -0.5 0.1 0.5 0.9 0.99)",
    "depths": "depths of the spectra (default 1 4 16 64)",
    "weights": f"weight laws, any of {' '.join(WEIGHTS)} (default both)",
    "no_map": "print q*, chi_1, c*, chi_c and the depth scales only (a tenth of a second): "
    "no 81-point map, no measured networks, no figure; not with --out",
    "train_depths": {
        "trainability": f"hidden layers (default {_words(_T.depths)})",
        "deep-linear": f"weight layers (default {_words(_D.depths)})",
    },
    "sigma_w2_grid": f"sigma_w^2 values (default {_words(_T.sigma_w2)})",
    "steps": {
        "trainability": f"SGD steps (default {_T.steps})",
        "deep-linear": f"full-batch GD steps (default {_D.steps})",
        "kernels": f"full-batch GD steps of the trained networks (default {_K.steps})",
    },
    "task": f"data (default {_T.task})",
    "multiple": f"the curve is MULTIPLE * xi_c (default {_T.multiple:g})",
    "learning_rate": f"SGD rate (default {_T.learning_rate:g})",
    "batch_size": f"batch (default {_T.batch_size})",
    "dtype": f"floating type of the training (default {_T.dtype})",
    "seeds": {
        "trainability": f"draws per cell (default {_T.seeds})",
        "deep-linear": f"draws per cell (default {_D.seeds})",
    },
    "criterion": "learning time = steps until the cost <= F x its initial value "
    f"(default {_D.criterion:g})",
    "rates": f"eta_0, the rate is eta_0 / D (default {_words(_D.rates)})",
    "hidden_layers": f"hidden layers of the MLP (default {_K.hidden_layers})",
    "ntk_widths": f"widths of the empirical NTK's convergence (default {_words(_K.widths)})",
    "train_widths": f"widths of the trained networks (default {_words(_K.train_widths)})",
    "train_examples": f"digits for the kernels' predictions (default {_K.train}; "
    f"next {_K.test} test); the finite networks' take the first {_K.convergence_examples} "
    f"(NTK), {_K.fit_examples} (trained), {_K.depth_examples} (depth) of them, at most M",
    "max_depth": f"deepest network of the condition-number table (default {_K.max_depth})",
    "out": {
        **dict.fromkeys(("variance", "critical"), "write the results and figures here"),
        "": _studies.HELP["out"],
    },
    **{k: _studies.HELP[k] for k in ("jobs", "scheduler", "write_spec")},
    "quiet": "no progress bar",
}
"""Help of each option; a dict gives it per subcommand ("" for the others)."""


class Study(NamedTuple):
    """A subcommand: the study it runs (None: the mean-field table), its help, its options."""

    kind: str | None
    help: str
    options: tuple[str, ...]


_SIGNAL = ("activation", "sigma_w2", "sigma_b2")
_TRAIN = ("seed", "out", "quiet")
STUDIES = {
    "variance": Study(None, "per-layer variances q_l and gradient ratios r_l of one network, "
                      "predicted beside measured",
                      ("layers", "input_dim", "init", "activation", "sigma_b2", "seed",
                       "examples", "members", "out")),
    "critical": Study("critical", "the critical line chi_1 = 1 per activation and sigma_b^2",
                      ("activation", "sigma_b2_grid", "out")),
    "correlation": Study("correlation", "the correlation map, its depth scales, c_l measured",
                         (*_SIGNAL, "depth", "width", "c0", "members", "seed", "no_map", "out",
                          "jobs", "scheduler", "write_spec")),
    "jacobian": Study("jacobian", "input-output Jacobian spectra beside free probability",
                      (*_SIGNAL, "depths", "width", "weights", "members", "jobs", "scheduler",
                       "write_spec", *_TRAIN)),
    "trainability": Study("trainability", "test accuracy by depth and sigma_w^2 beside xi_c",
                          ("activation", "sigma_b2", "train_depths", "sigma_w2_grid", "width",
                           "steps", "task", "multiple", "learning_rate", "batch_size", "dtype",
                           "seeds", "jobs", "scheduler", "write_spec", *_TRAIN)),
    "deep-linear": Study("deep-linear", "learning time against depth of deep linear networks",
                         ("train_depths", "width", "steps", "seeds", "criterion", "rates",
                          "jobs", "scheduler", "write_spec", *_TRAIN)),
    "kernels": Study("kernels", "NNGP kernel and NTK beside finite networks",
                     (*_SIGNAL, "hidden_layers", "width", "train_examples", "ntk_widths",
                      "members", "train_widths", "steps", "max_depth", "jobs", "scheduler",
                      "write_spec", *_TRAIN)),
}  # fmt: skip
"""``initlab theory SUBCOMMAND``: the studies, in the order ``--help`` lists them."""

FLAGS = {f"--{s.kind}": name for name, s in STUDIES.items() if s.kind}
"""The old grammar's study flags -> the subcommand that replaces each."""


def _help(dest: str, study: str) -> str:
    text = HELP[dest]
    return text if isinstance(text, str) else text.get(study, text.get("", ""))


def add_study(sub: argparse._SubParsersAction, name: str, description: str):
    """Register subcommand `name` with its own options (and nothing else); return its parser."""
    study = STUDIES[name]
    parser = sub.add_parser(
        name, help=study.help, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    for dest in study.options:
        flags, kwargs = OPTIONS[dest]
        if dest == "activation" and name != "critical":
            kwargs = {**kwargs, "nargs": 1}  # one name; a list of one, as the studies read it
        parser.add_argument(*flags, dest=dest, help=_help(dest, name), **kwargs)
    parser.set_defaults(study=study.kind, study_name=name)
    return parser


def add_old_grammar(parser: argparse.ArgumentParser) -> None:
    """The old grammar's flags and options, hidden from ``--help``, as ``old_<dest>``."""
    for flag in FLAGS:
        parser.add_argument(flag, dest="old_" + flag[2:].replace("-", "_"), action="store_true",
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # fmt: skip
    for dest, (flags, kwargs) in OPTIONS.items():
        kwargs = {**kwargs, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        parser.add_argument(*flags, dest="old_" + dest, **kwargs)


def defaults() -> dict[str, Any]:
    """Every option's default: what a study reads for an option it does not take."""
    return {dest: kw.get("default", False if kw.get("action") == "store_true" else None)
            for dest, (_, kw) in OPTIONS.items()}  # fmt: skip


def complete(args: argparse.Namespace) -> argparse.Namespace:
    """Give `args` (a subcommand's) the defaults of the options its study does not take, so
    the studies read one namespace whichever grammar was used."""
    for dest, value in defaults().items():
        if not hasattr(args, dest):
            setattr(args, dest, list(value) if isinstance(value, list) else value)
    return args


def old_form(args: argparse.Namespace) -> tuple[argparse.Namespace, str] | None:
    """The old grammar's namespace, as the subcommand's, and the notice naming the new form;
    None if no old option was given. Options a study does not read are ignored, as before."""
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("old_")}
    if not given:
        return None
    chosen = [flag for flag in FLAGS if given.pop(flag[2:].replace("-", "_"), False)]
    if len(chosen) > 1:
        raise InitlabError(f"choose one study; got {' and '.join(chosen)}")
    name = FLAGS[chosen[0]] if chosen else "variance"
    if getattr(args, "study_name", None) is not None:
        flags = " ".join([*chosen, *(OPTIONS[k][0][-1] for k in given)])
        raise InitlabError(f"options go after the study's name (initlab theory "
                           f"{args.study_name} OPTIONS); got {flags} before it")  # fmt: skip
    old = f"initlab theory {chosen[0]}" if chosen else "initlab theory --layers"
    new = f"initlab theory {name}" + ("" if chosen else " --layers")
    notice = (f"initlab theory: note: `{old} ...` is deprecated and goes in the next release; "
              f"use `{new} ...` (the same options after the study's name)")  # fmt: skip
    kept = {k: v for k, v in vars(args).items() if not k.startswith("old_")}
    kept.update(given, study=STUDIES[name].kind, study_name=name)
    return complete(argparse.Namespace(**kept)), notice


DESCRIPTIONS = {
    "variance": """\
Predict, layer by layer, the variance q_l of the pre-activations Z_l and the ratio
r_l = Var(dZ_l) / Var(dZ_{l+1}) of consecutive gradient variances (Poole et al. 2016,
Schoenholz et al. 2017), measure both on random networks fed Gaussian inputs, and print them
side by side with chi_1, the critical sigma_w^2 and the phase (ordered, critical or chaotic).
--layers lists n_1 .. n_L (the last is the single output unit); the input width n_0 is
--input-dim, by default n_1. --init and --activation take a name or name:key=value,key=value
(random:scale=0.1, leaky_relu:slope=0.2). --out DIR also writes phase_diagram.png,
theory_vs_measurement.png and theory.json (the resolved configuration, the prediction and
the measurement).""",
    "critical": """\
The critical line chi_1 = 1: sigma_w^2 for each activation (all, or those given to
--activation) at each --sigma-b2-grid value. --out DIR writes critical.json and critical.png.""",
    "correlation": """\
The correlation map c -> c' of two inputs, c*, chi_c, the depth scales xi_q and xi_c, and c_l
through --depth layers of width --width (1000) measured on --members networks from each --c0,
beside the prediction. --sigma-w2 defaults to the critical value at --sigma-b2. --no-map
prints only q*, chi_1, c*, chi_c and the depth scales (no map, no measured networks, no
figure). --out DIR stores the study in DIR/sweep.sqlite, one cell per measured network
(a rerun computes only the networks not stored; `initlab results DIR` lists them), and draws
DIR/correlation.png; --jobs N computes on N local processes, --scheduler ADDRESS on a Dask
cluster (the same bits); --write-spec FILE.toml writes the study's spec, which `initlab
sweep FILE.toml --out DIR` runs.""",
    "jacobian": """\
Singular values of the input-output Jacobian at --depths (1 4 16 64), width --width (400),
Gaussian and orthogonal weights (--weights gaussian or orthogonal runs one law), beside the
free-probability mean and variance (Pennington et al. 2017, 2018). --sigma-w2 defaults to the
critical value at --sigma-b2. --out DIR stores each network's chain in DIR/sweep.sqlite
(a rerun resumes; --jobs N local processes or --scheduler ADDRESS a Dask cluster, the same
bits) and draws jacobian.png; --write-spec FILE.toml writes the study's spec, which
`initlab sweep FILE.toml --out DIR` runs.""",
    "trainability": """\
One population per depth in --train-depths (2 4 8 12 16 24 32 hidden tanh layers of width
--width 64), every --sigma-w2-grid value (0.5 .. 6) x --seeds draws, biases N(0, --sigma-b2
0.05), trained for --steps (300) SGD steps on --task (digits10: 8x8 digits, 10 classes);
prints the test accuracy beside --multiple (6) x xi_c (Schoenholz et al. 2017); with --out
DIR stores every cell in DIR/sweep.sqlite as each population finishes (a rerun computes only
what is not stored; `initlab results DIR` lists the cells) and draws DIR/trainability.png.
--jobs N trains on N local processes, --scheduler ADDRESS on a Dask cluster (the same bits).
--write-spec FILE.toml writes the map's spec instead, which `initlab sweep FILE.toml --out
DIR` runs.""",
    "deep-linear": """\
Learning time against depth (--train-depths 2 .. 64 weight layers of width --width 32) of deep
linear networks, orthogonal vs Gaussian weights, on a linear teacher (Saxe et al. 2014); with
--out DIR stores every member in DIR/sweep.sqlite as its population finishes (a rerun
resumes; --jobs N, --scheduler ADDRESS and --write-spec FILE.toml as for trainability) and
draws DIR/deeplinear.png. --criterion F (0.05): the
learning time is the first step with cost <= F x the initial cost.""",
    "kernels": """\
The NNGP kernel and NTK (NTK parametrization) of an --activation (tanh) MLP of
--hidden-layers (2) layers of --width (512) at --sigma-w2 (critical) and --sigma-b2 (0.05,
must be > 0) on the digits: GP and NTK-gradient-descent test MSE and accuracy; the empirical
NTK of --members (8) finite networks at --ntk-widths against the analytic one (slope ~ -1/2);
networks of --train-widths trained --steps (200) full-batch GD steps beside the kernel's
prediction, and muP's and SP's kernels moving; the NNGP's condition number through
--max-depth layers in the ordered, critical and chaotic phases beside c* and xi_c. --out DIR
stores the study in DIR/sweep.sqlite, one cell per trained network (a rerun computes only
the cells not stored; `initlab results DIR` lists them), and draws DIR/kernels.png
(docs/kernels.md); --jobs N computes on N local processes, --scheduler ADDRESS on a Dask
cluster (the same bits); --write-spec FILE.toml writes the study's spec, which `initlab
sweep FILE.toml --out DIR` runs.""",
}
"""Each subcommand's ``--help`` description."""
