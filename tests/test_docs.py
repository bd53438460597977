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

import argparse
import contextlib
import functools
import importlib.util
import io
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from initlab.studies import trainability

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("initlab_docs", REPO / "docs" / "regenerate.py")
docs = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = docs
_spec.loader.exec_module(docs)

QUICK_SECONDS = 60.0
"""A console example that runs longer than this (on a busy 2-core machine) must be marked
slow, with a smaller check in SLOW_CHECKS."""
docs.COMMAND_TIMEOUT = 600.0  # a hung documented command fails its test in 10 minutes

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


def _python_blocks(path: Path) -> list:
    return [b for b in docs.parse(path) if b.lang == "python" and b.marker != "no-run"]


WITH_PYTHON = [p for p in FILES if _python_blocks(p)]


@pytest.mark.parametrize("path", WITH_PYTHON, ids=[p.name for p in WITH_PYTHON])
def test_python_blocks_run(path):
    """Every python block of a file, in order, in one namespace; printed output compared."""
    blocks = _python_blocks(path)
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


_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc):`~?(initlab(?:\.\w+)+)`")


def _resolves(dotted: str) -> bool:
    """`dotted` names an object, or a dataclass field of the class before its last part."""
    try:
        resolve(dotted)
        return True
    except (ImportError, AttributeError):
        head, _, last = dotted.rpartition(".")
        try:
            return last in getattr(resolve(head), "__dataclass_fields__", {})
        except (ImportError, AttributeError):
            return False


def test_every_initlab_reference_in_the_docstrings_exists():
    """Sphinx roles in the sources (``:func:`initlab....```) name what exists."""
    stale = [
        f"{path.relative_to(REPO)}: {m.group(1)}"
        for path in sorted((REPO / "src" / "initlab").rglob("*.py"))
        for m in _ROLE.finditer(path.read_text(encoding="utf-8"))
        if not _resolves(m.group(1))
    ]
    assert not stale, "docstrings name what does not exist:\n" + "\n".join(stale)


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


# --- slow and chaotic examples: each has a smaller check, registered below -------------------
#
# A check gets the block and raises AssertionError when the docs are wrong. It reruns a
# representative part of the example: deterministic cells must equal the docs' digits;
# cells from chaotic runs are held to the docs' numbers as distributions (Welch's t test at
# ALPHA, two-sided), which passes on any CPU when the docs are right and fails when a quoted
# mean is off by several of its standard errors.

ALPHA = 1e-3
RESOLUTION = 0.01
"""Standard deviation floor of one draw (an accuracy on a few hundred examples, printed to
two digits): cells whose draws all agree are compared within this, not to zero width."""


