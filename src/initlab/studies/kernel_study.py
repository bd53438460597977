r"""The kernel study (``initlab theory kernels``) as cells on the sweep's executor.

The record of :mod:`initlab.studies.kernels` (format ``initlab.kernels``) is assembled from
a study's cells (:mod:`initlab.execution.study`), each computed alone by one ``*_part``
function of that module from its own config:

- ``summary``: the kernels and their regression on the data (no randomness);
- ``convergence``: the empirical NTK of ``members`` networks at every ``widths`` (one
  cell: the fitted slope is across widths, and its networks take seconds);
- per ``train_widths`` value :math:`n`, four cells: the ``network`` trained beside the
  kernel, and the ``movement`` of the empirical NTK of a network trained under each
  parametrization ``ntk``, ``mup``, ``sp`` (these are the study's minutes: at the
  default width 2048, each is a network of 2048 units trained 200 steps);
- ``depth``: the kernels' condition numbers through depth in the three phases.

Why this granularity: each training run is seeded from ``seed`` alone and its rate is a
function of its config (``rate`` :math:`\times\, m/\lambda_{max}` of the analytic NTK of
``[n_0, rate_width, 1]``, ``rate_width`` the largest train width), so a run's numbers do
not depend on the other runs; they are the units of the work, and a cell per run is what a
resume after kill -9 keeps. The cells' configs hold the resolved :math:`\sigma_w^2` (the
critical value when unset) and everything else that decides their bits (the data is
``train`` and ``test``, the first images of the digits). :func:`record` computes the
same record in this process without a store; :func:`read` assembles it from the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError, SpecError
from initlab.analysis import theory as _theory
from initlab.execution import study as _study
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.studies import kernels as K
from initlab.studies._studyio import SCHEMA_VERSION, config_from_table, config_spec

KIND = "kernels"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
MAX_POPULATION = 1
"""Cells computed together at most: one, so each trained network is stored as it ends."""
FORMAT = "initlab.kernels"
PARAMETRIZATIONS = ("ntk", "mup", "sp")
_COMMAND = "initlab theory kernels --out DIR"
_PARTS = {
    "summary": K.summary_part,
    "convergence": K.convergence_part,
    "network": K.network_part,
    "movement": K.movement_part,
    "depth": K.depth_part,
}


def _resolved(c: K.KernelConfig) -> tuple[float, float]:
    r""":math:`\sigma_w^2` (the critical value if unset) and the critical value."""
    crit = _theory.critical_sigma_w2(_activations.get(c.activation), c.sigma_b2)
    return (crit if c.sigma_w2 is None else float(c.sigma_w2)), float(crit)


def cells(c: K.KernelConfig) -> list[_study.Cell]:
    """The study's cells: summary, convergence, a network and three movements per train
    width (in ``train_widths`` order), depth (module docstring)."""
    w2, crit = _resolved(c)
    act = _activations.get(c.activation).spec
    data = {"activation": act, "sigma_b2": c.sigma_b2, "train": c.train, "test": c.test}
    point = {**data, "sigma_w2": w2, "hidden_layers": c.hidden_layers}
    configs = [
        {"part": "summary", **point, "width": c.width, "times": list(c.times), "rate": c.rate},
        {"part": "convergence", **point, "convergence_examples": c.convergence_examples,
         "widths": list(c.widths), "members": c.members, "seed": c.seed},
    ]  # fmt: skip
    fit = {**point, "fit_examples": c.fit_examples, "rate": c.rate, "steps": c.steps,
           "rate_width": c.train_widths[-1], "seed": c.seed}  # fmt: skip
    for n in c.train_widths:
        configs.append({"part": "network", **fit, "width": n})
        configs += [{"part": "movement", **fit, "width": n, "parametrization": p,
                     "base_width": c.train_widths[0]} for p in PARAMETRIZATIONS]  # fmt: skip
    configs.append({"part": "depth", **data, "critical_sigma_w2": crit, "width": c.width,
                    "max_depth": c.max_depth, "depth_examples": c.depth_examples})  # fmt: skip
    return [_study.cell(KIND, VERSION, x, f"{x['part']} {x.get('width', '')}") for x in configs]


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of cells (each computed alone by its part's function): ``{"value": ...}``."""
    return [{"value": _PARTS[c["part"]](dict(c))} for c in configs]


