r"""The studies' tables, as the commands print them and the report shows them.

A :class:`Table` is the lines of text above it (its title and notes) and its rows, the header
first, every cell already a string: a number is formatted once, where the table is built
(:mod:`initlab.report.sigprop`, :mod:`initlab.report.trainability`,
:mod:`initlab.report.kernels`), so ``initlab theory STUDY`` printing :meth:`Table.lines` and
``initlab report DIR`` writing the same rows as HTML show the same digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """Lines of text (`head`) above rows of cells, the first row the header.

    Attributes
    ----------
    head : list of str
        The title and notes, one line each, printed above the rows (a blank line between).
    rows : list of list of str
        The header, then one row per entry; every row as long as the header.
    """

    head: Sequence[str]
    rows: Sequence[Sequence[str]]

    def lines(self) -> list[str]:
        """The table as the commands print it: its head, a blank line, :func:`aligned` rows."""
        return [*self.head, "", *aligned(self.rows)]


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """`rows` as text lines, each column right-aligned to its widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def lines(tables: Iterable[Table]) -> list[str]:
    """Several tables' :meth:`Table.lines`, one after another with a blank line between."""
    out: list[str] = []
    for table in tables:
        out += ["", *table.lines()] if out else table.lines()
    return out
