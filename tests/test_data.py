"""Loaders against independent decoders (matplotlib, h5py, scikit-learn), and every bad input."""

from __future__ import annotations

import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from initlab import DataError, InitlabError, data

# --------------------------------------------------------------------------- helpers


def write_image(path: Path, size=(4, 3), seed=0, mode="RGB", fmt=None) -> np.ndarray:
    """Write a random image of `size` (width, height); return its RGB pixels as decoded."""
    rng = np.random.default_rng(seed)
    w, h = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    img = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    img.save(path, format=fmt)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def write_h5(path: Path, **arrays) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


# --------------------------------------------------------------------------- the post's images


def test_cats_vs_dogs_is_the_posts_matrix(cats_vs_dogs, cats_vs_dogs_dir):
    """Same matrix as the post's loader (plt.imread, reshape(m, -1).T, / 255), in sorted order."""
    import matplotlib.pyplot as plt

    names = sorted(p.name for p in cats_vs_dogs_dir.iterdir())
    posts = np.array([plt.imread(cats_vs_dogs_dir / n) for n in names])
    posts = posts.reshape(len(names), -1).T / 255

    ds = cats_vs_dogs
    assert ds.X.shape == (67500, 100) and ds.X.dtype == np.float64
    assert ds.Y.shape == (1, 100) and ds.Y.dtype == np.float64
    assert ds.example_ids == tuple(names)
    assert np.array_equal(ds.X, posts)  # exact, every column
    assert np.array_equal(ds.Y[0], [1.0 if n.startswith("cat.") else 0.0 for n in names])
    assert ds.Y.sum() == 50
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0
    assert ds.image_shape == (150, 150, 3)
    assert str(cats_vs_dogs_dir) in ds.name


def test_image_columns_are_c_order_pixels(tmp_path):
    """Column j is file j's pixels in (row, column, channel) order, / 255, whatever the mode."""
    pixels = {
        "cat.b.png": write_image(tmp_path / "cat.b.png", seed=1, mode="RGBA"),
        "Dog.a.PNG": write_image(tmp_path / "Dog.a.PNG", seed=2, mode="L"),
        "dog.c.png": write_image(tmp_path / "dog.c.png", seed=3),
    }
    ds = data.load_image_folder(tmp_path)
    assert ds.example_ids == ("Dog.a.PNG", "cat.b.png", "dog.c.png")  # code-point order
    assert np.array_equal(ds.Y, [[0.0, 1.0, 0.0]])
    assert ds.image_shape == (3, 4, 3)
    for j, name in enumerate(ds.example_ids):
        assert np.array_equal(ds.X[:, j], pixels[name].ravel() / 255)
    gray = pixels["Dog.a.PNG"]
    assert np.array_equal(gray[..., 0], gray[..., 2])  # a gray image becomes R = G = B
    assert np.array_equal(ds.X[3:6, 0], gray[0, 1] / 255)  # 2nd feature block = pixel (0, 1)


def test_class_subfolders_sorted_first_is_zero(tmp_path):
    for sub, seeds in (("puppies", (1, 2)), ("kittens", (3,))):
        (tmp_path / sub).mkdir()
        for s in seeds:
            write_image(tmp_path / sub / f"img{s}.jpg", seed=s)
    ds = data.load(tmp_path)
    assert ds.example_ids == ("kittens/img3.jpg", "puppies/img1.jpg", "puppies/img2.jpg")
    assert np.array_equal(ds.Y, [[0.0, 1.0, 1.0]])
    assert "kittens=0" in ds.name and "puppies=1" in ds.name


def test_any_number_of_class_subfolders(tmp_path):
    """Sub-folder c (sorted by name) is label c; columns follow the folders, then the files."""
    pixels = {}
    for sub, seeds in (("zebra", (1,)), ("ant", (2, 3)), ("moth", (4,))):
        (tmp_path / sub).mkdir()
        for s in seeds:
            pixels[f"{sub}/i{s}.png"] = write_image(tmp_path / sub / f"i{s}.png", seed=s)
    ds = data.load(tmp_path)
    assert ds.classes == ("ant", "moth", "zebra") and ds.n_classes == 3
    assert ds.example_ids == ("ant/i2.png", "ant/i3.png", "moth/i4.png", "zebra/i1.png")
    assert np.array_equal(ds.Y, [[0.0, 0.0, 1.0, 2.0]])
    assert "ant=0, moth=1, zebra=2" in ds.name
    for j, name in enumerate(ds.example_ids):
        assert np.array_equal(ds.X[:, j], pixels[name].ravel() / 255)


