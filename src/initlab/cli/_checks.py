r"""Each command's options checked at its boundary: ranges as data, memory and work estimated.

The rules (:class:`initlab._limits.Rule`) are the documented range of every numeric option,
checked before anything is computed; an explicit value, 0 included, is checked, never
replaced by a default. The estimates are upper bounds of what each study holds at once
(bytes of float64 arrays) and of its floating-point operations, so a study that could not
finish is refused in one line (:func:`initlab._limits.check_memory`,
:func:`initlab._limits.check_work`) instead of dying in NumPy or running for days.

Estimates (8 bytes per float64; :math:`K` members measured one after another):

- ``theory variance``: one network's parameters :math:`P = \sum_l n_l (n_{l-1} + 1)`
  with the initializer's temporaries, plus its forward and backward arrays on :math:`m`
  examples, :math:`8 [3 P + m (n_0 + 4 \sum_{l \ge 1} n_l)]`; work :math:`6 K m P`.
- ``theory correlation`` (width :math:`N`, depth :math:`L`, :math:`C` starting correlations):
  one layer's weights and their draw, :math:`8 [3 N^2 + K C (L + 1) + 4 N C]`; work
  :math:`K L N^2 (2C + 10)`.
- ``theory jacobian``: :math:`W`, :math:`J`, :math:`W J`, its product with :math:`D_l` and the
  SVD's workspace (LAPACK ``gesdd``), :math:`8 [10 N^2 + K |depths| N]`; work, two weight laws,
  :math:`2 K [\max(depths) (2 N^3 + 10 N^2) + 10 |depths| N^3]`.
- ``theory kernels``: its finite networks (the closed forms are :math:`O(m^2)` whatever the
  width): with :math:`P(n) = 64 n + (L - 1) n^2 + (L + 2) n + 1` parameters at width
  :math:`n` and :math:`L` hidden layers, the empirical NTK of :math:`K` members on
  :math:`m_c` examples holds :math:`8 K [3 P + 4 L n m_c + m_c^2]` at the widest of
  ``widths``, a trained network :math:`8 [6 P + 8 L n (m_f + m_t)]` on :math:`m_f` fit and
  :math:`m_t` test examples; work :math:`\sum_n K (6 m_c P + 2 L n m_c^2)` over ``widths``
  and :math:`\sum_n 4 \cdot 6 m_f P T` over ``train_widths`` (one network and three
  moving kernels, :math:`T` steps each), plus the closed forms' quadrature
  (:func:`_quadrature_bytes`)
  (whatever the width).
- ``theory trainability`` / ``deep-linear`` and ``scaling``: a population's training arrays by
  :func:`initlab.execution.budget.estimate_bytes`; work :math:`6 K b P T`. A population is
  at most the study's ``max_population`` members (the executor splits a group beyond it), so
  the arrays are those of :math:`\min(K, \text{max\_population})` members, plus
  :data:`CELL_BYTES` for every member of the study; the work is all :math:`K` members'
  however they are split.

A study spec (``initlab sweep STUDY.toml``) gets its command's estimate (:func:`study_cost`),
refused in a line that names the spec file and the keys of its table.
"""

from __future__ import annotations

import argparse
import itertools
from typing import NamedTuple
from urllib.parse import urlsplit

from initlab._limits import (
    FINITE,
    NATURAL,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    Rule,
    check_memory,
    check_options,
    check_work,
    option_name,
)
from initlab._validation import InitlabError, check_number, shorten
from initlab.cli import _studies
from initlab.studies.specs import MAX_POPULATION

THEORY_RULES = {
    "layers": POSITIVE_INT, "input_dim": POSITIVE_INT, "sigma_b2": NONNEGATIVE, "seed": NATURAL,
    "examples": POSITIVE_INT, "members": POSITIVE_INT, "sigma_w2": POSITIVE,
    "sigma_b2_grid": NONNEGATIVE, "depth": POSITIVE_INT, "width": POSITIVE_INT,
    "c0": Rule(low=-1, high=1), "depths": POSITIVE_INT, "train_depths": POSITIVE_INT,
    "sigma_w2_grid": POSITIVE, "steps": POSITIVE_INT, "multiple": POSITIVE,
    "learning_rate": POSITIVE, "batch_size": POSITIVE_INT, "seeds": POSITIVE_INT,
    "rates": POSITIVE, "jobs": POSITIVE_INT,
}  # fmt: skip
"""``initlab theory STUDY``: every numeric option's range (each study checks its own)."""

