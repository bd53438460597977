r"""Jacobian spectra as a study: one cell per weight law and member chain.

``initlab theory jacobian`` measures the singular values of the input-output Jacobian
:math:`J = \prod_l D_l W_l` at several depths of `members` random networks per weight law
(:func:`initlab.analysis.jacobian.jacobian_spectra`) beside free probability's mean and
variance of :math:`\sigma^2` (:func:`initlab.analysis.jacobian.spectrum_moments`). As a
study (:mod:`initlab.execution.study`) its cells are the member chains: cell
``(law, k)`` holds member k's :math:`q^*` and its singular values ``(len(depths), N)``
(:func:`~initlab.analysis.jacobian.member_spectra`, drawn from ``child_seeds(seed,
k + 1)[k]``, so its bits depend neither on the other cells nor on `members`). A law's
chains form one group. :math:`\sigma_w^2` unset is the critical value at
:math:`\sigma_b^2`, resolved into the cells' configs.

Stored in ``DIR/sweep.sqlite`` by the sweep's executor (resume after Ctrl-C or kill -9,
``--jobs`` local processes or a Dask ``--scheduler``); :func:`read` assembles the record
of :func:`initlab.studies.sigprop.jacobian_record` (the same bits) from the store only.
:func:`spec` is the TOML (``[study] kind = "jacobian"``, ``[jacobian]``) that ``initlab
sweep`` reruns to the same cells.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.analysis import jacobian as _jacobian
from initlab.analysis import theory as _theory
from initlab.execution import study as _study
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.results.sweep_store import STORE_FILE
from initlab.studies._studyio import (
    SCHEMA_VERSION,
    config_dict,
    config_from_table,
    config_spec,
    set_grid,
)

KIND = "jacobian"
VERSION = 2
"""Of a cell's computation: changes its id when what it computes changes (2: the chain's
roundings changed, the same draws and matrices: orthogonal layers applied as Householder
reflectors, no product at the first layer: within 1.2e-14 s_max of version 1's through depth
64 at and below criticality; the chaotic phase amplifies any rounding, 1.3e-12 at sigma_w^2 = 3)."""
MAX_POPULATION = 1
"""Cells computed together at most: one, so each chain is stored as soon as it is done (a
chain takes about a second at the default width 400 and depth 64)."""
WEIGHTS = ("gaussian", "orthogonal")
FORMAT = "initlab.sigprop.jacobian"
_COMMAND = "initlab theory jacobian --out DIR"


@dataclass(frozen=True)
class JacobianConfig:
    r"""One Jacobian-spectra study (the options of ``initlab theory jacobian``).

    Attributes
    ----------
    activation : str or dict
        Name, or ``{"name": ..., **params}``.
    sigma_w2 : float or None
        :math:`\sigma_w^2`; None: the critical value at `sigma_b2`.
    sigma_b2 : float
    weights : tuple of str
        Weight laws, of :data:`WEIGHTS`, in the order they are printed.
    depths : tuple of int
        Depths at which the spectra are taken (sorted, unique).
    width, members, seed : int
        :math:`N`, chains :math:`K` per law (child seeds of `seed`), the seed.
    """

    activation: str | dict[str, Any] = "tanh"
    sigma_w2: float | None = None
    sigma_b2: float = 0.0
    weights: tuple[str, ...] = WEIGHTS
    depths: tuple[int, ...] = (1, 4, 16, 64)
    width: int = 400
    members: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        act = _activations.get(self.activation)
        object.__setattr__(self, "activation", act.spec if act.params else act.name)
        if self.sigma_w2 is not None:
            w2 = check_number("sigma_w2", self.sigma_w2, low=0, low_open=True)
            object.__setattr__(self, "sigma_w2", float(w2))
        object.__setattr__(self, "sigma_b2", float(check_number("sigma_b2", self.sigma_b2, low=0)))
        bad = [w for w in self.weights if w not in WEIGHTS]
        if not self.weights or bad:
            raise InitlabError(f"weights must be some of {', '.join(WEIGHTS)}; got "
                               f"{list(self.weights)!r}")  # fmt: skip
        object.__setattr__(self, "weights", tuple(dict.fromkeys(self.weights)))
        set_grid(self, "depths", int, low=1, integer=True)
        object.__setattr__(self, "depths", tuple(sorted(set(self.depths))))
        for name in ("width", "members"):
            check_number(name, getattr(self, name), low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)

    def resolved_sigma_w2(self) -> float:
        r""":math:`\sigma_w^2`, or the critical value at :math:`\sigma_b^2` if unset."""
        if self.sigma_w2 is not None:
            return self.sigma_w2
        return float(_theory.critical_sigma_w2(_activations.get(self.activation), self.sigma_b2))


def cells(config: JacobianConfig) -> list[_study.Cell]:
    """One cell per (weight law, member chain), grouped by law."""
    act = _activations.get(config.activation)
    settings = {"activation": act.spec, "sigma_w2": config.resolved_sigma_w2(),
                "sigma_b2": config.sigma_b2, "depths": list(config.depths),
                "width": config.width, "seed": config.seed}  # fmt: skip
    return [
        _study.cell(KIND, VERSION, {**settings, "weights": law, "member": k}, law)
        for law in config.weights
        for k in range(config.members)
    ]


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each cell's member chain (:func:`initlab.analysis.jacobian.member_spectra`)."""
    out = []
    for c in configs:
        q, sv = _jacobian.member_spectra(
            c["activation"], c["sigma_w2"], c["sigma_b2"], depths=c["depths"],
            width=c["width"], weights=c["weights"], seed=c["seed"], member=c["member"],
        )  # fmt: skip
        out.append({"q_star": q, "singular_values": sv})
    return out