@pytest.mark.parametrize("cat,dog", [("cats", "dogs"), ("Cat", "dog")])
def test_cat_and_dog_subfolders_get_the_posts_labels(tmp_path, cat, dog):
    for sub, seeds in ((dog, (1, 2)), (cat, (3,))):
        (tmp_path / sub).mkdir()
        for s in seeds:
            write_image(tmp_path / sub / f"img{s}.jpg", seed=s)
    ds = data.load(tmp_path)
    assert ds.example_ids == (f"{dog}/img1.jpg", f"{dog}/img2.jpg", f"{cat}/img3.jpg")
    assert np.array_equal(ds.Y, [[0.0, 0.0, 1.0]])  # cat = 1, as cat.*.jpg files
    assert f"{dog}=0" in ds.name and f"{cat}=1" in ds.name


# --------------------------------------------------------------------------- HDF5


@pytest.mark.parametrize(("part", "m"), [("train", 209), ("test", 50)])
def test_catvnoncat_keys_found(catvnoncat_dir, part, m):
    file = catvnoncat_dir / f"{part}_catvnoncat.h5"
    ds = data.load(file)
    with h5py.File(file, "r") as f:
        x, y = f[f"{part}_set_x"][()], f[f"{part}_set_y"][()]
    assert ds.X.shape == (12288, m) and ds.Y.shape == (1, m)
    assert np.array_equal(ds.X, x.reshape(m, -1).T / 255)  # the course's own preprocessing
    assert np.array_equal(ds.Y[0], y)
    assert ds.image_shape == (64, 64, 3)
    assert f"{part}_set_x" in ds.name


def test_hdf5_explicit_keys_and_float_data_kept(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3)) * 300  # floats: used as stored, even beyond 255
    y = np.array([0, 1, 1, 0, 1])
    file = write_h5(tmp_path / "d.hdf5", a_x=np.zeros((5, 2)), b_x=x, labels=y)
    ds = data.load(file, x_key="b_x", y_key="labels")
    assert np.array_equal(ds.X, x.reshape(5, -1).T)
    assert np.array_equal(ds.Y, [y])


def test_hdf5_ambiguous_keys(tmp_path):
    file = write_h5(
        tmp_path / "two.h5", train_x=np.zeros((3, 2)), test_x=np.zeros((3, 2)), train_y=[0, 1, 0]
    )
    with pytest.raises(DataError, match="several datasets ending in '_x'") as err:
        data.load(file)
    msg = str(err.value)
    assert "two.h5" in msg and "test_x" in msg and "train_x" in msg and "x_key" in msg


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [({}, "no datasets ending in '_x'"), ({"x_key": "pixels"}, "no dataset 'pixels'")],
)
def test_hdf5_missing_keys(tmp_path, kw, pattern):
    file = write_h5(tmp_path / "d.h5", images=np.zeros((3, 2)), labels_y=[0, 1, 0])
    with pytest.raises(DataError, match=pattern) as err:
        data.load_hdf5(file, **kw)
    assert "d.h5" in str(err.value) and "images" in str(err.value)


def test_not_hdf5(tmp_path):
    file = tmp_path / "fake.h5"
    file.write_text("not hdf5")
    with pytest.raises(DataError, match=r"fake\.h5.*HDF5"):
        data.load(file)


# --------------------------------------------------------------------------- npz and bundled


@pytest.mark.parametrize("y_shape", [(6,), (6, 1), (1, 6)])
def test_npz_round_trip(tmp_path, y_shape):
    rng = np.random.default_rng(3)
    x = rng.random((6, 2, 2, 3))
    y = np.array([0, 1, 0, 1, 1, 0]).reshape(y_shape)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    ds = data.load(tmp_path / "d.npz")
    assert np.array_equal(ds.X, x.reshape(6, -1).T)
    assert np.array_equal(ds.Y, [[0, 1, 0, 1, 1, 0]])
    assert ds.example_ids[4] == "row 4" and ds.image_shape == (2, 2, 3)


def test_integer_pixels_scaled_by_255(tmp_path):
    x = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    np.savez(tmp_path / "d.npz", X=x, y=[0, 1, 1, 0])
    assert np.array_equal(data.load(tmp_path / "d.npz").X, x.T / 255)
    np.savez(tmp_path / "big.npz", X=x.astype(np.int64) * 100, y=[0, 1, 1, 0])
    with pytest.raises(DataError, match=r"big\.npz.*8-bit"):
        data.load(tmp_path / "big.npz")