def _fields(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _table(text: str, after: str | None = None, n_key: int = 2) -> dict[tuple, list[str]]:
    """Rows of a plain-text table (columns separated by 2+ spaces), keyed by their first
    `n_key` fields; with `after`, only the table below the first line starting with it."""
    lines = text.splitlines()
    if after is not None:
        start = next(i for i, x in enumerate(lines) if x.startswith(after)) + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        lines = lines[start:]
        lines = lines[: next((i for i, x in enumerate(lines) if not x.strip()), len(lines))]
    rows = {}
    for line in lines:
        f = _fields(line)
        if len(f) >= 3 and not f[0].startswith("-"):
            rows.setdefault(tuple(f[:n_key]), f)
    return rows


def _run(*commands: str) -> list[str]:
    return [docs.normalize(x) for x in docs.run_block(tuple(commands))]


def _same_cells(doc: str, sub: str, n_values: int, after: str | None = None, n_key: int = 2):
    """Every row of `sub`'s table has, in the docs' table, a row with the same key whose
    first `n_values` values are the same strings."""
    want, got = _table(doc, after, n_key), _table(sub, after, n_key)
    compared = 0
    for key, row in got.items():
        if key[0] in ("layer", "parametrization", "weights", "D"):
            continue  # a header
        assert key in want, f"row {key} of this run is not in the docs"
        a, b = want[key][n_key : n_key + n_values], row[n_key : n_key + n_values]
        assert a == b, f"row {key}: docs {a}, this run {b}"
        compared += 1
    assert compared >= 2, f"too few rows compared ({compared}) between\n{doc}\nand\n{sub}"


def _welch(doc_mean, doc_sd, n_doc, values, what):
    """The docs' mean (sd over n_doc draws) and this run's draws come from one distribution:
    Welch's t test, two-sided, at ALPHA."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    s1 = max(doc_sd, RESOLUTION) ** 2 / n_doc
    s2 = max(values.std(ddof=1), RESOLUTION) ** 2 / n
    df = (s1 + s2) ** 2 / (s1**2 / (n_doc - 1) + s2**2 / (n - 1))
    t = (doc_mean - values.mean()) / math.sqrt(s1 + s2)
    p = 2 * stats.t.sf(abs(t), df)
    assert p > ALPHA, (
        f"{what}: docs {doc_mean:.4g} (sd {doc_sd:.3g}, n {n_doc}) vs this run "
        f"{values.mean():.4g} (sd {values.std(ddof=1):.3g}, n {n}): p = {p:.2g}"
    )


def _sd_from_half(half: float, n: int) -> float:
    """The sd over n draws behind a printed 95% t half-width."""
    return half * math.sqrt(n) / stats.t.ppf(0.975, n - 1)


def check_jacobian(block):
    command = block.commands[0][0].replace("--out", "--depths 1 4 --out")
    _same_cells(block.text, _run(command)[0], n_values=7)


def check_deep_linear(block):
    command = block.commands[0][0].replace("--out", "--train-depths 2 4 8 --out")
    _same_cells(block.text, _run(command)[0], n_values=2, n_key=1)


def check_coord_check(block):
    command = block.commands[0][0].replace(
        "--widths 64 128 256 512 1024 2048 4096", "--widths 64 128"
    )
    _same_cells(block.text, _run(command)[0], n_values=2, after="mup: mean")


def check_lr_transfer(block):
    command = block.commands[0][0].replace("--widths 64 128 256 512 1024", "--widths 64 128")
    _same_cells(block.text, _run(command)[0], n_values=2, n_key=1)


def check_kernels(block):
    """The analytic tables (the kernels' predictions on the digits, the condition numbers
    through depth) do not depend on the finite networks: a run with two NTK widths and one
    small trained width prints the docs' rows."""
    command = block.commands[0][0].replace(
        "--out", "--ntk-widths 64 128 --train-widths 256 --steps 20 --out"
    )
    sub = _run(command)[0]
    _same_cells(block.text, sub, n_values=2, after="          predictor", n_key=1)
    _same_cells(block.text, sub, n_values=8, after="   phase", n_key=1)


@functools.lru_cache(maxsize=4)
def _trainability_draws(command: str) -> tuple[list[float], np.ndarray]:
    """Run `command` (one block's subset); its sigma_w^2 and accuracies (depths, w2, draws)."""
    with docs.scratch_dir() as work:
        docs.run_command(command, work)
        data = trainability.read(work / "trainmap")
    return list(data["config"]["sigma_w2"]), np.asarray(data["test_accuracy"], dtype=float)


def check_trainability(block):
    """Depth 8 at three sigma_w^2 (ordered: near the boundary; critical; chaotic), 4 draws:
    each cell's mean held to the docs' by Welch's t, the docs' sd read from its +- table."""
    command = block.commands[0][0].replace(
        "--seeds", "--train-depths 8 --sigma-w2-grid 0.5 1.75 6 --seeds"
    )
    n_doc = int(re.search(r"(\d+) draw\(s\) per cell", block.text).group(1))
    means = _table(block.text, after="test accuracy after training", n_key=1)[("8",)]
    halves = _table(block.text, after="+- half-width", n_key=1)[("8",)]
    header = _fields(next(x for x in block.lines if x.lstrip().startswith("L \\")))
    sigma_w2, acc = _trainability_draws(command)
    for i, w2 in enumerate(sigma_w2):
        col = header.index(f"{w2:g}") - 1
        mean, half = float(means[col + 1]), float(halves[col + 1])
        _welch(mean, _sd_from_half(half, n_doc), n_doc, acc[0, i], f"depth 8, sigma_w^2 {w2:g}")


def _rich_rows(text: str) -> dict[str, list[str]]:
    """Rows of a rich table (cells between │), keyed by the joined leading cells."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows.setdefault(cells[0], cells)
    return rows


def _mean_half(cell: str) -> tuple[float, float]:
    """``0.1113 ±0.0208`` or ``99.6% [98.9%, 100.0%]`` -> (mean, 95% half-width); a clipped
    interval gives the half-width of its unclipped side."""
    nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", cell)]
    if "±" in cell:
        return nums[0], nums[1]
    return nums[0], max(nums[0] - nums[1], nums[2] - nums[0])


def _run_spec(spec_text: str, *command: str) -> tuple[list[str], Path]:
    """Write a spec into a scratch directory, run `command` there (``{spec}`` is its path)."""
    with docs.scratch_dir() as work:
        (work / "spec.toml").write_text(spec_text)
        out = [docs.run_command(c.format(spec="spec.toml"), work) for c in command]
        results = {p.name: p.read_bytes() for p in work.glob("out/*.json")}
    return out, results


def check_digits_seeds(block):
    """Zeros is deterministic: its row to the digit. Random x 10 is chaotic at lr 0.5: its
    mean over 4 fresh seeds held to the docs' mean +- interval (10 seeds) by Welch's t."""
    spec = (REPO / "examples" / "digits-seeds.toml").read_text()
    spec = spec[: spec.index('name = "xavier (post)"')].rsplit("[[runs]]", 1)[0]
    spec = spec.replace("seeds = 10", "seeds = 4\ndiagnostics = false")
    printed, files = _run_spec(spec, "initlab run {spec} --out out")
    want, got = _rich_rows(block.text), _rich_rows(printed[0])
    assert want["zeros"][3:6] == got["zeros"][3:6], (want["zeros"], got["zeros"])
    n_doc = int(re.search(r"N=(\d+)", want["random x 10"][2]).group(1))
    runs = [r for r in json.loads(files["results.json"])["runs"] if r["name"] == "random x 10"]
    assert len(runs) == 4
    columns = ((3, "final_cost", 1), (4, "train_accuracy", 100), (5, "test_accuracy", 100))
    for col, key, scale in columns:
        mean, half = _mean_half(want["random x 10"][col])
        values = [scale * r[key] for r in runs]
        _welch(mean, _sd_from_half(half, n_doc), n_doc, values, f"random x 10, {key}")


def _sweep_spec(hidden: list[int], runs: list[tuple[str, str, float]]) -> str:
    lines = [
        "[data]",
        'train = "../shared/datasets/cats-vs-dogs"',
        "[model]",
        f"hidden = {hidden}",
        "[training]",
        'iterations = 1000\nseed = 0\nseeds = 5\nstream = "default"\ndiagnostics = false',
    ]
    for init, activation, lr in runs:
        lines += ["[[runs]]", f'name = "{init} {activation} {lr:g}"', f'init = "{init}"']
        lines += [f'activation = "{activation}"', f"learning_rate = {lr}"]
    return "\n".join(lines) + "\n"


def check_sweep(block):
    """The sweep's rows shown (mean over 5 seeds of chaotic He/Xavier runs on the post's
    images) retrained as runs over the same seeds: each row's mean final cost and training
    accuracy held to the docs' by Welch's t."""
    rows = [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in block.lines
        if line.startswith("│") and line.strip().strip("│").split("│")[0].strip()
    ]
    assert rows, f"{block.where}: no table rows"
    for hidden in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == hidden]
        spec = _sweep_spec(json.loads(hidden), [(r[2], r[1], float(r[3])) for r in mine])
        _, files = _run_spec(spec, "initlab run {spec} --out out")
        runs = json.loads(files["results.json"])["runs"]
        for r in mine:
            name, n = f"{r[2]} {r[1]} {float(r[3]):g}", int(r[4])
            got = [x for x in runs if x["name"] == name]
            assert len(got) == n, (name, len(got))
            for cell, key, scale in ((r[6], "final_cost", 1), (r[7], "train_accuracy", 100)):
                mean, half = _mean_half(cell)
                values = [scale * x[key] for x in got]
                _welch(mean, _sd_from_half(half, n), n, values, f"sweep row {name}, {key}")


def _rich_cells(lines: list[str]) -> list[list[str]]:
    """Rows of a rich table, a wrapped cell's lines joined."""
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if cells[0] or not rows:
                rows.append(cells)
            else:
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def check_mup_sweep(block):
    """muP's width-512 row at learning rate 0.3 (2 seeds) retrained as a run: its mean final
    cost and accuracies held to the docs' by Welch's t."""
    rows = [r for r in _rich_cells(block.lines) if r[:2] == ["mup", "[512, 512]"] and r[4] == "0.3"]
    assert len(rows) == 1, rows
    spec = (REPO / "examples" / "mup-sweep.toml").read_text().split("[axes]")[0]
    for r in rows:
        text = spec.replace("hidden = [64, 64]", "hidden = [512, 512]")
        text = text.replace("[model]\n", f'[model]\nparametrization = "{r[0]}"\n')
        text = text.replace(
            "seed = 0", "seed = 0\nseeds = 2\nlearning_rate = 0.3\ndiagnostics = false"
        )
        _, files = _run_spec(
            text + '[[runs]]\nname = "he"\ninit = "he"\n', "initlab run {spec} --out out"
        )
        got = json.loads(files["results.json"])["runs"]
        n = int(r[5])
        assert len(got) == n
        columns = ((7, "final_cost", 1), (8, "train_accuracy", 100), (9, "test_accuracy", 100))
        for col, key, scale in columns:
            mean, half = _mean_half(r[col])
            values = [scale * x[key] for x in got]
            _welch(mean, _sd_from_half(half, n), n, values, f"{r[0]} width 512 lr 0.3, {key}")


