"""``initlab report DIR``: one self-contained HTML page and a Markdown summary.

Everything is drawn from the stored results alone (``results.json`` of ``initlab run`` or
``initlab reproduce``, ``sweep.sqlite`` of ``initlab sweep``, and ``critical.json``,
``jacobian.json`` of ``initlab theory critical / jacobian --out``, ``audit.json`` of
``initlab audit --out``, and the studies' cells in ``sweep.sqlite`` of ``initlab theory
correlation / kernels / trainability --out``), never by re-training.
Figures are embedded as PNG data URIs, so the page needs no network and no other file.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from initlab._validation import InitlabError
from initlab.report.experiment import (
    DEPTH_NOTE,
    INTERVAL_NOTE,
    comparison_rows,
    depth_scale_rows,
    sections,
    setup_text,
)
from initlab.report.provenance import chaos_notes, describe
from initlab.results.records import RESULTS_FILE, read_results, write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from initlab.report.tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th.label, td.label { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""

# Counts the figures that loaded: a broken one is outlined in red, and the count is left
# on <body data-figures-loaded="n/total"> (the test reads it in headless Chromium).
SCRIPT = """
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  imgs.filter(i => !ok.includes(i)).forEach(i => { i.style.outline = '3px solid red'; });
  document.body.dataset.figuresLoaded = ok.length + '/' + imgs.length;
});
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure_html(fig: Figure | None, caption: str) -> str:
    if fig is None:
        return ""
    alt = html.escape(caption, quote=True)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _html_table(rows: Sequence[Sequence[str]], labels: int = 2) -> str:
    """`rows` (the header first) as an HTML table: the first `labels` columns (names, left
    aligned), the others right aligned (numbers, as the commands print them)."""

    def row(tag: str, cells: Sequence[str]) -> str:
        opens = [f'<{tag} class="label">'] * labels + [f"<{tag}>"] * (len(cells) - labels)
        return "<tr>" + "".join(
            f"{o}{html.escape(c)}</{tag}>" for o, c in zip(opens, cells, strict=False)
        ) + "</tr>"  # fmt: skip

    body = "".join(row("td", r) for r in rows[1:])
    return f"<table><thead>{row('th', rows[0])}</thead><tbody>{body}</tbody></table>"


def _md_table(rows: list[list[str]]) -> str:
    cells = [[c.replace("|", "\\|") for c in r] for r in rows]  # a cell's | is not a column's
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)


def write_report(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    axes: tuple[str, str] | None = None,
    progress: Callable[[int, None], None] | None = None,
) -> list[Path]:
    """Write ``report.html`` and ``report.md`` for the results in `source`.

    Parameters
    ----------
    source : path
        A directory with ``results.json`` (from ``initlab run`` or ``reproduce``) and/or
        ``sweep.sqlite`` (from ``initlab sweep``) and/or ``coord_check.json`` /
        ``lr_transfer.json`` (from ``initlab scaling``).
    out : path, optional
        Output directory (default: `source`).
    axes : (str, str), optional
        For a sweep: the two axes of its heatmaps (e.g. ``("init", "learning_rate")``),
        everything else averaged; by default the two with the most values.
    progress : callable, optional
        ``progress(done, None)`` after each figure is drawn (their number is not known
        before).

    Returns
    -------
    list of Path
        The files written.
    """
    source = Path(source)
    out = Path(out) if out is not None else source
    if not source.is_dir():
        raise InitlabError(f"{source} is not a directory of initlab results")
    parts = _page_parts(source, axes, _Embed(progress))
    parts_html, parts_md = [h for h, _ in parts], [m for _, m in parts]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>initlab report</title>"
        f"<style>{STYLE}</style></head><body><h1>initlab report</h1>"
        + "".join(parts_html)
        + f"<script>{SCRIPT}</script></body></html>"
    )
    paths = [out / "report.html", out / "report.md"]
    write_atomic(paths[0], page.encode("utf-8"))
    write_atomic(paths[1], ("# initlab report\n\n" + "\n\n".join(parts_md) + "\n").encode())
    return paths


class _Embed:
    """:func:`_figure_html`, counting the figures for a progress callback."""

    def __init__(self, progress: Callable[[int, None], None] | None) -> None:
        self.progress, self.done = progress, 0

    def __call__(self, fig: Figure | None, caption: str) -> str:
        text = _figure_html(fig, caption)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, None)
        return text


def _page_parts(source: Path, axes: tuple[str, str] | None, embed: _Embed) -> list[tuple[str, str]]:
    """(HTML, Markdown) of each section the results in `source` call for, in page order."""
    from initlab.report import audit as _audit
    from initlab.report import kernels as _kernels
    from initlab.report import scaling as _scaling

    parts = []
    has_sweep, has_sigprop = _has_sweep(source), _has_sigprop(source)
    others = has_sweep or has_sigprop or _scaling.has_results(source) or _audit.has_results(source)
    others = others or _kernels.has_results(source)
    if (source / RESULTS_FILE).is_file() or not others:
        parts.append(_experiment_parts(read_results(source), embed))
    if has_sweep:
        parts.append(_sweep_parts(source, axes, embed))
    if has_sigprop:
        parts.append(_sigprop_parts(source, embed))
    for title, text, figs in chain(
        _scaling.report_sections(source),
        _audit.report_sections(source),
        _kernels.report_sections(source),
    ):
        body = "".join(embed(f, c) for f, c in figs)
        words = (f"<pre>{html.escape(text)}</pre>", f"```\n{text}\n```") if isinstance(
            text, str) else _tables_parts(text)  # fmt: skip
        parts.append((
            f"<h2>{html.escape(title)}</h2>{words[0]}{body}",
            f"## {title}\n\n{words[1]}\n\nFigures: report.html.",
        ))  # fmt: skip
    return parts


