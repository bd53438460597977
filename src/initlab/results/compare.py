r"""Two result sets compared run by run: equal, equal to rounding, chaotic, or different.

Runs are matched by name and seed. Each pair's numbers (the cost at every iteration, the
final cost, the accuracies, the held-out cost, divergence) are compared and the pair is
given one status:

``equal``
    every number the same bits.
``rounding``
    every cost within :data:`~initlab.analysis.chaos.TWIN_TOL` (relative) and the
    accuracies and divergence equal: what another BLAS kernel or engine does to a run that
    is not chaotic (the post's zeros and random x 10 agree to ~11 digits across engines).
``chaotic``
    the numbers differ beyond that, and the run is chaotic in either set (its shadow twins
    parted from it; :mod:`initlab.analysis.chaos`): expected across machines, engines and
    BLAS kernels, and to be read as one draw of a distribution.
``differs``
    the numbers differ beyond rounding where the run is not chaotic, or its chaos was not
    measured (no twins): a difference that must not be, the specs or data aside.
``missing``
    the run is in one set only.

:func:`compare` also names the spec keys and the provenance fields
(:func:`initlab.results.provenance.differences`) in which the two sets differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab.analysis.chaos import TWIN_TOL
from initlab.results.provenance import differences

STATUSES = ("equal", "rounding", "chaotic", "differs", "missing")
EXPECTED = ("equal", "rounding", "chaotic")
"""Statuses that are no fault of the code (exit 0 in ``initlab results compare``)."""
COSTS = ("cost_history", "final_cost", "test_cost", "test_cost_history")
EXACT = ("train_accuracy", "test_accuracy", "diverged", "diverged_at")


@dataclass(frozen=True)
class RunComparison:
    """One run in both sets (or one): its status and the numbers that tell it."""

    key: str
    status: str
    chaotic: tuple[bool | None, bool | None]
    final_cost: tuple[float | None, float | None]
    train_accuracy: tuple[float | None, float | None]
    differ: tuple[str, ...] = ()
    largest: float = 0.0


@dataclass(frozen=True)
class Comparison:
    """The comparison of two result sets (:func:`compare`)."""

    runs: list[RunComparison]
    spec_differences: list[str] = field(default_factory=list)
    provenance_differences: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.runs) for s in STATUSES}

    @property
    def ok(self) -> bool:
        """Whether every run is equal, equal to rounding, or chaotic."""
        return all(r.status in EXPECTED for r in self.runs)


def _relative(a: Any, b: Any) -> float:
    """Largest relative difference of two numbers or arrays (NaN/None agreeing with NaN/
    None; inf when only one is missing or their shapes differ)."""
    if a is None and b is None:
        return 0.0
    if a is None or b is None:
        return float("inf")
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return float("inf")
    fx, fy = np.isfinite(x), np.isfinite(y)
    if np.any(fx != fy):
        return float("inf")
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(scale > 0, np.abs(x - y) / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(rel[fx], initial=0.0))


def compare_runs(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> RunComparison:
    """The status of one run's records `a` and `b` (either None: missing)."""
    if a is None or b is None:
        where = "in A only" if a is not None else "in B only"
        return RunComparison(key, "missing", (_get(a, "chaotic"), _get(b, "chaotic")),
                             (_get(a, "final_cost"), _get(b, "final_cost")),
                             (_get(a, "train_accuracy"), _get(b, "train_accuracy")),
                             (where,))  # fmt: skip
    rel = {k: _relative(a.get(k), b.get(k)) for k in COSTS}
    same = [k for k in EXACT if a.get(k) == b.get(k)]
    bitwise = all(v == 0.0 for v in rel.values()) and len(same) == len(EXACT)
    beyond = tuple(k for k, v in rel.items() if v > TWIN_TOL)
    beyond += tuple(k for k in EXACT if k not in same)
    chaotic = (a.get("chaotic"), b.get("chaotic"))
    if bitwise:
        status = "equal"
    elif not beyond:
        status = "rounding"
    elif any(chaotic):
        status = "chaotic"
    else:
        status = "differs"
    largest = max((v for v in rel.values() if np.isfinite(v)), default=0.0)
    return RunComparison(key, status, chaotic, (a.get("final_cost"), b.get("final_cost")),
                         (a.get("train_accuracy"), b.get("train_accuracy")), beyond,
                         largest)  # fmt: skip


def _get(rec: dict[str, Any] | None, key: str) -> Any:
    return None if rec is None else rec.get(key)


def _by_key(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['name']}/{r['seed']}": r for r in results["runs"]}


def _spec_differences(a: dict[str, Any], b: dict[str, Any], where: str = "") -> list[str]:
    """Keys of two resolved specs whose values differ, as ``key: A -> B`` (runs by count)."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y, name = a.get(key), b.get(key), f"{where}{key}"
        if key == "runs":
            if x != y:
                out.append(f"{name}: {len(x or [])} runs -> {len(y or [])} runs, or other runs")
        elif isinstance(x, dict) and isinstance(y, dict):
            out += _spec_differences(x, y, f"{name}.")
        elif x != y:
            out.append(f"{name}: {x!r} -> {y!r}")
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Compare two results (``results.json`` contents), run by run, in A's order (B's
    runs missing from A last)."""
    ra, rb = _by_key(a), _by_key(b)
    keys = list(ra) + [k for k in rb if k not in ra]
    runs = [compare_runs(ra.get(k), rb.get(k), k) for k in keys]
    return Comparison(runs, _spec_differences(a.get("spec", {}), b.get("spec", {})),
                      differences(a.get("provenance"), b.get("provenance")))  # fmt: skip