SCALING_RULES = {
    "widths": POSITIVE_INT, "base_width": POSITIVE_INT, "depth": NATURAL,
    "branch_layers": POSITIVE_INT, "alpha": FINITE, "steps": POSITIVE_INT, "lr": POSITIVE,
    "seeds": POSITIVE_INT, "band": POSITIVE, "batch_size": POSITIVE_INT, "log2_lrs": FINITE,
    "jobs": POSITIVE_INT,
}  # fmt: skip
"""``initlab scaling coord-check | lr-transfer``: every numeric option's range."""

SWEEP_RULES = {"jobs": POSITIVE_INT, "max_population": POSITIVE_INT}
"""``initlab sweep``: its numeric options' ranges."""

DIGITS = 1797
"""Examples of scikit-learn's digits (the scaling and trainability studies' data)."""
CELL_BYTES = 2000
"""Memory a trained study holds for each member besides its population's arrays, counted
for every member (the cap of a population does not bound it): its cell, 0.7 kB as measured
by tracemalloc over a trainability map of 24,001 cells; the rest allows for its row read
back from the store and the executor's lists (an allowance, not a measurement)."""


def nonempty_out(args: argparse.Namespace, *dests: str) -> None:
    """Refuse ``--out ''`` (and the other output options `dests`): an empty path would
    silently mean "no output" or the current folder."""
    for dest in ("out", *dests):
        if getattr(args, dest, None) is not None and not str(getattr(args, dest)).strip():
            raise InitlabError(f"{option_name(dest)} is empty; give a path")


def scheduler_address(address: str | None) -> None:
    """Refuse a ``--scheduler`` that is not ``[PROTOCOL://]HOST:PORT`` (Dask's own parser
    raises a ValueError deep in its client, after the store is made)."""
    if address is None:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise InitlabError(f"--scheduler {shorten(address, 80)}: expected a Dask scheduler "
                           "address [PROTOCOL://]HOST:PORT, e.g. tcp://10.0.0.5:8786")  # fmt: skip


def heatmap_options(option: str, axes: list[str] | None, metric: str | None = None) -> None:
    """A heatmap's two axes (``--heatmap X Y`` / ``--axes X Y``) and ``--metric``, checked
    against :mod:`initlab.report.sweep`'s lists and named as typed."""
    from initlab.report import sweep as _sweep

    for label, value in zip(("X", "Y"), axes or (), strict=False):
        if value not in _sweep.AXES:
            raise InitlabError(
                f"{option} {label} must be one of {', '.join(_sweep.AXES)}; got {shorten(value)}"
            )
    if axes and axes[0] == axes[1]:
        raise InitlabError(f"{option} X Y must be two different axes; got {axes[0]!r} twice")
    if metric is not None and metric not in _sweep.METRICS:
        raise InitlabError(
            f"--metric must be one of {', '.join(_sweep.METRICS)}; got {shorten(metric)}"
        )


# --------------------------------------------------------------------------- theory


class Cost(NamedTuple):
    """A study's estimated peak memory (bytes) and work (floating-point operations)."""

    bytes: float
    flops: float
    what: str
    hint: str

    def check(self) -> None:
        check_memory(self.bytes, self.what, self.hint)
        check_work(self.flops, self.what, self.hint)


def theory_options(args: argparse.Namespace, study: str | None) -> None:
    """Ranges of ``initlab theory``'s options, then the chosen study's memory and work."""
    nonempty_out(args)
    check_options(args, THEORY_RULES)
    scheduler_address(getattr(args, "scheduler", None))
    _studies.check_write_spec(args)
    if study is None and args.layers and args.layers[-1] != 1:
        raise InitlabError(
            f"--layers lists n_1 .. n_L and the last, the output, must be 1; got {args.layers[-1]}"
        )
    if study == "correlation" and args.width is not None:
        check_number("--width", args.width, low=2, integer=True)
    cost = theory_cost(args, study)
    if cost is not None:
        cost.check()


