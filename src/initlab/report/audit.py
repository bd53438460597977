"""The report's section for an initialization audit, drawn from the stored ``audit.json``
alone (written by ``initlab audit --out`` or :meth:`initlab.torch.Audit.write`); torch is
never imported here."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.analysis.coordcheck import text_table

AUDIT_FILE = "audit.json"
FORMAT = "initlab-audit"


def has_results(source: Path) -> bool:
    return (source / AUDIT_FILE).is_file()


def load(source: Path) -> dict:
    """The stored audit; a damaged or foreign file is refused naming it."""
    path = source / AUDIT_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InitlabError(f"{path} is not a readable audit ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InitlabError(f"{path} is not an initlab audit (format {FORMAT!r} expected)")
    return data


def report_sections(source: Path) -> Iterator[tuple[str, str, list]]:
    """(title, text, figures) of the audit in `source`, as
    :func:`initlab.report.scaling.report_sections` gives them: the tables as text and one
    figure of the layers through depth."""
    if has_results(source):
        data = load(source)
        caption = "Per layer through depth: measured (dots) and mean-field theory (lines)"
        yield "Initialization audit", format_audit(data), [(audit_figure(data), caption)]


def _series(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float("nan") if r.get(key) is None else r[key] for r in rows]


def audit_figure(data: dict[str, Any]):
    """Output second moment, squared gradient norm and Jacobian gain of each layer in
    forward order (log scale), measured beside the theory, the fix's measurements dashed,
    and the blocks' residual stream; red marks a layer that is not healthy."""
    from matplotlib.figure import Figure

    layers = data["layers"]
    after = (data.get("fix") or {}).get("after")
    panels = [("out_ms", "output second moment"), ("grad_n2", "|dZ|^2 (squared gradient)"),
              ("jac", "Jacobian gain from the input")]  # fmt: skip
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4 if data["blocks"] else 3)
    x = list(range(len(layers)))
    bad = [i for i, r in enumerate(layers) if r["verdict"] != "healthy"]
    for ax, (key, title) in zip(axes, panels, strict=False):
        y = _series(layers, key)
        ax.plot(x, y, "o", ms=3, color="C0", label="measured")
        ax.plot(x, _series(layers, "pred_" + key), "-", color="C1", label="theory")
        ax.plot(bad, [y[i] for i in bad], "o", ms=5, mfc="none", color="C3", label="flagged")
        if after:
            ax.plot(x, _series(after["layers"], key), "--", color="C2", label="after the fix")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("layer (forward order)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    if data["blocks"]:
        ax = axes[3]
        ax.plot(_series(data["blocks"], "growth"), "o-", ms=3, label="stream growth")
        if after:
            ax.plot(_series(after["blocks"], "growth"), "--", color="C2", label="after the fix")
        ax.set_yscale("log")
        ax.set_title("residual stream / first block's input", fontsize=10)
        ax.set_xlabel("block")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(f"Initialization audit: {data['model']}", fontsize=11)
    return fig


def _g(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def layer_table(rows: list[dict[str, Any]]) -> str:
    """Measured | theory side by side, one row per layer."""
    head = ["layer", "type", "act", "out ms", "theory", "growth", "theory", "|dZ|^2",
            "theory", "J gain", "theory", "sat", "dead", "verdict"]  # fmt: skip
    body = [[r["name"], r["type"], r["act"] or "-", _g(r["out_ms"]), _g(r["pred_out_ms"]),
             _g(r["growth"]), _g(r["pred_growth"]), _g(r["grad_n2"]), _g(r["pred_grad_n2"]),
             _g(r["jac"]), _g(r["pred_jac"]), _g(r["saturated"]), _g(r["dead"]),
             ", ".join(r["problems"]) or "healthy"] for r in rows]  # fmt: skip
    return text_table([head, *body])


def block_table(rows: list[dict[str, Any]]) -> str:
    head = ["block", "stream ms", "growth", "|dX|^2", "J gain", "verdict"]
    body = [[r["name"], _g(r["out_ms"]), _g(r["growth"]), _g(r["grad_n2"]), _g(r["jac"]),
             ", ".join(r["problems"]) or "healthy"] for r in rows]  # fmt: skip
    return text_table([head, *body])


def _count(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def format_audit(data: dict[str, Any]) -> str:
    """The audit as text: layers, blocks, the fix and what it changed (torch-free)."""
    inp = data["input"]
    parts = [
        f"{data['model']}: input ms {_g(inp['ms'])}, largest singular value of the "
        f"input-output Jacobian {_g(inp['sv_max'])} (from the {inp['jacobian_input']}); "
        f"gradients of {data['loss']['name']}",
        layer_table(data["layers"]),
    ]
    if data["blocks"]:
        parts.append(block_table(data["blocks"]))
    parts.append(f"layers: {_count(data['layers'])}" + (
        f"; blocks: {_count(data['blocks'])}" if data["blocks"] else ""))  # fmt: skip
    fix = data["fix"]
    if fix is None:
        parts.append("no fix needed" if all(r["verdict"] == "healthy" for r in
                     data["layers"] + data["blocks"]) else "no fix found")  # fmt: skip
    else:
        rules = "\n".join(f"  ({p!r}, {s!r})," for p, s in fix["rules"])
        after = fix["after"]
        parts.append(
            "fix (apply(model, None, rules=[...], bias=None)), because "
            + "; ".join(fix["why"])
            + ":\n[\n"
            + rules
            + "\n]"
        )
        parts.append(f"after the fix: layers: {_count(after['layers'])}" + (
            f"; blocks: {_count(after['blocks'])}" if after["blocks"] else ""))  # fmt: skip
    return "\n\n".join(parts)
