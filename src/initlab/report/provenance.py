"""What a table or report says about a result's trustworthiness: chaos marks and provenance.

A chaotic run (:mod:`initlab.analysis.chaos`) is marked with
:data:`~initlab.analysis.chaos.SYMBOL` beside its name, and every table that marks one is
followed by the one-line :data:`~initlab.analysis.chaos.LEGEND`; a result's provenance
(:mod:`initlab.results.provenance`) is shown as one line. Shared by the terminal tables
(``initlab run``, ``reproduce``, ``results``) and the HTML/Markdown report.
"""

from __future__ import annotations

from typing import Any

from initlab.analysis.chaos import LEGEND, SYMBOL
from initlab.results.provenance import describe

__all__ = ["LEGEND", "SYMBOL", "chaos_mark", "chaos_notes", "describe", "provenance_lines"]


def chaos_mark(row: dict[str, Any]) -> str:
    """`` †`` for a chaotic run (a record or sweep row with ``chaotic``), `` † k/N`` for a
    summary over N seeds of which k are chaotic (``chaotic`` a count); else ``""``."""
    chaotic = row.get("chaotic")
    if not chaotic:
        return ""
    seeds = row.get("seeds")
    if isinstance(chaotic, bool) or not seeds or len(seeds) == 1:
        return f" {SYMBOL}"
    return f" {SYMBOL} {chaotic}/{len(seeds)}"


def chaos_notes(
    rows: list[dict[str, Any]], legend: str | None = None, unmeasured: bool = True
) -> list[str]:
    """`legend` (results.json's ``chaos.legend``; float64's by default) when one of `rows`
    is marked; with `unmeasured`, that chaos was not measured when no row was."""
    if any(r.get("chaotic") for r in rows):
        return [legend or LEGEND]
    if unmeasured and rows and all(r.get("chaotic") is None for r in rows):
        return ["chaos not measured (no twins: training.twins = 0)"]
    return []


def provenance_lines(results: dict[str, Any]) -> list[str]:
    """One line for the provenance of `results` (results.json, a study or a sweep's meta)."""
    return [describe(results.get("provenance"))]
