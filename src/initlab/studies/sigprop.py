r"""Signal-propagation results as stored data: the critical line, correlations, Jacobian spectra.

Each ``*_record`` function computes one study and returns plain data (JSON-ready, with
``"format": "initlab.sigprop.<kind>"`` and ``"schema_version"``); :func:`write` stores it
atomically as ``<kind>.json`` (``critical.json``, ``correlation.json``, ``jacobian.json``)
and :func:`read` reads it back with checks. Figures (:mod:`initlab.report.sigprop`) and
the report are drawn from these records only.

The Jacobian spectra are also a study (:func:`jacobian_study`): one cell per weight law and
member chain, computed and stored in ``DIR/sweep.sqlite`` by the executor sweeps use
(resumable, the same bits as :func:`jacobian_record`); :func:`read` of ``"jacobian"`` reads
the store when it holds them, else ``jacobian.json``. So does :func:`read` of
``"correlation"``, whose study is :mod:`initlab.studies.correlation`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis import correlation as _correlation
from initlab.analysis import jacobian as _jacobian
from initlab.analysis import theory as theory
from initlab.execution import study as _study
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import correlation as _correlation_study
from initlab.studies._studyio import SCHEMA_VERSION, load, store

KINDS = ("critical", "correlation", "jacobian")
DEFAULT_SIGMA_B2 = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""The :math:`\\sigma_b^2` of the critical-line table."""


def _head(kind: str) -> dict[str, Any]:
    return {"format": f"initlab.sigprop.{kind}", "schema_version": SCHEMA_VERSION}


def critical_record(
    acts: Sequence[str | _activations.Activation], sigma_b2: Sequence[float] = DEFAULT_SIGMA_B2
) -> dict[str, Any]:
    r"""The critical line :math:`\chi_1 = 1` of each activation at each :math:`\sigma_b^2`.

    ``{"lines": {activation: [CriticalPoint.as_dict(), ...]}}`` (see
    :func:`initlab.analysis.correlation.critical_line`).
    """
    lines = {}
    for act in acts:
        act = _activations.get(act)
        points = _correlation.critical_line(act, sigma_b2)
        lines[theory._describe(act)] = [p.as_dict() for p in points]
    return {**_head("critical"), "sigma_b2": list(sigma_b2), "lines": lines}


def resolve_sigma_w2(
    act: _activations.Activation, sigma_w2: float | None, sigma_b2: float
) -> float:
    r""":math:`\sigma_w^2` as given, or the critical one at :math:`\sigma_b^2` if None."""
    return theory.critical_sigma_w2(act, sigma_b2) if sigma_w2 is None else float(sigma_w2)


def correlation_record(
    act: str | _activations.Activation,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    *,
    grid: int = 81,
    **study: Any,
) -> dict[str, Any]:
    r"""The correlation map on `grid` points of :math:`[-1, 1]`, the depth scales, and the
    measured :math:`c_l` (:func:`initlab.analysis.propagation.study_correlations`'s, whose
    keyword arguments `study` takes), computed in this process through the correlation
    study's cells (:func:`initlab.studies.correlation.record`; ``--out`` stores them)."""
    act = _activations.get(act)
    config = _correlation_study.CorrelationConfig(
        activation=act.spec, sigma_w2=sigma_w2, sigma_b2=sigma_b2, grid=grid, **study
    )
    return _correlation_study.record(config)


def jacobian_record(
    act: str | _activations.Activation,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    *,
    weights: Sequence[str] = ("gaussian", "orthogonal"),
    progress: Callable[[int, int], None] | None = None,
    **spectra: Any,
) -> dict[str, Any]:
    r"""Jacobian spectra for each weight law, with the theory per depth.

    ``{"panels": [{"spectra": JacobianSpectra.as_dict(), "theory": [...]}, ...]}``; each
    theory entry has the free-probability ``mean`` and ``variance`` of :math:`\sigma^2`
    (:func:`initlab.analysis.jacobian.spectrum_moments`) and, for linear units with
    Gaussian weights at :math:`\sigma_w^2 = 1`, the Fuss-Catalan density ``x``,
    ``density`` (else None). ``progress(done, total)`` is called after each weight law.
    Other keyword arguments go to :func:`initlab.analysis.jacobian.jacobian_spectra`.
    """
    act = _activations.get(act)
    panels = []
    for law in weights:
        s = _jacobian.jacobian_spectra(act, sigma_w2, sigma_b2, weights=law, **spectra)
        panels.append({"spectra": s.as_dict(), "theory": _theory(act, sigma_w2, sigma_b2, s)})
        if progress is not None:
            progress(len(panels), len(weights))
    return jsonable({**_head("jacobian"), "panels": panels})


def _theory(act: _activations.Activation, sigma_w2: float, sigma_b2: float,
            s: _jacobian.JacobianSpectra) -> list[dict[str, Any]]:  # fmt: skip
    r"""Free probability's moments of :math:`\sigma^2` at each depth of `s` (and the
    Fuss-Catalan density where it is exact)."""
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


