r"""Correlation propagation as a study: the measured networks are its cells.

``initlab theory correlation`` (the record :func:`initlab.studies.sigprop.correlation_record`
returns, format ``initlab.sigprop.correlation``) is one point
:math:`(\phi, \sigma_w^2, \sigma_b^2)`: the correlation map and depth scales there, the
mean-field :math:`c_l` from each :math:`c_0`, and :math:`\hat c_l` measured on `members`
random networks of width `width` (:mod:`initlab.analysis.propagation`). As a study
(:mod:`initlab.execution.study`) it has

- one cell per measured network :math:`k` (config: the point, :math:`q_0`, every
  :math:`c_0`, depth, width, seed and the draw :math:`k`; record: its
  :math:`\hat c_l`, ``(P, L + 1)``), computed alone from its own generator
  ``child_seeds(seed, k + 1)[k]`` (:func:`~initlab.analysis.propagation.network_correlations`),
  so its bits do not depend on which cells it was computed with, nor on `members`: a run
  with more networks reuses the stored ones (``--extend``);
- one cell for the theory (the map on `grid` points of :math:`[-1, 1]`, the depth scales
  and the predicted :math:`c_l`), which no network's numbers depend on.

Why a network per cell: a network is the smallest unit of independent randomness (all
:math:`c_0` pairs are propagated through the *same* weights, so splitting the starts
would draw the weights once per start, and splitting the layers would need the weights
of the layers before). The networks of a point form one group; the executor splits a
group across workers at will. :math:`\sigma_w^2` left unset is the critical value and
:math:`q_0` unset is :math:`q^*` (1 if that is not finite and positive): both are
resolved into the cells' configs, which thus hold every number that decides their bits.

Stored in ``DIR/sweep.sqlite`` by the sweep's executor (resume after Ctrl-C or kill -9, a
full disk reported with the store intact, ``--jobs`` local processes or a Dask
``--scheduler``); :func:`read` assembles the record from the store only, and the figure
and the report draw from it. :func:`spec` is the TOML that ``initlab sweep`` reruns to
the same bits; :func:`record` computes the same record in memory, through the same cell
functions, without a store.
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
from initlab.analysis import correlation as _correlation
from initlab.analysis import propagation as _propagation
from initlab.analysis import theory as _theory
from initlab.execution import study as _study
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.specs.sweep_spec import canonical
from initlab.studies._studyio import SCHEMA_VERSION, config_dict, config_from_table, config_spec

KIND = "correlation"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""
MAX_POPULATION = 1
"""Cells computed together at most: one, so each network is stored as soon as it is done
(a network takes 0.2 s at the default width 1000 and depth 20; a population's overhead is
one SQLite transaction)."""
FORMAT = "initlab.sigprop.correlation"
_COMMAND = "initlab theory correlation --out DIR"


@dataclass(frozen=True)
class CorrelationConfig:
    r"""One correlation study (the options of ``initlab theory correlation``).

    Attributes
    ----------
    activation : str or dict
        Name, or ``{"name": ..., **params}`` (:attr:`initlab.nn.activations.Activation.spec`).
    sigma_w2 : float or None
        :math:`\sigma_w^2`; None: the critical value at `sigma_b2`.
    sigma_b2 : float
    c0 : tuple of float
        Starting correlations in [-1, 1], all propagated through the same networks.
    depth, width, members, seed : int
        :math:`L`, :math:`N`, networks :math:`K` (child seeds of `seed`), the seed.
    q0 : float or None
        Starting mean square; None: :math:`q^*` if finite and positive, else 1.
    grid : int
        Points of :math:`[-1, 1]` the map is evaluated on.
    """

    activation: str | dict[str, Any] = "tanh"
    sigma_w2: float | None = None
    sigma_b2: float = 0.0
    c0: tuple[float, ...] = (-0.5, 0.1, 0.5, 0.9, 0.99)
    depth: int = 20
    width: int = 1000
    members: int = _theory.DEFAULT_MEMBERS
    seed: int = 0
    q0: float | None = None
    grid: int = 81

    def __post_init__(self) -> None:
        act = _activations.get(self.activation)
        object.__setattr__(self, "activation", act.spec if act.params else act.name)
        if self.sigma_w2 is not None:
            object.__setattr__(self, "sigma_w2", float(check_number("sigma_w2", self.sigma_w2,
                                                                    low=0)))  # fmt: skip
        object.__setattr__(self, "sigma_b2", float(check_number("sigma_b2", self.sigma_b2, low=0)))
        check_number("depth", self.depth, low=1, integer=True)
        check_number("width", self.width, low=2, integer=True)
        check_number("members", self.members, low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("grid", self.grid, low=2, integer=True)
        c0 = np.asarray(self.c0, dtype=np.float64).ravel()
        if c0.size == 0 or np.any(~np.isfinite(c0)) or np.any(np.abs(c0) > 1):
            raise InitlabError(f"c0 must be correlations in [-1, 1]; got {c0}")
        object.__setattr__(self, "c0", tuple(c0.tolist()))
        if self.q0 is not None:
            object.__setattr__(self, "q0", float(check_number("q0", self.q0, low=0,
                                                              low_open=True)))  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)

    def point(self) -> dict[str, Any]:
        r"""What every cell shares: the activation's spec, :math:`\sigma_w^2` and
        :math:`q_0` resolved, :math:`\sigma_b^2`, :math:`c_0`, the depth."""
        act = _activations.get(self.activation)
        b2 = self.sigma_b2
        w2 = _theory.critical_sigma_w2(act, b2) if self.sigma_w2 is None else self.sigma_w2
        q0 = self.q0
        if q0 is None:
            q_star = float(_theory.fixed_point(act, w2, b2))
            q0 = q_star if 0 < q_star < math.inf else 1.0
        return {"activation": act.spec, "sigma_w2": float(w2), "sigma_b2": b2, "q0": q0,
                "c0": list(self.c0), "depth": self.depth}  # fmt: skip


def cells(config: CorrelationConfig) -> list[_study.Cell]:
    """The study's cells: the theory's, then one per network (module docstring)."""
    point = config.point()
    theory = _study.cell(KIND, VERSION, {"part": "theory", **point, "grid": config.grid},
                         "theory")  # fmt: skip
    common = {"part": "network", **point, "width": config.width, "seed": config.seed}
    group = canonical(common)
    nets = [_study.cell(KIND, VERSION, {**common, "draw": k}, group) for k in range(config.members)]
    return [theory, *nets]


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    r"""The records of cells of one group: the theory's (``map``: :math:`c`, :math:`C(c)`
    and the depth scales; ``predicted``: :math:`c_l`, ``(P, L + 1)``), or each network's
    ``measured`` :math:`\hat c_l`, ``(P, L + 1)``, computed alone."""
    out = []
    for c in configs:
        act = _activations.get(c["activation"])
        w2, b2, q0, c0, depth = c["sigma_w2"], c["sigma_b2"], c["q0"], c["c0"], c["depth"]
        if c["part"] == "theory":
            grid = np.linspace(-1.0, 1.0, c["grid"])
            scales = _correlation.depth_scales(act, w2, b2)
            C = _correlation.correlation_map(act, w2, b2, grid)
            predicted = _propagation.predict_correlations(act, w2, b2, q0, c0, depth)
            out.append({"map": {"c": grid, "C": C, **scales.as_dict()}, "predicted": predicted})
        else:
            out.append({"measured": _propagation.network_correlations(
                act, w2, b2, q0, c0, depth, c["width"], c["seed"], c["draw"])})  # fmt: skip
    return out


def assemble(config: CorrelationConfig, theory: Mapping[str, Any],
             networks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The correlation record (:func:`initlab.studies.sigprop.correlation_record`'s format)
    of the theory's cell record and the networks' (in draw order)."""
    point = config.point()
    study = {
        "activation": _theory._describe(_activations.get(config.activation)),
        "sigma_w2": point["sigma_w2"],
        "sigma_b2": point["sigma_b2"],
        "q0": point["q0"],
        "c0": point["c0"],
        "predicted": theory["predicted"],
        "measured": [n["measured"] for n in networks],
        "width": config.width,
        "seed": config.seed,
    }
    head = {"format": FORMAT, "schema_version": SCHEMA_VERSION}
    return jsonable({**head, "map": theory["map"], "study": study})