def assemble(c: K.KernelConfig, found: Sequence[Any]) -> dict[str, Any]:
    """The study's record from the values of :func:`cells` (in their order)."""
    w2, crit = _resolved(c)
    act = _activations.get(c.activation)
    training, rest = [], list(found[2:-1])
    for n in c.train_widths:
        net, moved = rest[0], rest[1:4]
        rest = rest[4:]
        change = {p: m["kernel_change"] for p, m in zip(PARAMETRIZATIONS, moved, strict=True)}
        training.append({"width": n, "learning_rate": net["learning_rate"],
                         **{k: v for k, v in net.items() if k != "learning_rate"},
                         "kernel_change": change})  # fmt: skip
    return jsonable(
        {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "config": c.as_dict(),
            "sigma_w2": w2,
            "critical_sigma_w2": crit,
            "phase": _theory.phase(float(_theory.chi1(act, w2, c.sigma_b2))),
            "summary": found[0],
            "convergence": found[1],
            "training": training,
            "depth": found[-1],
        }
    )


def record(c: K.KernelConfig) -> dict[str, Any]:
    """The study's record computed in this process, without a store (the same bits as
    :func:`read` after a run: the same cells, the same functions)."""
    return assemble(c, [r["value"] for r in compute([x.config for x in cells(c)])])


def spec(c: K.KernelConfig, max_population: int = MAX_POPULATION) -> dict[str, Any]:
    """The study's spec (``--write-spec``); an unset ``sigma_w2`` is left out (TOML has
    no null)."""
    return config_spec(KIND, c, max_population)


def from_spec(table: Mapping[str, Any], max_population: int = MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The :class:`~initlab.execution.study.Study` of a ``[kernels]`` table, checked."""
    config = config_from_table(KIND, table, K.KernelConfig, ["times", "widths", "train_widths"])
    try:
        config.check_examples()
    except InitlabError as exc:
        raise SpecError(f"[{KIND}] {exc}") from None
    return study(config, max_population, source)


def study(c: K.KernelConfig, max_population: int = MAX_POPULATION,
          source: str | None = None) -> _study.Study:  # fmt: skip
    """The kernel study for :mod:`initlab.execution.study`."""
    return _study.Study(KIND, spec(c, max_population), cells(c), f"{__name__}:compute",
                        max_population, source)  # fmt: skip


def has_study(out_dir: str | os.PathLike) -> bool:
    """Whether the store of `out_dir` holds a kernel study."""
    return _study.has_kind(out_dir, KIND)


def read(out_dir: str | os.PathLike, config: K.KernelConfig | None = None) -> dict[str, Any]:
    """The record of `config` (default: the last kernel spec run into `out_dir`) from the
    store only.

    Raises
    ------
    InitlabError
        If there is no such study, or a cell of it is not stored yet (named by its part).
    """
    out = Path(out_dir)
    if config is None:
        config = K.KernelConfig(**_study.last_settings(out, KIND, _COMMAND))
    every = cells(config)
    stored = _study.records(out, [c.id for c in every])
    missing = [c for c in every if stored[c.id] is None]
    if missing:
        parts = ", ".join(dict.fromkeys(  # "depth (width 64)", not the group's "depth 64"
            c.config["part"] + (f" (width {c.config['width']})" if "width" in c.config else "")
            for c in missing))  # fmt: skip
        raise InitlabError(f"the kernel study in {out} is not complete ({len(missing)} of "
                           f"{len(every)} cells not stored: {parts}): run the same command "
                           "again to resume")  # fmt: skip
    return assemble(config, [stored[c.id]["value"] for c in every])