def theory_cost(args: argparse.Namespace, study: str | None) -> Cost | None:
    """The estimate of ``initlab theory``'s chosen study (None: seconds, nothing to bound)."""
    if study is None:
        return _mean_field(args) if args.layers else None
    costs = {"correlation": _correlation, "jacobian": _jacobian, "kernels": _kernels,
             "trainability": _trainability, "deep-linear": _deep_linear}  # fmt: skip
    return costs[study](args) if study in costs else None


def _params(sizes: list[int]) -> int:
    return sum(n * (n_prev + 1) for n_prev, n in itertools.pairwise(sizes))


def _mean_field(args: argparse.Namespace) -> Cost:
    sizes = [args.input_dim or args.layers[0], *args.layers]
    P, m, K = _params(sizes), args.examples, args.members or 1
    return Cost(
        8 * (3 * P + m * (sizes[0] + 4 * sum(sizes[1:]))), 6 * K * m * P,
        f"--layers {' '.join(map(str, args.layers))} on --examples {m}",
        "Use narrower layers or fewer --examples.",
    )  # fmt: skip


def _correlation(args: argparse.Namespace) -> Cost:
    N, L, K, C = args.width or 1000, args.depth, args.members or 8, len(args.c0)
    return Cost(
        8 * (3 * N * N + K * C * (L + 1) + 4 * N * C), K * L * N * N * (2 * C + 10),
        f"theory correlation at --width {N}, --depth {L}, --members {K}, {C} --c0 value(s)",
        "Use a smaller --width, --depth or --members, or fewer --c0 values.",
    )  # fmt: skip


def _jacobian(args: argparse.Namespace) -> Cost:
    N, K, D = args.width or 400, args.members or 2, sorted(set(args.depths))
    return Cost(
        8 * (10 * N * N + K * len(D) * N),
        2 * K * (D[-1] * (2 * N**3 + 10 * N**2) + 10 * len(D) * N**3),
        f"theory jacobian at --width {N}, --depths up to {D[-1]}, --members {K}",
        "Use a smaller --width, smaller --depths or fewer --members.",
    )  # fmt: skip


def _quadrature_bytes() -> int:
    """The kernels' closed forms by blocks (:mod:`initlab.analysis.kernel_steps`): five
    arrays of ``BLOCK`` entries by ``NODES`` quadrature nodes; a part's traced peak measured
    56-58 MB (tanh, 128 examples), this 63 MB."""
    from initlab.analysis.dual import NODES
    from initlab.analysis.kernel_steps import BLOCK

    return 5 * BLOCK * NODES * 8


def _kernels(args: argparse.Namespace) -> Cost:
    from initlab.cli._kernels import config

    c = config(args)
    return _kernels_config(c)._replace(
        what=f"theory kernels at --ntk-widths up to {max(c.widths)} (--members {c.members}), "
        f"--train-widths up to {max(c.train_widths)}, --steps {c.steps}",
        hint="Use smaller --ntk-widths or --train-widths, fewer --members or --steps.",
    )  # fmt: skip


def _kernels_config(c) -> Cost:
    """The finite networks of a :class:`~initlab.studies.kernels.KernelConfig` (module
    docstring); its ``what`` and ``hint`` are the caller's."""
    L, mc, mf, mt = c.hidden_layers, c.convergence_examples, c.fit_examples, c.test
    P = lambda n: 64 * n + (L - 1) * n * n + (L + 2) * n + 1  # noqa: E731
    n, t = max(c.widths), max(c.train_widths)
    # traced peaks at widths 2048 (8 members) and 2048 (trained): 596 and 212 MB; these
    # give 894 and 271 MB with the quadrature's 63 MB
    need = max(8 * c.members * (3 * P(n) + 4 * L * n * mc + mc * mc),
               8 * (6 * P(t) + 8 * L * t * (mf + mt))) + _quadrature_bytes()  # fmt: skip
    work = sum(c.members * (6 * mc * P(n) + 2 * L * n * mc * mc) for n in c.widths)
    work += sum(4 * 6 * mf * P(n) * c.steps for n in c.train_widths)
    return Cost(need, work, "", "")


