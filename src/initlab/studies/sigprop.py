r"""Signal-propagation results as stored data: the critical line, correlations, Jacobian spectra.

Each ``*_record`` function computes one study and returns plain data (JSON-ready, with
``"format": "initlab.sigprop.<kind>"`` and ``"schema_version"``); :func:`write` stores it
atomically as ``<kind>.json`` (``critical.json``, ``correlation.json``, ``jacobian.json``)
and :func:`read` reads it back with checks. Figures (:mod:`initlab.report.sigprop`) and
the report are drawn from these records only.

The Jacobian spectra are also a study (:mod:`initlab.studies.jacobian_study`): one cell per
weight law and member chain, computed and stored in ``DIR/sweep.sqlite`` by the executor
sweeps use (resumable, the same bits as :func:`jacobian_record`); :func:`read` of
``"jacobian"`` reads the store when it holds them, else ``jacobian.json``. So does :func:`read` of
``"correlation"``, whose study is :mod:`initlab.studies.correlation`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.analysis import correlation as _correlation
from initlab.analysis import jacobian as _jacobian
from initlab.analysis import theory as theory
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import correlation as _correlation_study
from initlab.studies import jacobian_study as _jacobian_study
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
        th = _jacobian_study.theory_entries(act, sigma_w2, sigma_b2, s)
        panels.append({"spectra": s.as_dict(), "theory": th})
        if progress is not None:
            progress(len(panels), len(weights))
    return jsonable({**_head("jacobian"), "panels": panels})


def has_jacobian_study(directory: str | os.PathLike) -> bool:
    """Whether `directory`'s store holds Jacobian spectra
    (:mod:`initlab.studies.jacobian_study`)."""
    return _jacobian_study.has_study(directory)


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
    if kind == "jacobian" and Path(path).is_dir() and has_jacobian_study(path):
        return _jacobian_study.read(path)
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
    if kind == "jacobian" and has_jacobian_study(directory):
        return STORE_FILE
    return f"{kind}.json"
