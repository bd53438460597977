"""The documentation is tested: every example in README.md and docs/*.md runs here.

Conventions (the full statement is the docstring of ``docs/regenerate.py``, which this
module loads and shares):

- Every ```python block runs, in order, one namespace per Markdown file, working directory
  the repository root; a block followed by a fence without a language is compared with
  what it printed. Write complete examples (imports included) that take seconds.
- Every console block (first line ``$ initlab ...`` or ``$ python ...``) runs in a scratch
  directory and its printed output is compared with the docs, after the normalization of
  ``docs/regenerate.py`` (durations and the scratch path masked; a line ``...`` stands for
  any lines). A block that takes more than ``QUICK_SECONDS`` fails: mark it slow.
- ``<!-- docs: no-run (reason) -->`` on the line before a fence: nothing runs the block.
  ``<!-- docs: slow (reason) -->``: ``python docs/regenerate.py`` runs it; this module runs
  the smaller check registered for it in ``SLOW_CHECKS``. ``<!-- docs: chaotic (reason) -->``:
  its digits come from chaotic runs (they differ between CPUs); its registered check holds
  what it quotes as a distribution (a t or binomial bound), never its digits.
  ``<!-- docs: needs-data (reason) -->``: skipped when ../shared/datasets is absent.
- ``python docs/regenerate.py`` rewrites every printed output with this machine's;
  ``--check`` only reports.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("initlab_docs", REPO / "docs" / "regenerate.py")
docs = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = docs
_spec.loader.exec_module(docs)

QUICK_SECONDS = 60.0
"""A console example that runs longer than this (on a busy 2-core machine) must be marked
slow, with a smaller check in SLOW_CHECKS."""

FILES = docs.markdown_files()
BLOCKS = [b for f in FILES for b in docs.parse(f)]
CONSOLE = [b for b in BLOCKS if b.is_console and b.marker in (None, "needs-data")]
SLOW = [b for b in BLOCKS if b.marker in ("slow", "chaotic")]
NEEDS_DATA_REASON = (
    "needs the real datasets in ../shared/datasets beside the repository (CI always has them)"
)


def _ids(blocks):
    return [b.where for b in blocks]


def _require_data(block) -> None:
    needs = block.marker == "needs-data" or "../shared/datasets" in block.text
    if needs and not (docs.SHARED / "datasets").is_dir():
        pytest.skip(f"{block.where}: {NEEDS_DATA_REASON}")


def test_markers_are_known_and_give_a_reason():
    errors = [e for b in BLOCKS for e in docs.marker_errors(b)]
    assert not errors, "\n".join(errors)
    no_run = [b for b in BLOCKS if b.marker == "no-run"]
    assert len(no_run) <= max(3, len(BLOCKS) // 10), f"too many no-run blocks: {_ids(no_run)}"


def test_marker_parsing_refuses_a_marker_without_reason(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs: no-run -->\n```python\nx = 1\n```\n<!-- docs: slo (x) -->\n```\n$ initlab\n```\n"
    )
    blocks = docs.parse(page)
    blocks[0].path = blocks[1].path = REPO / "page.md"
    assert docs.marker_errors(blocks[0]) == ["page.md:2: marker 'no-run' needs a reason: (why)"]
    assert "unknown marker 'slo'" in docs.marker_errors(blocks[1])[0]


def test_normalization_masks_durations_and_paths_only():
    shown = "results in out/ (engine: direct, 0.83 s of training)\nfinal cost 0.304128"
    run = "results in out/ (engine: direct, 14.98 s of training)\nfinal cost 0.304128"
    assert docs.matches(docs.normalize(shown), docs.normalize(run))
    assert not docs.matches(docs.normalize(shown), docs.normalize(run.replace("128", "129")))
    assert docs.matches("a\n...\nd", "a\nb\nc\nd") and docs.matches("a\n...\nd", "a\nd")
    assert not docs.matches("a\n...\nd", "a\nb\nc")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_python_blocks_run(path):
    """Every python block of a file, in order, in one namespace; printed output compared."""
    blocks = [b for b in docs.parse(path) if b.lang == "python" and b.marker != "no-run"]
    if not blocks:
        pytest.skip(f"{path.name} has no python blocks")
    before = {p.name for p in REPO.iterdir()}
    namespace = {"__name__": "__docs__"}
    for block in blocks:
        _require_data(block)
        printed = docs.run_python(block.text, namespace, block.where)
        if block.output is not None:
            expected, got = docs.normalize(block.output.text), docs.normalize(printed)
            assert docs.matches(expected, got), f"{block.where} printed:\n{got}\ndocs:\n{expected}"
    created = {p.name for p in REPO.iterdir()} - before
    assert not created, f"{path.name}'s examples wrote into the repository root: {created}"


@pytest.mark.parametrize("block", CONSOLE, ids=_ids(CONSOLE))
def test_console_blocks_print_what_the_docs_show(block):
    _require_data(block)
    start = time.perf_counter()
    outcome = docs.check_console(block)
    seconds = time.perf_counter() - start
    assert outcome.ok, "\n".join(outcome.messages)
    assert seconds < QUICK_SECONDS, (
        f"{block.where} took {seconds:.0f} s: mark it <!-- docs: slow (reason) --> and "
        "register a smaller check in SLOW_CHECKS"
    )


_DOTTED = re.compile(r"\binitlab(?:\.[A-Za-z_]\w*)+")


def resolve(dotted: str):
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_initlab_path_in_the_docs_exists(path):
    text = path.read_text(encoding="utf-8")
    names = sorted(set(_DOTTED.findall(text)) - {"initlab.torch"})  # torch: tested above
    stale = []
    for name in names:
        try:
            resolve(name)
        except (ImportError, AttributeError) as exc:
            stale.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not stale, f"{path.name} names what does not exist:\n" + "\n".join(stale)


def _called(message: str) -> list[str]:
    """The dotted ``initlab.`` names a message tells the user to call: ``name(``."""
    return re.findall(r"\b(initlab(?:\.\w+)+)\(", message)


def test_lsuv_messages_name_importable_callables():
    """The error of get_initializer("lsuv") and the footer of `initlab inits` tell the user
    what to call instead: every such name must be an importable callable."""
    import initlab
    from initlab.cli.inits import catalogue_lines

    with pytest.raises(initlab.InitlabError) as err:
        initlab.get_initializer("lsuv")
    for message in (str(err.value), "\n".join(catalogue_lines())):
        names = _called(message.replace("\n", " "))
        assert len(names) >= 2, f"no initlab callable named in: {message!r}"
        for name in names:
            assert callable(resolve(name)), f"{name} in {message!r} is not callable"
    assert resolve("initlab.init.lsuv.lsuv_network").__name__ == "lsuv_network"