def _population(what: str, sizes: list[int], K: int, m: int, batch: int, steps: int,
                cap: int = MAX_POPULATION, groups: int = 1) -> Cost:  # fmt: skip
    """The training memory of a population of ``min(K, cap)`` members (the executor splits
    a group of `K` beyond `cap`; the runner's estimate) with the :data:`CELL_BYTES` of every
    member of the `groups`, and the work of all `K`."""
    from initlab.execution.budget import estimate_bytes

    need = estimate_bytes(sizes, min(K, cap), m=m, batch=batch, steps=steps,
                          optimizer="momentum") + CELL_BYTES * K * groups  # fmt: skip
    hint = "Use a smaller width, fewer depths, grid values or seeds, or fewer steps."
    return Cost(need, 6 * K * min(batch, m) * _params(sizes) * steps, what, hint)


def _trainability(args: argparse.Namespace) -> Cost:
    from initlab.cli._trainmaps import trainability_config

    return _trainability_config(trainability_config(args))


def _trainability_config(c, cap: int = MAX_POPULATION) -> Cost:
    K, n_out, depth = len(c.sigma_w2) * c.seeds, 10 if c.task == "digits10" else 1, max(c.depths)
    what = f"theory trainability at --width {c.width}, depth {depth}, {K} members"
    sizes = [64, *[c.width] * depth, n_out]
    return _population(what, sizes, K, DIGITS, c.batch_size, c.steps, cap, len(c.depths))


def _deep_linear(args: argparse.Namespace) -> Cost:
    from initlab.cli._trainmaps import deep_linear_config

    return _deep_linear_config(deep_linear_config(args))


def _deep_linear_config(c, cap: int = MAX_POPULATION) -> Cost:
    K, depth = 2 * len(c.rates) * c.seeds, max(c.depths)
    what = f"theory deep-linear at --width {c.width}, depth {depth}, {K} members"
    sizes = [c.width] * (depth + 1)
    return _population(what, sizes, K, c.width, c.width, c.steps, cap, len(c.depths))


# --------------------------------------------------------------------------- scaling


def scaling_options(args: argparse.Namespace, lr_transfer: bool) -> None:
    """Ranges of ``initlab scaling``'s options, then the largest population's memory/work."""
    nonempty_out(args)
    check_options(args, SCALING_RULES)
    scheduler_address(args.scheduler)
    _studies.check_write_spec(args)
    if lr_transfer:
        check_number("--examples", args.examples, low=0, high=DIGITS, integer=True)
        lo, hi = args.log2_lrs
        if hi < lo:
            raise InitlabError(f"--log2-lrs LO HI needs LO <= HI; got {lo} {hi}")
    else:
        check_number("--examples", args.examples, low=1, high=DIGITS, integer=True)
    scaling_cost(args, lr_transfer).check()


def scaling_cost(args: argparse.Namespace, lr_transfer: bool) -> Cost:
    """The estimate of the largest population of a coordinate check or lr transfer: its
    training arrays (:func:`initlab.execution.budget.estimate_bytes`, Adam's states, two
    temporaries of the update) and,
    for a coordinate check, every layer's recorded activations at step 0 and the current
    step with their differences, :math:`3 K m n (depth + 2)` floats."""
    if lr_transfer:
        lo, hi = args.log2_lrs
        K, m, batch = (hi - lo + 1) * args.seeds, args.examples or DIGITS, args.batch_size
        what = f"--log2-lrs {lo} {hi} x --seeds {args.seeds} ({K:,} members)"
    else:
        K, m = args.seeds, args.examples
        batch, what = m, f"--seeds {K}"
    blocks = args.depth * (args.branch_layers if args.residual else 1)
    return _scaling(lr_transfer, K, m, batch, args.widths, blocks, args.steps,
                    f"{what} at width {max(args.widths)}, --depth {args.depth}")  # fmt: skip


def _scaling(lr_transfer: bool, K: int, m: int, batch: int, widths, blocks: int, steps: int,
             what: str, hint: str = "Use smaller --widths, --depth, --seeds or fewer learning "
             "rates.", cap: int = MAX_POPULATION) -> Cost:  # fmt: skip
    """Memory of a population of ``min(K, cap)`` members with the :data:`CELL_BYTES` of all
    `K` at every width and up to 3 parametrizations; the work of all of them."""
    from initlab.execution.budget import estimate_bytes

    n, k = max(widths), min(K, cap)
    sizes = [64, *[n] * (blocks + 1), 10]
    records = 0 if lr_transfer else 3 * k * m * n * (blocks + 2) * 8
    need = estimate_bytes(sizes, k, m=m, batch=batch, steps=steps, optimizer="adam")
    need += 2 * 8 * k * _params(sizes)  # the update's temporaries (Adam's step, the decay)
    need += CELL_BYTES * K * len(widths) * 3
    flops = 6 * K * min(batch, m) * _params(sizes) * steps * len(widths) * 3
    return Cost(need + records, flops, what, hint)