def test_bundled_digits_odd_is_one():
    from sklearn.datasets import load_digits

    ds = data.load("digits")
    ref = load_digits()
    assert ds.X.shape == (64, 1797) and ds.image_shape == (8, 8)
    assert np.array_equal(ds.X, ref.data.T / 16)
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert np.array_equal(ds.Y[0], ref.target % 2)
    assert set(np.unique(ds.Y)) == {0.0, 1.0}
    assert "scikit-learn" in ds.name
    assert data.BUNDLED == ("digits", "digits10")
    assert ds.n_classes == 2 and ds.classes == ("even", "odd")


def test_bundled_digits10_has_the_ten_digits():
    from sklearn.datasets import load_digits

    ds = data.load("digits10")
    ref = load_digits()
    assert np.array_equal(ds.X, ref.data.T / 16)
    assert np.array_equal(ds.Y[0], ref.target)  # label c is digit c
    assert ds.n_classes == 10 and ds.classes == tuple("0123456789")
    assert ds.class_counts() == np.bincount(ref.target).tolist()


def test_digits_selects_and_targets_as_documented():
    """`data.digits`, the studies' one loader, against scikit-learn's arrays directly: the
    seeded sample, the first n, and the split stratified by the digit (for odd/even too)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ref = load_digits()
    X_all, d = ref.data.T / 16, ref.target
    idx = np.sort(np.random.default_rng(0).permutation(d.size)[:40])
    X, Y = data.digits(40)
    assert np.array_equal(X, X_all[:, idx]) and np.array_equal(Y, np.eye(10)[:, d[idx]])
    X, Y = data.digits(25, name="digits", seed=None)
    assert np.array_equal(X, X_all[:, :25]) and np.array_equal(Y, d[None, :25] % 2)
    train, test = train_test_split(np.arange(d.size), test_size=0.3, random_state=7, stratify=d)
    X, Y, Xt, Yt = data.digits(name="digits", seed=7, test_fraction=0.3)
    assert np.array_equal(X, X_all[:, train]) and np.array_equal(Xt, X_all[:, test])
    assert np.array_equal(Y, d[None, train] % 2) and np.array_equal(Yt, d[None, test] % 2)


def test_sample_takes_an_integral_float_count():
    """A count given as 10.0 passes the integer check, so it is used as the int 10 (it was
    a slice index: TypeError)."""
    X, _ = data.digits(10.0)
    assert np.array_equal(X, data.digits(10)[0]) and X.shape == (64, 10)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "loader", [data.load, data.load_image_folder, data.load_hdf5, data.load_npz]
)
def test_missing_path(tmp_path, loader):
    with pytest.raises(DataError, match="nowhere"):
        loader(tmp_path / "nowhere.h5")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "digits3"}, r"^name must be one of digits10, digits; got 'digits3'$"),
        ({"seed": None, "test_fraction": 0.2}, r"^seed=None .*needs a seed$"),
        ({"n_examples": 1798, "seed": None}, r"^n_examples"),
        ({"n_examples": 0}, r"^n_examples"),
        ({"seed": -1}, r"^seed must be >= 0; got -1$"),  # checked without a sample or split
    ],
)
def test_digits_bad_input_is_one_line(kwargs, message):
    with pytest.raises(InitlabError, match=message) as err:  # DataError is one
        data.digits(**kwargs)
    assert "\n" not in str(err.value)


def test_unknown_kind_names_file_and_kinds(tmp_path):
    (tmp_path / "d.csv").write_text("1,2\n")
    with pytest.raises(DataError, match=r"d\.csv.*folder of images.*hdf5.*npz"):
        data.load(tmp_path / "d.csv")


def test_keys_rejected_for_folders(tmp_path):
    with pytest.raises(DataError, match="x_key"):
        data.load(tmp_path, x_key="a_x")


def test_empty_folder(tmp_path):
    (tmp_path / ".DS_Store").write_text("")  # hidden files do not count
    with pytest.raises(DataError, match="empty") as err:
        data.load_image_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_mixed_layouts(tmp_path):
    write_image(tmp_path / "cat.1.png")
    (tmp_path / "dogs").mkdir()
    with pytest.raises(DataError, match=r"mixes layouts.*cat\.1\.png"):
        data.load_image_folder(tmp_path)


@pytest.mark.parametrize("odd", ["bird.1.png", "notes.txt", "cat.1.gif"])
def test_file_matching_neither_layout(tmp_path, odd):
    write_image(tmp_path / "cat.1.png")
    (tmp_path / odd).write_bytes(b"x")
    with pytest.raises(DataError, match=re.escape(odd) + ".*matches neither"):
        data.load_image_folder(tmp_path)


def test_class_folders_need_two_or_more_of_images(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "x.png")
    with pytest.raises(DataError, match=r"single sub-folder \(a\).*one sub-folder per class"):
        data.load_image_folder(tmp_path)
    (tmp_path / "b").mkdir()
    write_image(tmp_path / "b" / "x.png")
    (tmp_path / "b" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"readme\.txt is not an image"):
        data.load_image_folder(tmp_path)


def test_text_file_named_jpg(tmp_path):
    write_image(tmp_path / "cat.1.png")
    (tmp_path / "dog.2.jpg").write_text("this is not a JPEG")
    with pytest.raises(DataError, match=r"cannot read image .*dog\.2\.jpg"):
        data.load_image_folder(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_jpeg(tmp_path, keep):
    write_image(tmp_path / "cat.1.jpg", size=(32, 32))
    write_image(tmp_path / "dog.1.jpg", size=(32, 32))
    raw = (tmp_path / "dog.1.jpg").read_bytes()
    (tmp_path / "dog.1.jpg").write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(DataError, match=r"cannot read image .*dog\.1\.jpg"):
        data.load_image_folder(tmp_path)


def test_images_of_different_sizes(tmp_path):
    write_image(tmp_path / "cat.1.png", size=(4, 3))
    write_image(tmp_path / "cat.2.png", size=(4, 3))
    write_image(tmp_path / "dog.1.png", size=(5, 3))
    with pytest.raises(DataError, match=r"dog\.1\.png is 5x3 pixels but cat\.1\.png .* is 4x3"):
        data.load_image_folder(tmp_path)


@pytest.mark.parametrize("y", [[0, 1, 2, -1], [0, 1, 2.5, 1], [0, 1, np.nan, 1]])
def test_labels_must_be_class_indices(tmp_path, y):
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.array(y))
    with pytest.raises(DataError, match=r"y in .*d\.npz must hold integer class labels 0, 1"):
        data.load(tmp_path / "d.npz")


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32])
def test_integer_labels_of_many_classes_in_npz_and_hdf5(tmp_path, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 4))
    y = rng.integers(0, 7, 30).astype(dtype)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    write_h5(tmp_path / "d.h5", set_x=x, set_y=y.reshape(1, -1))
    for ds in (data.load(tmp_path / "d.npz"), data.load(tmp_path / "d.h5")):
        assert np.array_equal(ds.X, x.T) and np.array_equal(ds.Y[0], y.astype(float))
        assert ds.n_classes == int(y.max()) + 1
        assert ds.class_counts() == np.bincount(y.astype(int)).tolist()


def test_x_and_y_counts_differ(tmp_path):
    file = write_h5(tmp_path / "d.h5", set_x=np.zeros((4, 2)), set_y=[0, 1, 0])
    with pytest.raises(DataError, match=r"set_x has 4 examples but set_y has 3 .*d\.h5"):
        data.load(file)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x(tmp_path, bad):
    x = np.zeros((4, 3))
    x[2, 1] = bad
    np.savez(tmp_path / "d.npz", X=x, y=[0, 1, 0, 1])
    with pytest.raises(DataError, match=r"X in .*d\.npz has NaN or inf .*example 2"):
        data.load(tmp_path / "d.npz")


def test_npz_missing_array_lists_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2)), labels=[0, 1])
    with pytest.raises(DataError, match=r"d\.npz has no array 'y'; its arrays are: X, labels"):
        data.load(tmp_path / "d.npz")


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"junk\.npz"):
        data.load(tmp_path / "junk.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    with pytest.raises(DataError, match=r"one\.npz holds a single \.npy array"):
        data.load(tmp_path / "one.npz")


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError, match=r"digits.*cats-vs-dogs"):
        data.load("mnist")


# --------------------------------------------------------------------------- split


def test_split_sizes_and_stratification():
    ds = data.load("digits")
    train, test = data.split(ds, 0.2, seed=0)
    m = ds.n_examples
    assert test.n_examples == math.ceil(0.2 * m) and train.n_examples + test.n_examples == m
    assert set(train.example_ids).isdisjoint(test.example_ids)
    assert len(set(train.example_ids) | set(test.example_ids)) == m
    for part in (train, test):  # each column is the original example with its own label
        idx = [int(e.split()[1]) for e in part.example_ids]
        assert np.array_equal(part.X, ds.X[:, idx]) and np.array_equal(part.Y, ds.Y[:, idx])
        assert abs(part.Y.mean() - ds.Y.mean()) < 2 / part.n_examples  # stratified


def test_split_of_ten_classes_is_stratified():
    ds = data.load("digits10")
    train, test = data.split(ds, 0.25, seed=0)
    counts = np.array(ds.class_counts())
    for part in (train, test):
        assert part.classes == ds.classes
        expected = counts * part.n_examples / ds.n_examples
        assert np.abs(np.array(part.class_counts()) - expected).max() <= 1  # stratified


def test_split_needs_every_class_in_both_parts():
    Y = np.array([[0.0] * 40 + [1.0] * 40 + [2.0] * 2])  # class 2: too rare for 10% held out
    ds = data.Dataset(np.zeros((2, Y.size)), Y, "tiny3", tuple(map(str, range(Y.size))))
    with pytest.raises(DataError, match=r"leaves the test part of tiny3 without class 2 "
                       r"\(class counts 0: 40, 1: 40, 2: 2; 9 test examples\)"):  # fmt: skip
        data.split(ds, 0.1, seed=0)


def test_split_is_deterministic_per_seed():
    ds = data.load("digits")
    a, _ = data.split(ds, 0.3, seed=7)
    b, _ = data.split(ds, 0.3, seed=7)
    c, _ = data.split(ds, 0.3, seed=8)
    assert a.example_ids == b.example_ids
    assert a.example_ids != c.example_ids


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_split_fraction_bounds(fraction):
    ds = data.load("digits")
    with pytest.raises(InitlabError, match="test_fraction"):
        data.split(ds, fraction, seed=0)


def test_split_needs_both_classes_in_both_parts():
    X = np.zeros((2, 20))
    Y = np.zeros((1, 20))
    Y[0, :2] = 1  # 18 negatives, 2 positives: a 2-example test part gets no positive
    ds = data.Dataset(X, Y, "tiny", tuple(f"row {j}" for j in range(20)), None)
    with pytest.raises(DataError, match="tiny"):
        data.split(ds, 0.1, seed=0)
    with pytest.raises(DataError, match="one class"):
        data.split(data.Dataset(X, np.zeros((1, 20)), "flat", ds.example_ids, None), 0.5, 0)


# --------------------------------------------------------------------------- at the experiment


def test_single_class_training_data_is_refused_naming_the_file(tmp_path):
    from initlab.execution import runner
    from initlab.specs.config import DataConfig

    np.savez(tmp_path / "ones.npz", X=np.zeros((5, 3)), y=np.ones(5))
    with pytest.raises(DataError, match=r"data\.train: .*ones\.npz.* holds a single class "
                       r"\(label 1, 5 examples\)"):  # fmt: skip
        runner.load_data(DataConfig(train=str(tmp_path / "ones.npz")))
    # a held-out file of one class is fine (it is only evaluated)
    np.savez(tmp_path / "two.npz", X=np.zeros((4, 3)), y=[0, 1, 1, 0])
    d = runner.load_data(
        DataConfig(train=str(tmp_path / "two.npz"), test=str(tmp_path / "ones.npz"))
    )
    assert d.n_classes == 2 and d.test.n_examples == 5


def test_sample_is_a_seeded_subset_in_order_and_one_hot_its_labels():
    ds = data.load("digits10")
    sub = data.sample(ds, 100, seed=3)
    idx = np.sort(np.random.default_rng(3).permutation(ds.n_examples)[:100])
    np.testing.assert_array_equal(sub.X, ds.X[:, idx])
    assert sub.example_ids == tuple(ds.example_ids[j] for j in idx) and sub.X.flags.c_contiguous
    Y = sub.one_hot()
    assert Y.shape == (10, 100) and (Y.sum(axis=0) == 1).all()
    np.testing.assert_array_equal(Y.argmax(axis=0), sub.Y[0])
    assert not np.array_equal(data.sample(ds, 100, seed=4).X, sub.X)
    with pytest.raises(InitlabError, match="n_examples must be <= 1797"):
        data.sample(ds, 5000)
