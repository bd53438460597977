"""Experiment specs: every problem is rejected before training, naming the key."""

import textwrap

import pytest

from initlab import SpecError
from initlab.specs import spec as spec


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


# --------------------------------------------------------------------------- issue 9: new keys

POST_TABLES = {
    "data": {"train": "digits", "test": None, "test_fraction": None, "split_seed": 0,
             "x_key": None, "y_key": None},
    "model": {"hidden": [4], "activation": "tanh", "slope": None},
    "training": {"learning_rate": 0.1, "iterations": 10, "seed": 1, "seeds": 2,
                 "stream": "default", "engine": "auto", "dtype": "float64", "diagnostics": True},
}  # fmt: skip
"""GOOD's resolved tables as today's main wrote them in results.json (before the new keys)."""


def test_new_keys_default_to_the_posts_training(tmp_path):
    """Every key that existed keeps its value; each new key is the post's behaviour: one
    sigmoid unit, full-batch gradient descent without momentum or decay."""
    d = spec.load(write(tmp_path, GOOD)).to_dict()
    for table, values in POST_TABLES.items():
        assert {k: d[table][k] for k in values} == values
    assert d["model"]["output"] == "sigmoid"
    t = d["training"]
    assert (t["batch_size"], t["epochs"], t["weight_decay"]) == (None, None, 0.0)
    assert t["optimizer"] == {"name": "gd", "momentum": 0.0, "dampening": 0.0,
                              "nesterov": False, "weight_decay": 0.0}  # fmt: skip


def test_new_keys_written_at_their_defaults_change_nothing(tmp_path):
    explicit = GOOD.replace(
        'activation = "tanh"', 'activation = "tanh"\noutput = "sigmoid"'
    ).replace(
        "seeds = 2",
        'seeds = 2\noptimizer = { name = "gd", momentum = 0 }\nweight_decay = 0\nshuffle_seed = 0',
    )
    a = spec.load(write(tmp_path, GOOD))
    b = spec.load(write(tmp_path, explicit))
    assert a.to_dict() == b.to_dict() and a.training == b.training and a.model == b.model


def test_the_tables_are_frozen_and_typed(tmp_path):
    s = spec.load(write(tmp_path, GOOD.replace("seeds = 2", 'seeds = 2\noptimizer = "adam"')))
    assert s.model.hidden == (4,) and s.training.optimizer.name == "adam"
    assert s.training.optimizer.params["beta2"] == 0.999  # defaults filled in
    with pytest.raises(AttributeError):
        s.training.learning_rate = 1.0  # frozen: validated once, trusted after
    assert s.runs[0].activation_spec.build().name == "tanh"


def test_an_activation_travels_as_name_and_params(tmp_path):
    text = GOOD.replace('activation = "tanh"', 'activation = { name = "leaky_relu", slope = 0.2 }')
    s = spec.load(write(tmp_path, text))
    assert (s.runs[0].activation, s.runs[0].activation_params) == ("leaky_relu", {"slope": 0.2})
    assert s.runs[0].activation_spec.build().params == {"slope": 0.2}
    assert s.to_dict()["model"]["slope"] == 0.2  # the older [model] slope key, still written