def _tables_parts(tables: Iterable[Table]) -> tuple[str, str]:
    """(HTML, Markdown) of :class:`initlab.report.tables.Table` s: each its head (one
    paragraph, a line break after each line: two trailing spaces in Markdown), then rows."""
    tables = list(tables)
    h = "".join("<p>" + "<br>".join(map(html.escape, t.head)) + "</p>"
                + _html_table(t.rows, labels=1) for t in tables)  # fmt: skip
    md = "\n\n".join("  \n".join(t.head) + "\n\n" + _md_table(t.rows) for t in tables)
    return h, md


def _experiment_parts(results: dict[str, Any], embed: _Embed) -> tuple[str, str]:
    rows = comparison_rows(results)
    setup = setup_text(results)
    several = any(len(s["seeds"]) > 1 for s in results["summary"])
    legend = (results.get("chaos") or {}).get("legend")
    notes = [INTERVAL_NOTE] * several + chaos_notes(results["summary"], legend)
    note = "".join(f"<p>{html.escape(n)}.</p>" for n in notes)
    h = [f"<h2>Comparison</h2><pre>{html.escape(setup)}</pre>", _html_table(rows), note]
    for title, figs in sections(results):
        body = "".join(embed(f, c) for f, c in figs)
        if title.startswith("Signal propagation") and depth_scale_rows(results):
            body += _html_table(depth_scale_rows(results)) + f"<p>{DEPTH_NOTE}</p>"
        if body:
            h.append(f"<h2>{html.escape(title)}</h2>{body}")
    md = "## Comparison\n\n```\n" + setup + "\n```\n\n" + _md_table(rows)
    md += "".join(f"\n\n{n}." for n in notes)
    md += " Figures: report.html."
    if depth_scale_rows(results):
        md += "\n\n## Signal propagation\n\n" + _md_table(depth_scale_rows(results))
        md += f"\n\n{DEPTH_NOTE}"
    return "".join(h), md


def _sigprop_parts(source: Path, embed: _Embed) -> tuple[str, str]:
    """Figures and tables of the studies `initlab theory critical/correlation/jacobian/
    trainability/deep-linear --out` stored in `source`, drawn from their stored results."""
    from initlab.report.sigprop import FIGURES, TABLES
    from initlab.report.trainability import stored_figures
    from initlab.studies import sigprop

    stored = sigprop.stored(source)
    where = {k: sigprop.source_name(source, k) for k in stored}
    captions = {
        "critical": "Critical line chi_1 = 1 per activation (critical.json)",
        "correlation": "Correlation map and c_l through depth, theory vs measured "
        f"({where.get('correlation')})",
        "jacobian": "Jacobian singular values at initialization, Gaussian vs orthogonal "
        f"weights ({where.get('jacobian')})",
    }
    trained = stored_figures(source)
    files = [*where.values(), *(c.split("(")[-1][:-1] for _, c, _ in trained)]
    figs, md = "", [f"From {', '.join(dict.fromkeys(files))}. Figures: report.html."]
    for fig, caption, tables in [
        *((FIGURES[k](data), captions[k], [TABLES[k](data)]) for k, data in stored.items()),
        *trained,
    ]:
        h, m = _tables_parts(tables)  # each figure, its tables below it
        figs += embed(fig, caption) + h
        md.append(m)
    return (
        f"<h2>Signal propagation studies</h2>{figs}",
        "## Signal propagation studies\n\n" + "\n\n".join(md),
    )


def _has_sweep(source: Path) -> bool:
    """A sweep store with runs (a study's store has cells only)."""
    from initlab.results.sweep_store import open_store

    if not (source / "sweep.sqlite").is_file():
        return False
    with open_store(source, readonly=True) as store:
        return bool(store.statuses())


def _has_sigprop(source: Path) -> bool:
    from initlab.studies import correlation, deeplinear, sigprop, trainability

    kinds = ("critical", "correlation", "jacobian")
    return (trainability.stored(source) or deeplinear.stored(source)
            or sigprop.has_jacobian_study(source) or correlation.has_study(source)
            or any((source / f"{k}.json").is_file() for k in kinds))  # fmt: skip


def _sweep_parts(source: Path, axes: tuple[str, str] | None, embed: _Embed) -> tuple[str, str]:
    from initlab.report import sweep as sweep_plots
    from initlab.results.sweep_store import open_store

    with open_store(source, readonly=True) as store:
        rows, provs = store.rows(), store.provenances()
    done = [r for r in rows if r["status"] == "done"]
    if not done:
        return "<h2>Sweep</h2><p>No finished runs yet.</p>", "## Sweep\n\nNo finished runs yet."
    x, y = axes or sweep_plots.default_axes(done)
    metrics = ["final_cost", "train_accuracy"]
    if any(r.get("test_accuracy") is not None for r in done):
        metrics.append("test_accuracy")
    figs = "".join(
        embed(sweep_plots.heatmap(done, x, y, m), f"{m} over {x} x {y}, mean over the rest")
        for m in metrics
    )
    failed = sum(r["status"] == "failed" for r in rows)
    text = f"{len(done)} runs done, {failed} failed, {len(rows)} in the sweep"
    chaotic = sum(bool(r.get("chaotic")) for r in done)
    text += "".join(f". {n}" for n in (
        [f"{chaotic} chaotic; " + chaos_notes(done)[0]] if chaotic else chaos_notes(done)
    ))  # fmt: skip
    text += "".join(f". {describe(p)}" for p in provs.values())
    return f"<h2>Sweep</h2><p>{text}</p>{figs}", f"## Sweep\n\n{text}. Heatmaps: report.html."
