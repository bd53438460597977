r"""The stored form of recorded diagnostics: :class:`Diagnostics`, one array per quantity,
and one member of it as plain JSON data (:meth:`Diagnostics.member`), which figures and
reports read (:mod:`initlab.report.diagnostics`). What each quantity means, and how it is
recorded: :mod:`initlab.analysis.diagnostics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.analysis.histograms import finite_list

Array = np.ndarray

SCHEMA = 1
QUANTITIES = (
    "z_mean", "z_std", "a_mean", "a_std", "saturated",
    "grad_norm", "weight_norm", "update_ratio", "distinct_units",
)  # fmt: skip
"""The per-layer series, in the order of :class:`Diagnostics` and of :meth:`Diagnostics.member`."""
KINDS = ("A", "dZ")
"""Histogrammed arrays: activations ``A_l`` (output: ``sigmoid(Z_L)``) and gradients ``dZ_l``."""


@dataclass
class Diagnostics:
    """Recorded diagnostics of a population (each quantity: :mod:`initlab.analysis.diagnostics`).

    Attributes
    ----------
    iterations : ndarray of int (R,)
        The recorded iterations.
    units : tuple of int
        ``(n_1, ..., n_L)``.
    activation : str
        The hidden activation (its rule defines ``saturated``).
    tol : float
        Tolerance of ``distinct_units``.
    cost : ndarray (R, K)
        Training cost at each recorded iteration (NaN once diverged).
    diverged : bool ndarray (R, K)
    z_mean, z_std, a_mean, a_std, saturated, grad_norm, weight_norm, update_ratio, \
distinct_units : ndarray (R, L, K)
    histogram_iterations : ndarray of int (2,)
        The first and the last recorded iteration.
    histogram_counts : dict
        ``{"A": counts, "dZ": counts}``, each int64 ``(2, L, K, bins)``: ``[0]`` at the first,
        ``[1]`` at the last recorded iteration.
    histogram_edges : dict
        The bin edges, float64 ``(2, L, K, bins + 1)``, chosen per layer and member from the
        data (min to max of its finite values); NaN where there is no histogram.
    unit_columns : int or None
        How many input columns layer 1's ``distinct_units`` compared (all of them when it
        equals ``n_0``; see :mod:`initlab.analysis.diagnostics`); None if not known.
    layers : tuple of str or None
        The weight layers' names (a ResMLP's ``W_in``, ``V1.1``, ..., ``W_out``; see
        :meth:`initlab.nn.residual.ResMLP.layers`); None for the plain MLP's ``W_1..W_L``.
    """

    iterations: Array
    units: tuple[int, ...]
    activation: str
    tol: float
    cost: Array
    diverged: Array
    z_mean: Array
    z_std: Array
    a_mean: Array
    a_std: Array
    saturated: Array
    grad_norm: Array
    weight_norm: Array
    update_ratio: Array
    distinct_units: Array
    histogram_iterations: Array
    histogram_counts: dict[str, Array]
    histogram_edges: dict[str, Array]
    unit_columns: int | None = None
    layers: tuple[str, ...] | None = None

    @property
    def K(self) -> int:
        """Population size."""
        return self.cost.shape[1]

    def member(self, k: int) -> dict[str, Any]:
        """Member `k` as plain JSON data (``json.dumps(..., allow_nan=False)`` works).

        Layout: ``schema`` (int), ``activation`` (str), ``units`` (``[n_1..n_L]``), ``tol``,
        ``unit_columns`` (the input columns layer 1's symmetry count compared), ``layers``
        (the layers' names, only when known: a ResMLP's),
        ``iterations`` (R ints), ``diverged`` (R bools), ``cost`` (R floats), one key per
        name in :data:`QUANTITIES` holding L lists (layer 1 first) of R values, and
        ``histograms = {"bins": int, "first": H, "last": H}`` with
        ``H = {"iteration": int, "A": [h_1..h_L], "dZ": [h_1..h_L]}`` and
        ``h_l = {"counts": [bins ints], "edges": [bins + 1 floats]}`` or None (diverged).
        Every NaN or infinite value is written as None (and read back as NaN).
        """
        k = int(check_number("k", k, low=0, high=self.K - 1, integer=True))
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "activation": self.activation,
            "units": list(self.units),
            "tol": self.tol,
            "unit_columns": self.unit_columns,
            **({} if self.layers is None else {"layers": list(self.layers)}),
            "iterations": [int(i) for i in self.iterations],
            "diverged": [bool(d) for d in self.diverged[:, k]],
            "cost": finite_list(self.cost[:, k]),
        }
        for q in QUANTITIES:
            values = getattr(self, q)[:, :, k].T
            out[q] = [finite_list(v, integer=q == "distinct_units") for v in values]
        out["histograms"] = {"bins": self.histogram_counts["A"].shape[-1]}
        for j, when in enumerate(("first", "last")):
            h: dict[str, Any] = {"iteration": int(self.histogram_iterations[j])}
            for kind in KINDS:
                counts, edges = self.histogram_counts[kind][j], self.histogram_edges[kind][j]
                h[kind] = [
                    None if not np.isfinite(edges[l, k]).all()
                    else {"counts": counts[l, k].tolist(), "edges": edges[l, k].tolist()}
                    for l in range(len(self.units))
                ]  # fmt: skip
            out["histograms"][when] = h
        return out

    @classmethod
    def from_member_dicts(cls, members: Sequence[Mapping[str, Any]]) -> Diagnostics:
        """Rebuild diagnostics from :meth:`member` dicts; member k is ``members[k]``."""
        if not members:
            raise InitlabError("from_member_dicts needs at least one member dict")
        first = members[0]
        for k, m in enumerate(members):
            if m.get("schema") != SCHEMA:
                raise InitlabError(f"member {k} has schema {m.get('schema')!r}; expected {SCHEMA}")
            for key in ("iterations", "units", "activation", "layers"):
                if m.get(key) != first.get(key):
                    raise InitlabError(
                        f"member {k} has other {key} than member 0: {m.get(key)!r}, not "
                        f"{first.get(key)!r}"
                    )
        L, bins = len(first["units"]), first["histograms"]["bins"]
        col = lambda key: np.array([m[key] for m in members], dtype=float).T  # noqa: E731
        series = {q: col(q) for q in QUANTITIES}  # (K, L, R) -> (R, L, K)
        counts = {kind: np.zeros((2, L, len(members), bins), np.int64) for kind in KINDS}
        edges = {kind: np.full((2, L, len(members), bins + 1), np.nan) for kind in KINDS}
        for k, m in enumerate(members):
            for j, when in enumerate(("first", "last")):
                for kind in KINDS:
                    for l, h in enumerate(m["histograms"][when][kind]):
                        if h is not None:
                            counts[kind][j, l, k], edges[kind][j, l, k] = h["counts"], h["edges"]
        return cls(
            iterations=np.array(first["iterations"], dtype=int),
            units=tuple(first["units"]),
            activation=first["activation"],
            tol=first["tol"],
            cost=col("cost"),
            diverged=np.array([m["diverged"] for m in members], dtype=bool).T,
            **series,
            histogram_iterations=np.array(
                [first["histograms"][w]["iteration"] for w in ("first", "last")]
            ),
            histogram_counts=counts,
            histogram_edges=edges,
            unit_columns=first.get("unit_columns"),
            layers=None if first.get("layers") is None else tuple(first["layers"]),
        )
