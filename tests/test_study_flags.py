"""Every study command's ``--out``, ``--jobs``, ``--scheduler`` and ``--write-spec`` mean the
same thing (issue 23, item 1): one table of (command x flag) behaviours.

- ``--write-spec FILE``: writes the spec, whose ``[study] kind`` is the command's name,
  computes nothing, and is refused beside ``--out``, ``--jobs`` or ``--scheduler``;
- without ``--out``: the study is computed (a temporary store) and printed, nothing is
  written and nothing is left behind;
- ``--out DIR``: the cells are stored in ``DIR/sweep.sqlite`` under the command's kind;
- ``--jobs`` unset is the studies' default; ``--jobs 0`` and a malformed ``--scheduler``
  are refused in one line; the help of each option is the one shared text.
"""

from __future__ import annotations

import tempfile
import tomllib

import pytest

from bad_input import files, refused
from initlab.cli import _checks, _studies, build_parser, main, sweep
from initlab.cli._theory_grammar import complete
from initlab.execution import study as S
from initlab.results.sweep_store import open_store
from initlab.studies import specs

COMMANDS = {
    "trainability": ["theory", "trainability", "--train-depths", "2", "--sigma-w2-grid", "1",
                     "--width", "8", "--steps", "5", "--seeds", "1", "-q"],
    "deep-linear": ["theory", "deep-linear", "--train-depths", "2", "--width", "6", "--steps",
                    "10", "--seeds", "1", "--rates", "0.1", "-q"],
    "correlation": ["theory", "correlation", "--depth", "3", "--width", "20", "--members", "2"],
    "jacobian": ["theory", "jacobian", "--depths", "1", "2", "--width", "10", "--members", "1",
                 "-q"],
    "kernels": ["theory", "kernels", "--hidden-layers", "1", "--width", "8", "--train-examples",
                "8", "--ntk-widths", "8", "16", "--members", "2", "--train-widths", "16",
                "--steps", "5", "--max-depth", "2", "-q"],
    "lr-transfer": ["scaling", "lr-transfer", "--widths", "8", "16", "--log2-lrs", "-5", "-5",
                    "--steps", "1", "--examples", "8", "--batch-size", "8",
                    "--parametrizations", "sp", "-q"],
    "coord-check": ["scaling", "coord-check", "--widths", "8", "16", "--seeds", "1", "--steps",
                    "1", "--examples", "8", "--parametrizations", "sp", "-q"],
}  # fmt: skip
"""Each study command, on a configuration of a second or so: its name is its study's kind."""


def _write_spec(argv, name, capsys, tmp_path, monkeypatch):
    assert main([*argv, "--write-spec", "s.toml"]) == 0
    assert capsys.readouterr().out.startswith("wrote s.toml: run it with `initlab sweep")
    assert files(tmp_path) == {tmp_path / "s.toml"}  # nothing computed, nothing else written
    spec = tomllib.loads((tmp_path / "s.toml").read_text())
    assert spec["study"]["kind"] == name and set(spec) == {"study", name}
    for flag, value in (("--out", "o"), ("--jobs", "2"), ("--scheduler", "tcp://h:1")):
        refused([*argv, "--write-spec", "t.toml", flag, value], capsys, tmp_path, f"drop {flag}")


def _no_out(argv, name, capsys, tmp_path, monkeypatch):
    """Printed, nothing written, the temporary store removed; a study of seconds (each of
    these) computed in this process by default."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    jobs, real = [], S.execute
    monkeypatch.setattr(S, "execute", lambda plan, **k: jobs.append(k["jobs"]) or real(plan, **k))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) >= 3 and "wrote" not in out
    assert files(tmp_path) == {scratch}
    assert jobs == [None if name == "kernels" else 1]  # kernels: no estimate, one per core


def _out(argv, name, capsys, tmp_path, monkeypatch):
    assert main([*argv, "--out", "o"]) == 0
    assert "wrote" in capsys.readouterr().out
    with open_store(tmp_path / "o", readonly=True) as s:
        assert {c["study"] for c in s.cells()} == {name}
        assert {c["status"] for c in s.cells()} == {"done"}


def _refusals(argv, name, capsys, tmp_path, monkeypatch):
    refused([*argv, "--jobs", "0"], capsys, tmp_path, "--jobs must be >= 1; got 0")
    refused([*argv, "--scheduler", "nohost"], capsys, tmp_path, "--scheduler 'nohost'")


def _defaults_and_help(argv, name, capsys, tmp_path, monkeypatch):
    args = build_parser().parse_args(argv)
    assert args.jobs is None and args.scheduler is None and args.out is None
    with pytest.raises(SystemExit):
        main([*argv[:2], "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for key in ("out", "jobs", "scheduler", "write_spec"):
        assert " ".join(_studies.HELP[key].split()) in text, (key, text)


BEHAVIOURS = {
    "write-spec": _write_spec,
    "no-out": _no_out,
    "out": _out,
    "refusals": _refusals,
    "defaults-help": _defaults_and_help,
}


@pytest.mark.parametrize("flag", BEHAVIOURS)
@pytest.mark.parametrize("name", COMMANDS)
def test_each_study_command_treats_the_shared_flags_alike(name, flag, capsys, tmp_path,
                                                          monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    BEHAVIOURS[flag](COMMANDS[name], name, capsys, tmp_path, monkeypatch)


def test_every_kind_is_a_command_and_initlab_sweep_prints_its_lines():
    """One name per concept: the spec kinds are the commands' names, and ``initlab sweep``
    has each kind's printer."""
    assert set(specs.KINDS) == set(COMMANDS)
    for kind in specs.KINDS:
        assert callable(sweep.outputs(kind))


