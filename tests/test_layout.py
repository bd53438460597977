"""The layout shows the data flow: each stage imports only the stages below it, with no cycle.

The order, from the core up (a module may import from its own package and any package left of it)::

    _rng, _validation -> nn -> init -> data -> analysis -> results -> specs -> execution -> studies -> report -> torch -> playground -> cli

``torch`` (the optional PyTorch bridge) sits just below ``cli``, then ``playground`` (the local
web page), which must not import torch at all. Lazy imports inside functions
count too: an arrow against the order is a design error wherever it is written.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "initlab"
ORDER = [
    "_base",
    "nn",
    "init",
    "data",
    "analysis",
    "results",
    "specs",
    "execution",
    "studies",
    "report",
    "torch",
    "playground",
    "cli",
]
BASE = {"_rng", "_validation", "_version", "_limits"}


@functools.cache
def _modules() -> dict[str, Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _targets(mod: str, path: Path, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = [f"{prefix}.{a.name}" for a in node.names]
    # `from pkg import module` depends on the module; `from pkg import name` on the package
    return names if any(n in _modules() for n in names) else [prefix]


def _imports() -> dict[str, set[str]]:
    mods = _modules()
    edges: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                deps |= {t for t in _targets(mod, path, node) if t in mods and t != mod}
        edges[mod] = deps
    return edges


def _stage(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return None  # the package's public face re-exports from every stage
    if parts[1] in BASE:
        return "_base"
    return parts[1]


def test_every_module_belongs_to_a_stage():
    stray = [m for m in _modules() if _stage(m) not in (None, *ORDER)]
    assert not stray, f"modules outside the staged layout: {stray}"


def test_no_import_against_the_data_flow():
    wrong = []
    for mod, deps in _imports().items():
        here = _stage(mod)
        if here is None:
            continue
        for dep in deps:
            there = _stage(dep)
            if there is None:
                if here != "cli":
                    wrong.append(f"{mod} -> {dep} (the top-level package)")
            elif ORDER.index(there) > ORDER.index(here):
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "imports against the data flow:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    edges = _imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
            elif not state.get(nxt):
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for mod in sorted(edges):
        if not state.get(mod):
            visit(mod, [mod])
    assert not cycles, f"import cycles: {cycles}"


def test_playground_does_not_import_torch():
    """The page runs on a fresh install without PyTorch: no ``torch`` or ``initlab.torch``."""
    wrong = []
    for mod, path in _modules().items():
        if _stage(mod) != "playground":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for t in _targets(mod, path, node):
                    if t.split(".")[0] == "torch" or t.startswith("initlab.torch"):
                        wrong.append(f"{mod} -> {t}")
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("bad", "expect"),
    [("nn.network", "initlab.nn.network -> initlab.report.figures")],
)
def test_the_order_check_can_fail(bad, expect, tmp_path, monkeypatch):
    """A planted upward import is caught (the check is not vacuous)."""
    edges = _imports()
    edges[f"initlab.{bad}"].add("initlab.report.figures")
    monkeypatch.setattr(f"{__name__}._imports", lambda: edges)
    with pytest.raises(AssertionError, match=expect):
        test_no_import_against_the_data_flow()