def check_torch_digits(block):
    """The example's He run (100 SGD steps of a small CNN, float32), trained again without
    drawing the report: its printed line to the digits shown."""
    spec = importlib.util.spec_from_file_location(
        "torch_digits", REPO / "examples" / "torch_digits.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    args = argparse.Namespace(steps=100, batch=128, lr=0.05, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        rec = example.train_one(example.RUNS["he"], "he", example.load(args.seed), args)
    acc = f"train accuracy {rec['train_accuracy']:.1%}, held out {rec['test_accuracy']:.1%}"
    line = f"{rec['name']:>20}: final train cost {rec['final_cost']:.4f}, {acc}"
    assert line in block.lines, f"{block.where}: this run printed {line!r}"


def check_gpt_mup(block):
    """The example's SP coordinate check in its --quick form (widths 32 and 64, one step):
    every module the docs list as growing with width under SP after step 1 grows here too
    (positive slope), and SP's check fails, as the docs' full ladder says."""
    doc_sp = block.text.split("== mup ==")[0]
    line = next(x for x in doc_sp.splitlines() if x.startswith("size after training"))
    growing = re.findall(r"([\w.]+) grows \(step 1", line)
    assert growing and "FAIL" in doc_sp, f"{block.where}: no SP verdict to hold"
    printed = _run("python examples/gpt_mup.py --quick --out quick")[0]
    sp = printed.split("== mup ==")[0]
    assert "FAIL: a layer grows or vanishes with the width" in sp
    rows = {
        f[0]: float(f[-2])
        for f in (x.split() for x in sp.splitlines())
        if len(f) >= 6 and f[1] == "1" and f[0] in growing
    }
    assert set(rows) == set(growing), f"{block.where}: quick run lacks rows {growing}"
    assert all(slope > 0 for slope in rows.values()), rows


def _fraction_cell(cell: str) -> int:
    """``69% [41, 89]`` or ``94%`` -> 69 or 94."""
    return int(cell.split("%")[0])


def check_reproduce(block):
    """The post's reproduce printout: every line without a chaotic digit (elided as ``…``)
    to the character, the verdict lines included; He's and Xavier's rows of the verdict
    table (over 16 replicas, chaotic) held to the docs' counts by Fisher's exact test at
    1e-3; a chaotic note printed for each of them."""
    import scipy.stats

    if not (REPO.parent / "shared" / "datasets" / "cats-vs-dogs").is_dir():
        pytest.skip(NEEDS_DATA_REASON)
    command, expected = block.commands[0]
    printed = _run(command)[0].splitlines()
    chaotic_rows = ("│ he ", "│ xavier ")
    for line in (docs.normalize(x) for x in expected):
        if "…" not in line and not line.startswith(chaotic_rows):
            assert line in printed, f"{block.where}: not printed: {line!r}"
    n = 16
    doc_rows = [
        x.split("│") for x in expected if x.startswith(chaotic_rows) and "replicas" not in x
    ]
    got_rows = [x.split("│") for x in printed if x.startswith(chaotic_rows)]
    doc_rows = [r for r in doc_rows if len(r) == 9]  # the verdict table's rows (7 cells)
    got_rows = [r for r in got_rows if len(r) == 9]
    assert len(doc_rows) == len(got_rows) == 2, (doc_rows, got_rows)
    for doc, got in zip(doc_rows, got_rows, strict=True):
        for col in (5, 6):  # >= 90%, >= 99%
            a = round(_fraction_cell(doc[col].strip()) * n / 100)
            b = round(_fraction_cell(got[col].strip()) * n / 100)
            p = scipy.stats.fisher_exact([[a, n - a], [b, n - b]]).pvalue
            assert p > 1e-3, f"{block.where}: {doc[1].strip()} {a}/{n} in the docs, {b}/{n} here"
    for init in ("he", "xavier"):
        assert any(x.startswith(f"{init}: chaotic at lr 0.01") for x in printed), init


SLOW_CHECKS = {
    "theory jacobian": check_jacobian,
    "theory deep-linear": check_deep_linear,
    "theory trainability": check_trainability,
    "theory kernels": check_kernels,
    "scaling coord-check": check_coord_check,
    "scaling lr-transfer": check_lr_transfer,
    "examples/digits-seeds.toml": check_digits_seeds,
    "initlab sweep examples/sweep.toml": check_sweep,
    "initlab sweep examples/mup-sweep.toml": check_mup_sweep,
    "examples/torch_digits.py": check_torch_digits,
    "examples/gpt_mup.py": check_gpt_mup,
    "initlab reproduce --data ../shared/datasets/cats-vs-dogs": check_reproduce,
}
"""A substring of a slow or chaotic block's first command -> its check."""


def _check_for(block):
    command = block.commands[0][0] if block.is_console else ""
    return next((f for key, f in SLOW_CHECKS.items() if key in command), None)


def test_every_slow_or_chaotic_block_has_a_check():
    missing = [b.where for b in SLOW if _check_for(b) is None]
    assert not missing, f"slow/chaotic blocks without a check in SLOW_CHECKS: {missing}"


@pytest.mark.parametrize("block", SLOW, ids=_ids(SLOW))
def test_slow_and_chaotic_blocks_hold(block):
    _require_data(block)
    check = _check_for(block)
    if check is None:
        pytest.fail(f"{block.where}: no check registered in SLOW_CHECKS")
    check(block)