def test_jobs_defaults_to_this_process_for_a_study_of_seconds_else_one_per_core():
    """The default of ``--jobs`` by each study's estimated work: ``theory correlation``'s and
    ``jacobian``'s defaults in this process, ``trainability``'s and ``scaling
    lr-transfer``'s one process per core (as measured faster: BENCHMARKS.md)."""
    flops = {kind: _checks.theory_cost(complete(build_parser().parse_args(["theory", kind])),
                                       kind).flops for kind in ("correlation", "jacobian",
                                                                "trainability")}  # fmt: skip
    assert _studies.default_jobs(None, flops["correlation"]) == 1
    assert _studies.default_jobs(None, flops["jacobian"]) == 1
    assert _studies.default_jobs(None, flops["trainability"]) is None
    assert _studies.default_jobs(3, flops["correlation"]) == 3
    lr = build_parser().parse_args(["scaling", "lr-transfer", "--base-width", "64"])
    assert _studies.default_jobs(None, _checks.scaling_cost(lr, True).flops) is None


@pytest.mark.parametrize("argv", [
    ["theory", "trainability", "--width", "48", "--steps", "70"],
    ["theory", "deep-linear", "--width", "20", "--seeds", "3"],
    ["theory", "correlation", "--width", "300", "--depth", "7"],
    ["theory", "jacobian", "--width", "50", "--depths", "2", "9"],
    ["scaling", "coord-check", "--base-width", "16", "--residual", "--branch-layers", "2"],
    ["scaling", "lr-transfer", "--base-width", "16", "--log2-lrs", "-6", "-4", "--seeds", "2",
     "--examples", "100"],
], ids=lambda a: a[1])  # fmt: skip
def test_a_written_spec_gets_the_memory_and_work_estimate_of_its_command(argv, tmp_path):
    """Review P1: ``initlab sweep SPEC`` bounds a study by the estimate its command uses
    (:func:`initlab.cli._checks.study_cost` from the spec's table, equal to the one from
    the command's options), so neither lets through what the other refuses."""
    path = tmp_path / "s.toml"
    assert main([*argv, "--write-spec", str(path)]) == 0
    args = build_parser().parse_args(argv)
    if argv[0] == "theory":
        want = _checks.theory_cost(complete(args), argv[1])
    else:
        want = _checks.scaling_cost(args, argv[1] == "lr-transfer")
    got = _checks.study_cost(specs.load(path))
    assert (got.bytes, got.flops) == (want.bytes, want.flops)


def test_a_spec_estimates_the_memory_of_a_population_of_at_most_max_population(
    tmp_path, monkeypatch, capsys
):
    """A trainability spec of 3 sigma_w2 x 8 seeds = 24 members per depth, [64, 10, 10]
    networks (P = 10*65 + 10*11 = 760 parameters), batch 64, 300 steps, m = 1797 digits:
    per member (3 + 1) P + 4 * 64 * 20 + 2 * 1797 * 10 = 44100 floats and 300 costs, so a
    population of k members holds 8 k (44100 + 300) = 355200 k bytes, and the study 2000
    bytes (CELL_BYTES) for each of its 24 cells. max_population = 5 makes it 5 members
    (1,776,000 + 48,000 bytes), not 24 (8,524,800 + 48,000); the work is all 24 members'
    6 * 24 * 64 * 760 * 300 operations either way. Under a 5 MiB limit the capped spec
    passes and the uncapped one is refused, naming the file and the cap."""
    body = "[trainability]\nwidth = 10\ndepths = [1]\nsigma_w2 = [1.0, 2.0, 3.0]\nseeds = 8\n"
    for cap, need in ((5, 1_824_000), (256, 8_572_800)):
        path = tmp_path / f"cap{cap}.toml"
        path.write_text(f'[study]\nkind = "trainability"\nmax_population = {cap}\n{body}')
        cost = _checks.study_cost(specs.load(path))
        assert (cost.bytes, cost.flops) == (need, 6 * 24 * 64 * 760 * 300)
    monkeypatch.setenv("INITLAB_MAX_MEMORY", "5M")
    monkeypatch.chdir(tmp_path)
    _checks.study_cost(specs.load(tmp_path / "cap5.toml")).check()
    line = refused(["sweep", "cap256.toml", "--out", "out"], capsys, tmp_path,
                   "cap256.toml: [trainability] width = 10", "populations of at most 256")  # fmt: skip
    assert "refused before any work" in line