def record(config: CorrelationConfig) -> dict[str, Any]:
    """The study's record computed in this process without a store (:func:`compute` on
    every cell: the same bits as :func:`read` after a run)."""
    every = cells(config)
    found = compute([c.config for c in every])
    return assemble(config, found[0], found[1:])


def spec(config: CorrelationConfig, max_population: int = MAX_POPULATION) -> dict[str, Any]:
    """The study's spec (``--write-spec``; :func:`from_spec` reads it back); unset values
    (None) are left out, TOML having no null."""
    return config_spec(KIND, config, max_population)


def from_spec(table: Mapping[str, Any], max_population: int = MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The :class:`~initlab.execution.study.Study` of a ``[correlation]`` table, checked."""
    config = config_from_table(KIND, table, CorrelationConfig, ["c0"])
    return study(config, max_population, source)


def study(config: CorrelationConfig, max_population: int = MAX_POPULATION,
          source: str | None = None) -> _study.Study:  # fmt: skip
    """The correlation study for :mod:`initlab.execution.study`."""
    return _study.Study(KIND, spec(config, max_population), cells(config),
                        f"{__name__}:compute", max_population, source)  # fmt: skip


def has_study(out_dir: str | os.PathLike) -> bool:
    """Whether the store of `out_dir` holds a correlation study."""
    return _study.has_kind(out_dir, KIND)


def read(out_dir: str | os.PathLike, config: CorrelationConfig | None = None) -> dict[str, Any]:
    """The record of `config` (default: the last correlation spec run into `out_dir`),
    from the store only; networks not yet stored are left out and their draws listed
    under ``"missing"``.

    Raises
    ------
    InitlabError
        If there is no such study, or its theory or every network is not stored yet.
    """
    out = Path(out_dir)
    if config is None:
        config = CorrelationConfig(**_study.last_settings(out, KIND, _COMMAND))
    every = cells(config)
    stored = _study.records(out, [c.id for c in every])
    theory, nets = stored[every[0].id], [stored[c.id] for c in every[1:]]
    if theory is None or all(n is None for n in nets):
        raise InitlabError(f"the correlation study in {out} is not computed yet: run the same "
                           "command again to resume")  # fmt: skip
    data = assemble(config, theory, [n for n in nets if n is not None])
    missing = [k for k, n in enumerate(nets) if n is None]
    return {**data, "missing": missing} if missing else data
