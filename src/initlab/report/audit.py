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
    :func:`initlab.report.scaling.report_sections` gives them: the tables as text."""
    if has_results(source):
        yield "Initialization audit", format_audit(load(source)), []


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