def theory_entries(act: _activations.Activation, sigma_w2: float, sigma_b2: float,
                   s: _jacobian.JacobianSpectra) -> list[dict[str, Any]]:  # fmt: skip
    r"""Free probability's moments of :math:`\sigma^2` at each depth of `s` (and the
    Fuss-Catalan density where it is exact: linear units, Gaussian weights,
    :math:`\sigma_w^2 = 1`; else ``x`` and ``density`` are None)."""
    th = []
    for depth in s.depths:
        m = _jacobian.spectrum_moments(act, sigma_w2, sigma_b2, depth, s.weights)
        entry: dict[str, Any] = {"depth": depth, "mean": m.mean, "variance": m.variance}
        entry["x"] = entry["density"] = None
        exact = act.name == "linear" and s.weights == "gaussian" and math.isclose(sigma_w2, 1.0)
        if exact:
            entry["x"], entry["density"] = _jacobian.fuss_catalan_density(depth)
        th.append(entry)
    return th


def assemble(config: JacobianConfig, records: Mapping[str, Sequence[Mapping[str, Any]]]
             ) -> dict[str, Any]:  # fmt: skip
    """The record of :func:`initlab.studies.sigprop.jacobian_record` from each law's chain
    records (in member order)."""
    act = _activations.get(config.activation)
    w2 = config.resolved_sigma_w2()
    panels = []
    for law in config.weights:
        recs = records[law]
        s = _jacobian.JacobianSpectra(
            _theory._describe(act), law, w2, config.sigma_b2, recs[0]["q_star"],
            config.depths, np.array([r["singular_values"] for r in recs]), config.width,
            config.seed,
        )  # fmt: skip
        panels.append({"spectra": s.as_dict(), "theory": theory_entries(act, w2, s.sigma_b2, s)})
    return jsonable({"format": FORMAT, "schema_version": SCHEMA_VERSION, "panels": panels})


def spec(config: JacobianConfig, max_population: int = MAX_POPULATION) -> dict[str, Any]:
    """The study's spec (``--write-spec``; :func:`from_spec` reads it back); an unset
    ``sigma_w2`` is left out (TOML has no null)."""
    return config_spec(KIND, config, max_population)


def from_spec(table: Mapping[str, Any], max_population: int = MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The :class:`~initlab.execution.study.Study` of a ``[jacobian]`` table, checked."""
    config = config_from_table(KIND, table, JacobianConfig, ["weights", "depths"])
    return study(config, max_population, source)


def study(config: JacobianConfig, max_population: int = MAX_POPULATION,
          source: str | None = None) -> _study.Study:  # fmt: skip
    """The Jacobian-spectra study for :mod:`initlab.execution.study`."""
    return _study.Study(KIND, spec(config, max_population), cells(config),
                        f"{__name__}:compute", max_population, source)  # fmt: skip


def has_study(out_dir: str | os.PathLike) -> bool:
    """Whether the store of `out_dir` holds Jacobian spectra."""
    return _study.has_kind(out_dir, KIND)


def missing(out_dir: str | os.PathLike, config: JacobianConfig) -> int:
    """How many of `config`'s chains the store of `out_dir` does not hold yet."""
    got = _study.records(out_dir, [c.id for c in cells(config)])
    return sum(r is None for r in got.values())


def stored_config(out_dir: str | os.PathLike) -> JacobianConfig:
    """The config of the last Jacobian spec run into the store of `out_dir`."""
    return JacobianConfig(**_study.last_settings(out_dir, KIND, _COMMAND))


def read(out_dir: str | os.PathLike, config: JacobianConfig | None = None) -> dict[str, Any]:
    """The record of `config` (default: the last Jacobian spec run into `out_dir`), from
    the store only.

    Raises
    ------
    InitlabError
        If there is no such study, or a chain of it is not stored yet.
    """
    config = stored_config(out_dir) if config is None else config
    every = cells(config)
    got = _study.records(out_dir, [c.id for c in every])
    if any(r is None for r in got.values()):
        raise InitlabError(
            f"{Path(out_dir) / STORE_FILE}: the Jacobian spectra are not all computed; run "
            f"`{_COMMAND}` again to finish them"
        )
    by_law: dict[str, list[dict[str, Any]]] = {law: [] for law in config.weights}
    for c in every:
        by_law[c.config["weights"]].append(got[c.id])
    return assemble(config, by_law)
