"""``initlab run``: bad specs refused in one line before any work (issue 21)."""

from __future__ import annotations

import os

import pytest

from bad_input import refused, refused_limited, spec
from initlab.specs import spec as _spec

HEAD = '[data]\ntrain = "digits"\n'
RUN = '[[runs]]\ninit = "he"\n'

SPECS = [
    ("nested-array", HEAD + "[model]\nhidden = " + "[" * 3000 + "]" * 3000 + "\n" + RUN,
     ["nested too deeply"]),
    ("nested-table", HEAD + "[[runs]]\ninit = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n",
     ["nested too deeply"]),
    ("nested-40", HEAD + "[model]\nhidden = " + "[" * 40 + "]" * 40 + "\n" + RUN,
     ["model.hidden[0]", "nested more than 32"]),
    ("huge-int", HEAD + "[training]\niterations = 1" + "0" * 400 + "\n" + RUN,
     ["training.iterations", "64-bit"]),
    ("huger-int", HEAD + "[training]\niterations = 1" + "0" * 5000 + "\n" + RUN,
     ["a number is too long"]),
    ("long-name", HEAD + f'[[runs]]\nname = "{"n" * 300}"\ninit = "he"\n',
     ["runs[0].name has 300 bytes", "file name"]),
    ("long-init", HEAD + f'[[runs]]\ninit = "{"x" * 1_000_000}"\n',
     ["unknown initializer", "characters"]),
    ("decay-pair", HEAD + '[training]\nweight_decay = 0.0\noptimizer = {name = "adamw", '
     "weight_decay = 0.2}\n" + RUN, ["training.weight_decay", "same setting"]),
    ("lr-nan", HEAD + "[training]\nlearning_rate = nan\n" + RUN,
     ["training.learning_rate must be finite"]),
    ("lr-negative", HEAD + "[training]\nlearning_rate = -1\n" + RUN,
     ["training.learning_rate must be > 0"]),
    ("iterations-0", HEAD + "[training]\niterations = 0\n" + RUN, ["training.iterations"]),
    ("width-0", HEAD + "[model]\nhidden = [0]\n" + RUN, ["model.hidden[0] must be >= 1"]),
    ("adam-sample", HEAD + '[training]\noptimizer = "adam"\nengine = "sample"\n' + RUN,
     ["training.engine"]),
    ("text-npz", '[data]\ntrain = "text.npz"\n' + RUN, ["not an npz archive"]),
    ("train-empty", '[data]\ntrain = ""\n' + RUN, ["data.train is empty"]),
    ("test-blank", HEAD + 'test = " "\n' + RUN, ["data.test is empty"]),
    ("history", HEAD + "[training]\niterations = 100000000000\n" + RUN,
     ["cost history"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "contains"), SPECS, ids=[s[0] for s in SPECS])
def test_spec_refused_in_one_line(name, text, contains, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.npz").write_text("not a zip\n")
    path = spec(tmp_path / "s.toml", text)
    line = refused(["run", str(path), "--out", "out"], capsys, tmp_path, *contains)
    assert line.startswith("initlab run: error: ") and len(line) < 1200
    assert "allow_pickle" not in line


def test_empty_out_refused(capsys, tmp_path, monkeypatch):
    """``--out ''`` would write into the current folder: refused before the spec is read."""
    monkeypatch.chdir(tmp_path)
    path = spec(tmp_path / "s.toml", HEAD + RUN)
    refused(["run", str(path), "--out", ""], capsys, tmp_path, "--out is empty")


def test_spec_that_is_a_fifo_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "s.toml")
    line = refused_limited(["run", "s.toml", "--out", "out"], tmp_path, "FIFO", timeout=30)
    assert "regular file" in line


def parse(training: dict):
    return _spec.parse({"data": {"train": "digits"}, "training": training,
                        "runs": [{"init": "he"}]})  # fmt: skip


def test_explicit_zero_weight_decay_is_kept():
    """An explicit 0.0 is a value, not "unset": adamw trains without decay; without the
    key, adamw keeps its own default 0.01."""
    assert parse({"optimizer": "adamw", "weight_decay": 0.0}).training.weight_decay == 0.0
    assert parse({"optimizer": "adamw"}).training.weight_decay == 0.01
    assert parse({"optimizer": "gd", "weight_decay": 0.0}).training.weight_decay == 0.0
    with pytest.raises(_spec.SpecError, match="same setting"):
        parse({"optimizer": {"name": "adamw", "weight_decay": 0.2}, "weight_decay": 0.0})


@pytest.mark.parametrize(
    ("argv", "contains"),
    [(["--out", ""], "--out is empty"), (["--seeds", "0", "--out", "o"], "--seeds must be >= 1")],
)
def test_reproduce_options(argv, contains, capsys, tmp_path, monkeypatch):
    """``initlab reproduce`` is ``run`` on the post's spec: its options too."""
    monkeypatch.chdir(tmp_path)
    refused(["reproduce", "--data", "digits", *argv], capsys, tmp_path, contains)
