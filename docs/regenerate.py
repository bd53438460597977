r"""Run the documentation's examples, check or rewrite what they print.

``python docs/regenerate.py`` runs every example of README.md and docs/*.md that prints
something (``$ initlab ...`` console blocks and ``python`` blocks followed by their output)
and rewrites each printed output in place with what this machine prints now;
``--check`` only compares and exits 1 on a difference; ``--only TEXT`` keeps the blocks
whose command or code contains TEXT; ``--skip-slow`` leaves out blocks marked ``slow``.
It is the one script that regenerates every number the docs quote from a command.
``tests/test_docs.py`` uses the same functions (it loads this file) to run the quick
examples in the test suite. The conventions, which both follow:

**Blocks.** A fenced block's info string is its language. ``python`` blocks run in order,
one namespace per file, with the repository root as working directory. A ``python`` block
followed (with nothing but blank lines between) by a fence without a language is that
code's printed output. A block whose first line starts with ``$ `` (info string
``console`` or none) is a console example: each ``$ `` line is a command (``initlab ...``
or ``python ...``) and the lines below it, up to the next ``$ ``, are what it prints
(stdout and stderr together). Console examples run in a scratch directory that links every
top-level entry of the repository (so ``examples/...`` resolves and ``--out DIR`` writes
nowhere in the clone) beside a link ``../shared`` to the shared datasets, with an empty
data cache (``INITLAB_DATA``), one after another, so a command can read what the one
before it wrote. ``bash``/``sh`` blocks are instructions (installing, CI) and never run.

**Markers.** An HTML comment on the line before a fence changes how it is treated:

- ``<!-- docs: no-run (reason) -->``: partial or illustrative; nothing runs it. The
  reason is required. Keep these rare.
- ``<!-- docs: slow (reason) -->``: a console example too slow for the test suite: this
  script runs it (and rewrites it); the test suite runs the smaller check registered for
  it in ``tests/test_docs.py`` (``SLOW_CHECKS``), and fails for a slow block without one.
- ``<!-- docs: chaotic (reason) -->``: a console example whose digits depend on chaotic
  trajectories (they differ between CPUs): this script rewrites it with this machine's
  output; the test suite checks what it must hold, statistically, with the check
  registered for it (``SLOW_CHECKS``), never its digits.
- ``<!-- docs: needs-data (reason) -->``: as no marker, but the test skips it when
  ``../shared/datasets`` is absent.

**Comparison** (:func:`normalize`, :func:`matches`): trailing spaces and trailing blank
lines are dropped; durations (a number followed by `` s``, e.g. ``0.83 s of training``)
are masked, as are the scratch directory's path (shown as ``/…``) and progress lines
(``..., 0:00:03 elapsed``); a line ``...`` in the docs stands for any number of lines.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import io
import linecache
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MARKERS = ("no-run", "slow", "chaotic", "needs-data")
_FENCE = re.compile(r"^ {0,3}(`{3,})\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*docs:\s*([\w-]+)\s*(?:\((.*)\))?\s*-->\s*$")
_DURATION = re.compile(r"\b\d+(?:\.\d+)? s\b")
_PROGRESS = re.compile(r", \d+:\d\d:\d\d elapsed$")


@dataclass
class Block:
    """One fenced block of a Markdown file (lines are 0-based indices into the file)."""

    path: Path
    start: int  # the opening fence
    end: int  # the closing fence
    lang: str
    lines: list[str]
    marker: str | None = None
    reason: str | None = None
    output: Block | None = None  # a python block's printed output
    is_output: bool = False

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.start + 1}"

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def is_console(self) -> bool:
        first = next((x for x in self.lines if x.strip()), "")
        return self.lang in ("", "console") and first.startswith("$ ") and not self.is_output

    @property
    def commands(self) -> list[tuple[str, list[str]]]:
        """``(command, expected output lines)`` of a console block."""
        out: list[tuple[str, list[str]]] = []
        for line in self.lines:
            if line.startswith("$ "):
                out.append((line[2:].strip(), []))
            elif out:
                out[-1][1].append(line)
        return out


def markdown_files() -> list[Path]:
    """README.md and docs/*.md, the documentation the tests run."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def parse(path: Path) -> list[Block]:
    """Every fenced block of `path`, with its marker and, for python blocks, its output."""
    text = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(text):
        m = _FENCE.match(text[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(text) and not text[j].lstrip().startswith(fence):
            j += 1
        block = Block(path, i, j, lang, text[i + 1 : j])
        k = i - 1
        while k >= 0 and not text[k].strip():
            k -= 1
        marker = _MARKER.match(text[k].strip()) if k >= 0 else None
        if marker:
            block.marker, block.reason = marker.group(1), (marker.group(2) or "").strip()
        prev = blocks[-1] if blocks else None
        if (
            prev is not None
            and prev.lang == "python"
            and lang == ""
            and all(not x.strip() for x in text[prev.end + 1 : i])
        ):
            prev.output, block.is_output = block, True
        blocks.append(block)
        i = j + 1
    return blocks


def marker_errors(block: Block) -> list[str]:
    """What is wrong with a block's marker (unknown kind, missing reason), or nothing."""
    if block.marker is None:
        return []
    if block.marker not in MARKERS:
        return [f"{block.where}: unknown marker {block.marker!r}; valid: {', '.join(MARKERS)}"]
    if not block.reason:
        return [f"{block.where}: marker {block.marker!r} needs a reason: (why)"]
    return []


def normalize(text: str) -> str:
    """Text as compared: durations masked, no progress lines, no trailing spaces or
    trailing blank lines."""
    lines = [
        _DURATION.sub("<t> s", line.rstrip())
        for line in text.splitlines()
        if not _PROGRESS.search(line.rstrip())
    ]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def matches(expected: str, actual: str) -> bool:
    """`actual` equals `expected` (both normalized), where a line ``...`` of `expected`
    stands for any number of lines."""
    parts = [
        r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n"
        for line in expected.splitlines()
    ]
    return re.fullmatch("".join(parts), actual + "\n" if actual else "") is not None


def difference(expected: str, actual: str) -> str:
    """A unified diff, docs (-) against this run (+)."""
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "docs", "this run", lineterm="", n=1
    )
    return "\n".join(lines)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A working directory that links the repository's top-level entries, beside
    ``../shared``; nothing a command writes there lands in the clone."""
    with tempfile.TemporaryDirectory(prefix="initlab-docs-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        for entry in REPO.iterdir():
            if entry.name != ".git":
                (work / entry.name).symlink_to(entry)
        if SHARED.is_dir():
            (Path(tmp) / "shared").symlink_to(SHARED)
        (Path(tmp) / "cache").mkdir()
        yield work


def command_argv(command: str) -> list[str]:
    """The argv of a documented command: ``initlab`` is ``python -m initlab`` and
    ``python`` this interpreter, so the sources under test are the ones run."""
    argv = shlex.split(command)
    if argv[0] == "initlab":
        return [sys.executable, "-m", "initlab", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    raise ValueError(f"documented command {command!r}: only initlab and python commands run")


COMMAND_TIMEOUT = 1800.0
"""Seconds a documented command may run before it counts as hung (tests/test_docs.py lowers it)."""


def run_command(command: str, work: Path, timeout: float | None = None) -> str:
    """What `command` prints (stdout and stderr, merged), run in `work`."""
    env = dict(os.environ, INITLAB_DATA=str(work.parent / "cache"), COLUMNS="200")
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        command_argv(command),
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT if timeout is None else timeout,
    )
    return done.stdout


def run_python(code: str, namespace: dict, where: str) -> str:
    """Execute `code` in `namespace` (cwd: the repository root); what it printed."""
    buffer = io.StringIO()
    linecache.cache[where] = (len(code), None, code.splitlines(True), where)
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, where, "exec"), namespace)
    finally:
        os.chdir(cwd)
    return buffer.getvalue()


@dataclass
class Outcome:
    block: Block
    ok: bool
    new_lines: list[str] | None = None  # what the block would read, regenerated
    messages: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=64)
def run_block(commands: tuple[str, ...]) -> tuple[str, ...]:
    """What each command prints, run in order in one fresh scratch directory (paths under
    it shown as ``/…``). Cached: the same commands print the same."""
    outputs = []
    with scratch_dir() as work:
        for command in commands:
            printed = run_command(command, work).replace(str(work), "/…")
            outputs.append(printed.replace(f"{SHARED.parent}/", "/…/"))
    return tuple(outputs)


def check_console(block: Block) -> Outcome:
    """Run a console block's commands; compare each output with the documented one."""
    outcome, new = Outcome(block, True), []
    printed = run_block(tuple(command for command, _ in block.commands))
    for (command, expected), actual in zip(block.commands, printed, strict=True):
        kept = [x for x in actual.rstrip("\n").splitlines() if not _PROGRESS.search(x.rstrip())]
        new += [f"$ {command}", *kept]
        shown, docs = normalize(actual), normalize("\n".join(expected))
        if not matches(docs, shown):
            outcome.ok = False
            diff = difference(docs, shown)
            outcome.messages.append(f"{block.where}: `{command}` printed otherwise:\n{diff}")
    if "..." not in block.lines:
        outcome.new_lines = new
    return outcome


def _rewrite(path: Path, outcomes: list[Outcome]) -> None:
    """Replace each differing block's lines, found again by its content (the file may have
    been edited while the examples ran)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    current = {tuple(b.lines): b for b in parse(path)}
    for o in outcomes:
        block = current.get(tuple(o.block.lines))
        if o.new_lines is not None and not o.ok and block is not None:
            o.block.start, o.block.end = block.start, block.end
    for o in sorted(outcomes, key=lambda o: -o.block.start):
        if o.new_lines is not None and not o.ok and tuple(o.block.lines) in current:
            lines[o.block.start + 1 : o.block.end] = o.new_lines
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _selected(block: Block, only: str | None, skip_slow: bool) -> bool:
    if block.marker == "no-run" or (skip_slow and block.marker in ("slow", "chaotic")):
        return False
    return only is None or only in block.text


def regenerate(path: Path, *, write: bool, only: str | None, skip_slow: bool) -> int:
    """Run `path`'s examples; rewrite (or, without `write`, only report) their output.
    Returns the number of examples whose output differed."""
    outcomes, namespace = [], {"__name__": "__docs__"}
    for block in parse(path):
        if block.lang == "python" and block.marker != "no-run":
            printed = run_python(block.text, namespace, block.where)
            if block.output is not None and _selected(block, only, skip_slow):
                docs, shown = normalize(block.output.text), normalize(printed)
                o = Outcome(block.output, matches(docs, shown), printed.rstrip("\n").splitlines())
                if "..." in block.output.lines:
                    o.new_lines = None
                o.messages.append(f"{block.where} printed otherwise:\n{difference(docs, shown)}")
                outcomes.append(o)
        elif block.is_console and _selected(block, only, skip_slow):
            print(f"running {block.where}", file=sys.stderr, flush=True)
            outcomes.append(check_console(block))
    bad = [o for o in outcomes if not o.ok]
    for o in bad:
        kept = "" if o.new_lines is not None else " (has '...': edit it by hand)"
        print(f"DIFFERS{kept}: " + "\n".join(o.messages), file=sys.stderr)
    if write:
        _rewrite(path, outcomes)
    return len(bad)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a diff")
    parser.add_argument("--only", metavar="TEXT", help="only blocks whose text contains TEXT")
    parser.add_argument("--skip-slow", action="store_true", help="leave out slow blocks")
    args = parser.parse_args(argv)
    differ = sum(
        regenerate(p, write=not args.check, only=args.only, skip_slow=args.skip_slow)
        for p in markdown_files()
    )
    print(f"{differ} example(s) printed something else than the docs show", file=sys.stderr)
    return 1 if differ and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
