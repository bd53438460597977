"""Experiment specs: every problem is rejected before training, naming the key."""

import textwrap

import pytest

from initlab import SpecError
from initlab.experiment import spec as spec


def write(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
[data]
train = "digits"

[model]
hidden = [4]
activation = "tanh"

[training]
learning_rate = 0.1
iterations = 10
seeds = 2

[[runs]]
name = "r10"
init = { name = "random", scale = 10 }

[[runs]]
init = "he"
learning_rate = 0.5
"""


def test_a_good_spec_resolves_into_runs(tmp_path):
    s = spec.load(write(tmp_path, GOOD))
    assert [(r.name, r.init, r.params, r.seed, r.learning_rate) for r in s.runs] == [
        ("r10", "random", {"scale": 10}, 1, 0.1),
        ("r10", "random", {"scale": 10}, 2, 0.1),
        ("he", "he", {}, 1, 0.5),
        ("he", "he", {}, 2, 0.5),
    ]
    d = s.to_dict()
    assert d["training"]["engine"] == "auto" and d["model"]["hidden"] == [4]


def test_relative_paths_are_relative_to_the_spec(tmp_path):
    (tmp_path / "imgs").mkdir()
    s = spec.load(write(tmp_path, GOOD.replace('"digits"', '"imgs"')))
    assert s.data.train == str((tmp_path / "imgs").resolve())


@pytest.mark.parametrize(
    "old,new,match",
    [
        (
            'activation = "tanh"',
            'activation = "tanh"\nwidth = 3',
            r"unknown key 'width' in \[model\]",
        ),
        ("iterations = 10", "iteration = 10", r"unknown key 'iteration' in \[training\]"),
        ('init = "he"', 'init = "hee"', r"runs\[1\]\.init: unknown initializer 'hee'.*he_normal"),
        (
            'activation = "tanh"',
            'activation = "swish"',
            r"model\.activation: unknown activation 'swish'",
        ),
        ("learning_rate = 0.1", "learning_rate = 0", r"training\.learning_rate must be > 0"),
        ("learning_rate = 0.5", "learning_rate = -2", r"runs\[1\]\.learning_rate must be > 0"),
        ("iterations = 10", "iterations = 0", r"training\.iterations must be >= 1"),
        (
            'train = "digits"',
            'train = "no/such/folder"',
            r"data\.train: .*no/such/folder does not exist",
        ),
        ('train = "digits"', "", r"\[data\] needs 'train'"),
        ("scale = 10 }", "scale = -1 }", r"runs\[0\]\.init: .*scale must be > 0"),
        ("scale = 10 }", "scal = 1 }", r"runs\[0\]\.init: .*scal"),
        ('init = "he"', 'init = "he"\nnmae = "x"', r"unknown key 'nmae' in runs\[1\]"),
        ('name = "r10"', 'name = "he"', r"name 'he' is used by another run"),
        ("seeds = 2", 'stream = "mt"', r"training\.stream must be one of default, legacy"),
        ("seeds = 2", 'engine = "gpu"', r"training\.engine must be one of auto, direct, sample"),
        ("hidden = [4]", "hidden = 4", r"model\.hidden must be a list"),
        ('init = "he"', 'init = { name = "lsuv", tol = 0 }', r"runs\[1\]\.init: tol must be > 0"),
        ('init = "he"', 'init = { name = "lsuv", tolerance = 0.1 }', r"unknown key 'tolerance'"),
    ],
)
def test_invalid_specs_name_the_key(tmp_path, old, new, match):
    assert old in GOOD
    with pytest.raises(SpecError, match=match):
        spec.load(write(tmp_path, GOOD.replace(old, new, 1)))


def test_no_runs_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match=r"no \[\[runs\]\]"):
        spec.load(write(tmp_path, '[data]\ntrain = "digits"\n'))
    with pytest.raises(SpecError, match="not valid TOML"):
        spec.load(write(tmp_path, "[data\n"))
    with pytest.raises(SpecError, match="does not exist"):
        spec.load(tmp_path / "missing.toml")


def test_test_file_and_fraction_exclude_each_other(tmp_path):
    text = GOOD.replace(
        'train = "digits"', 'train = "digits"\ntest = "digits"\ntest_fraction = 0.2'
    )
    with pytest.raises(SpecError, match="exclude each other"):
        spec.load(write(tmp_path, text))