# --------------------------------------------------------------------------- study specs


def study_cost(study, spec_file: object = None, cap_option: str = "[study] max_population",
               ) -> Cost | None:  # fmt: skip
    """The estimate of a study spec's study (``initlab sweep STUDY.toml``): the one its own
    command checks, from the spec's ``[kind]`` table (its full config, as
    :func:`initlab.studies.specs.parse` leaves it), its memory that of a population of at
    most the study's ``max_population`` members. The refusal names `spec_file`
    (default: the study's source) and the keys of its ``[kind]`` table, and `cap_option`
    where the population's cap was set (``--max-population`` when given on the command)."""
    from types import SimpleNamespace as NS

    t, kind, cap = study.spec[study.kind], study.kind, study.max_population
    where = f"{spec_file or study.source or 'the study spec'}: [{kind}]"
    if kind in ("trainability", "deep-linear"):
        from initlab.studies import deeplinear, trainability

        if kind == "trainability":
            c = trainability.TrainabilityConfig(**t)
            cost, K, group = _trainability_config(c, cap), len(c.sigma_w2) * c.seeds, "sigma_w2"
        else:
            c = deeplinear.DeepLinearConfig(**t)
            cost, K, group = _deep_linear_config(c, cap), 2 * len(c.rates) * c.seeds, "2 x rates"
        return cost._replace(
            what=f"{where} width = {c.width}, depths up to {max(c.depths)}, steps = {c.steps}"
            f" ({K:,} members per depth: {group} x seeds, in populations of at most {cap})",
            hint="Use a smaller width, fewer depths, grid values or seeds, fewer steps, or a "
            f"smaller {cap_option}.",
        )  # fmt: skip
    if kind == "correlation":
        cost = _correlation(NS(width=t["width"], depth=t["depth"], members=t["members"],
                               c0=t["c0"]))  # fmt: skip
        return cost._replace(what=f"{where} width = {t['width']}, depth = {t['depth']}, "
                             f"members = {t['members']}, c0 ({len(t['c0'])} values)",
                             hint="Use a smaller width, depth or members, or fewer c0 "
                             "values.")  # fmt: skip
    if kind == "jacobian":
        cost = _jacobian(NS(width=t["width"], members=t["members"], depths=t["depths"]))
        return cost._replace(what=f"{where} width = {t['width']}, depths up to "
                             f"{max(t['depths'])}, members = {t['members']}", hint="Use a "
                             "smaller width, smaller depths or fewer members.")  # fmt: skip
    if kind == "kernels":
        from initlab.studies import kernels

        c = kernels.KernelConfig(**t)
        return _kernels_config(c)._replace(
            what=f"{where} widths up to {max(c.widths)} (members = {c.members}), "
            f"train_widths up to {max(c.train_widths)}, steps = {c.steps}",
            hint="Use smaller widths or train_widths, fewer members or steps.",
        )  # fmt: skip
    if kind in ("lr-transfer", "coord-check"):
        a, lr = t["architecture"], kind == "lr-transfer"
        K = len(t["seeds"]) * (len(t["log2_lrs"]) if lr else 1)
        m = t["n_examples"]
        blocks = a["depth"] * (a["branch_layers"] if a["skip"] else 1)
        return _scaling(lr, K, m, t["batch_size"] if lr else m, t["widths"], blocks,
                        t["steps"], f"{where} widths up to {max(t['widths'])}, steps = "
                        f"{t['steps']}, architecture.depth = {a['depth']} ({K:,} members: "
                        f"seeds{' x log2_lrs' * lr}, in populations of at most {cap})",
                        "Use smaller widths or depth, fewer "
                        f"steps, seeds or learning rates, or a smaller {cap_option}.",
                        cap)  # fmt: skip
    return None