@pytest.mark.parametrize(
    "old,new,match",
    [
        ('activation = "tanh"', 'activation = "tanh"\noutput = "softmaxx"',
         r"model\.output must be one of sigmoid, softmax, linear; got 'softmaxx'"),
        ("seeds = 2", 'optimizer = "adamm"',
         r"training\.optimizer: unknown optimizer 'adamm'; valid optimizers are: adam, adamw"),
        ("seeds = 2", "optimizer = 3", r"training\.optimizer must be a name or a table"),
        ("seeds = 2", 'optimizer = { name = "adam", beta1 = 1.5 }',
         r"training\.optimizer: beta1 must be < 1"),
        ("seeds = 2", 'optimizer = { name = "adam", momentum = 0.9 }',
         r"training\.optimizer: optimizer 'adam' has no parameter 'momentum'"),
        ("seeds = 2", 'optimizer = { name = "momentum", momentum = "high" }',
         r"training\.optimizer\.momentum must be a number"),
        ("seeds = 2", 'optimizer = { name = "sgd", nesterov = true }',
         r"training\.optimizer: nesterov needs momentum > 0"),
        ("seeds = 2", "batch_size = 0", r"training\.batch_size must be >= 1; got 0"),
        ("seeds = 2", "batch_size = 6.5", r"training\.batch_size must be an integer"),
        ("iterations = 10", "epochs = 0", r"training\.epochs must be >= 1"),
        ("seeds = 2", "epochs = 3", r"training\.iterations and training\.epochs exclude each"),
        ("seeds = 2", "weight_decay = -1", r"training\.weight_decay must be >= 0"),
        ("seeds = 2", "shuffle_seed = -1", r"training\.shuffle_seed must be >= 0"),
        ("seeds = 2", 'weight_decay = 0.1\noptimizer = { name = "adamw", weight_decay = 0.2 }',
         r"training\.weight_decay and training\.optimizer\.weight_decay are the same setting"),
        ("seeds = 2", 'optimizer = "adam"\nengine = "sample"',
         r"training\.engine: engine 'sample' cannot train with adam: adam is not a linear"),
        ('activation = "tanh"', 'activation = { name = "relu", slope = 0.1 }',
         r"model\.activation: activation 'relu' takes no parameters"),
    ],
)  # fmt: skip
def test_bad_new_keys_are_one_line_naming_the_key(tmp_path, old, new, match):
    assert old in GOOD
    with pytest.raises(SpecError, match=match) as err:
        spec.load(write(tmp_path, GOOD.replace(old, new, 1)))
    assert "\n" not in str(err.value)


def test_the_engine_override_is_checked_against_the_optimizer(tmp_path):
    s = spec.load(write(tmp_path, GOOD.replace("seeds = 2", 'optimizer = "momentum"')))
    assert s.training.with_engine("sample").engine == "sample"  # linear in the gradients
    adam = spec.load(write(tmp_path, GOOD.replace("seeds = 2", 'optimizer = "adamw"')))
    with pytest.raises(SpecError, match=r"--engine: engine 'sample' cannot train with adamw"):
        adam.training.with_engine("sample")


# --------------------------------------------------------------------------- issue 10


def test_a_directory_given_as_the_spec_is_named_as_one(tmp_path):
    with pytest.raises(SpecError, match=r"is a directory; a spec file \(TOML\) is expected"):
        spec.load(tmp_path)


def test_a_directory_given_as_the_spec_lists_up_to_three_toml_files_in_it(tmp_path):
    with pytest.raises(SpecError, match=r"e\.g\. no \.toml file is in "):
        spec.load(tmp_path)
    for name in ("d.toml", "a.toml", "c.toml", "b.toml", "notes.txt"):
        (tmp_path / name).write_text("")
    with pytest.raises(SpecError) as info:
        spec.load(tmp_path)
    hint = str(info.value).split("e.g. ", 1)[1]
    assert hint == ", ".join(str(tmp_path / n) for n in ("a.toml", "b.toml", "c.toml"))


def test_millions_of_seeds_are_refused_at_once(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"training\.seeds = 2000000 .*more than 100,000 runs"):
        spec.load(write(tmp_path, GOOD.replace("seeds = 2", "seeds = 2000000")))
    assert time.perf_counter() - start < 1.0  # before expanding them


def test_a_cost_history_beyond_memory_is_refused_with_its_size(tmp_path):
    with pytest.raises(SpecError, match=r"training\.iterations = 1000000000000 .*4 x 1000000000000 "
                       r"floats \(29,802 GiB\)"):  # fmt: skip
        spec.load(write(tmp_path, GOOD.replace("iterations = 10", "iterations = 1e12")))