# --------------------------------------------------------------------------- the study

JACOBIAN = "jacobian"
VERSION = 1


def jacobian_study(
    act: str | _activations.Activation, sigma_w2: float, sigma_b2: float = 0.0, *,
    weights: Sequence[str] = ("gaussian", "orthogonal"), depths: Sequence[int] = (1, 4, 16, 64),
    width: int = 400, members: int = 2, seed: int = 0,
) -> _study.Study:  # fmt: skip
    """The spectra of :func:`jacobian_record` as a study: a cell per (weight law, member)."""
    act = _activations.get(act)
    settings = {"activation": act.spec, "sigma_w2": float(sigma_w2),
                "sigma_b2": float(sigma_b2), "depths": sorted({int(d) for d in depths}),
                "width": int(width), "seed": int(seed)}  # fmt: skip
    cells = [
        _study.cell(JACOBIAN, VERSION, {**settings, "weights": law, "member": k}, law)
        for law in weights
        for k in range(members)
    ]
    spec = {"study": {"kind": JACOBIAN},
            JACOBIAN: {**settings, "weights": list(weights), "members": int(members)}}  # fmt: skip
    return _study.Study(JACOBIAN, spec, cells, f"{__name__}:jacobian_compute")


def jacobian_compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each cell's member chain (:func:`initlab.analysis.jacobian.member_spectra`)."""
    out = []
    for c in configs:
        q, sv = _jacobian.member_spectra(
            c["activation"], c["sigma_w2"], c["sigma_b2"], depths=c["depths"],
            width=c["width"], weights=c["weights"], seed=c["seed"], member=c["member"],
        )  # fmt: skip
        out.append({"q_star": q, "singular_values": sv})
    return out


def _jacobian_from_store(out: Path) -> dict[str, Any]:
    """The record of :func:`jacobian_record`, from the cells of the last Jacobian study
    stored in `out` (every cell must be done)."""
    found = _study.specs(out, JACOBIAN)
    if not found:
        raise InitlabError(f"{out / STORE_FILE} holds no Jacobian spectra")
    spec = dict(found[-1]["spec"][JACOBIAN])
    weights, members = spec.pop("weights"), spec.pop("members")
    act = spec.pop("activation")
    study = jacobian_study(act, **spec, weights=weights, members=members)
    got = _study.records(out, [c.id for c in study.cells])
    if any(r is None for r in got.values()):
        raise InitlabError(
            f"{out / STORE_FILE}: the Jacobian spectra are not all computed; run "
            "`initlab theory jacobian --out DIR` again to finish them"
        )
    act = _activations.get(act)
    panels = []
    for law in weights:
        recs = [got[c.id] for c in study.cells if c.config["weights"] == law]
        s = _jacobian.JacobianSpectra(
            theory._describe(act), law, spec["sigma_w2"], spec["sigma_b2"], recs[0]["q_star"],
            tuple(spec["depths"]), np.array([r["singular_values"] for r in recs]),
            spec["width"], spec["seed"],
        )  # fmt: skip
        panels.append({"spectra": s.as_dict(), "theory": _theory(act, s.sigma_w2, s.sigma_b2, s)})
    return jsonable({**_head("jacobian"), "panels": panels})


def has_jacobian_study(directory: Path) -> bool:
    """Whether `directory`'s store holds Jacobian spectra (:func:`jacobian_study`)."""
    return (directory / STORE_FILE).is_file() and bool(_study.specs(directory, JACOBIAN))


def write(out_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write `record` to ``out_dir/<kind>.json`` atomically; return the path."""
    return store(out_dir, f"{record['format'].rsplit('.', 1)[-1]}.json", record)


def read(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read ``<kind>.json`` (a file, or a directory holding it), refusing foreign files;
    the correlation study from the store of a directory that holds one.

    Raises
    ------
    InitlabError
        If the file is missing, not JSON, not this kind, or of another schema version.
    """
    if kind not in KINDS:
        raise InitlabError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "correlation" and _correlation_study.has_study(path):
        return _correlation_study.read(path)  # the study in the store of directory `path`
    if kind == JACOBIAN and Path(path).is_dir() and has_jacobian_study(Path(path)):
        return _jacobian_from_store(Path(path))
    return load(path, f"{kind}.json", f"initlab.sigprop.{kind}", f"initlab theory {kind} --out DIR")


def stored(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Every signal-propagation record in `directory`, by kind (those present only); the
    correlation study's from the store (:mod:`initlab.studies.correlation`) if it has one."""
    directory = Path(directory)
    return {k: read(directory, k) for k in KINDS
            if (directory / source_name(directory, k)).is_file()}  # fmt: skip


def source_name(directory: str | os.PathLike, kind: str) -> str:
    """The file :func:`stored` reads the record of `kind` from."""
    directory = Path(directory)
    if kind == "correlation" and _correlation_study.has_study(directory):
        return STORE_FILE
    if kind == JACOBIAN and has_jacobian_study(directory):
        return STORE_FILE
    return f"{kind}.json"
