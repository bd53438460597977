r"""Load classification data into initlab's layout, with checks at the boundary.

Layout: ``X`` is ``(n_features, m)`` float64 with one example per column, ``Y`` is ``(1, m)``
float64 holding integer class labels ``0 .. C-1`` (``C = 2`` for the post's binary task;
the experiment turns them into one-hot columns for a softmax output).

Sources (see :func:`load`):

- a folder of images (:func:`load_image_folder`): the post's cats vs dogs;
- an HDF5 file (:func:`load_hdf5`): e.g. the catvnoncat ``train/test_catvnoncat.h5`` files;
- an ``.npz`` file (:func:`load_npz`);
- a dataset bundled with a dependency (:func:`load_bundled`), so initlab works offline;
- ``"cats-vs-dogs"`` once fetched into the cache (:func:`initlab.data.download.fetch`).

Scaling rule for arrays read from files: integer data is taken as 8-bit pixel intensities and
divided by 255 (values outside 0..255 are an error); floating-point data is used as stored.
Images from a folder are decoded to 8-bit RGB and divided by 255 as well.

Every problem with the input raises :class:`initlab.DataError` naming the file (or key).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initlab._validation import DataError, check_number
from initlab.data.download import FETCHABLE, cache_dir, locate

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
"""File suffixes read as images (case-insensitive)."""

POST_PREFIXES = {"cat.": 1.0, "dog.": 0.0}
"""The post's file naming: ``cat.*`` is label 1, ``dog.*`` is label 0 (case-insensitive)."""
POST_FOLDERS = {"cat": 1.0, "cats": 1.0, "dog": 0.0, "dogs": 0.0}
"""Two class sub-folders with these names get the post's labels (cat = 1) whatever their order."""
_POST_CLASSES = {(d, c) for d in ("dog", "dogs") for c in ("cat", "cats")}


@dataclass(frozen=True)
class Dataset:
    """Examples in initlab's layout, with where they came from.

    Attributes
    ----------
    X : ndarray (n_features, m)
        float64 features, already scaled.
    Y : ndarray (1, m)
        float64 integer class labels ``0., 1., ..., C-1``.
    name : str
        Human description of the source, including the label mapping where one was chosen.
    example_ids : tuple of str
        One id per column of ``X``: file names for image folders, ``"row j"`` for arrays.
    image_shape : tuple of int or None
        Shape of one example as an image (e.g. ``(150, 150, 3)``), None for other data.
    classes : tuple of str
        Name of class ``c`` at index ``c`` (sub-folder names, ``"0"``, ``"1"``, ... for
        arrays); empty means ``"0" .. str(max label)``.
    """

    X: np.ndarray
    Y: np.ndarray
    name: str
    example_ids: tuple[str, ...]
    image_shape: tuple[int, ...] | None = None
    classes: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        """Number of classes C: labels are ``0 .. C-1`` (a class may have no example here)."""
        return len(self.classes) or int(self.Y.max()) + 1

    def class_counts(self) -> list[int]:
        """Examples of each class ``0 .. C-1``."""
        return np.bincount(self.Y.ravel().astype(np.int64), minlength=self.n_classes).tolist()

    @property
    def n_features(self) -> int:
        return self.X.shape[0]

    @property
    def n_examples(self) -> int:
        return self.X.shape[1]


def load(
    source: str | os.PathLike, *, x_key: str | None = None, y_key: str | None = None
) -> Dataset:
    """Load `source`: a folder of images, an ``.h5``/``.hdf5`` or ``.npz`` file, or a name.

    An existing path always wins over a name. Names are those of :data:`BUNDLED` and of
    :data:`FETCHABLE` (a fetchable dataset must have been fetched: ``initlab data fetch``).
    `x_key` and `y_key` choose arrays in HDF5 and npz files.
    """
    if not str(source):
        raise DataError("the data source is empty; give a path or a dataset name")
    path = Path(source).expanduser()
    if path.is_dir():
        _no_keys(x_key, y_key, path)
        return load_image_folder(path)
    if path.is_file():
        if path.suffix.lower() in (".h5", ".hdf5"):
            return load_hdf5(path, x_key=x_key, y_key=y_key)
        if path.suffix.lower() == ".npz":
            return load_npz(path, x_key=x_key, y_key=y_key)
        raise DataError(
            f"cannot load {path}: not a kind initlab reads; give a folder of images, an "
            ".h5/.hdf5 file or an .npz file"
        )
    name = str(source)
    if name in _BUNDLED:
        _no_keys(x_key, y_key, name)
        return load_bundled(name)
    if name in FETCHABLE:
        folder = locate(name)
        if folder is None:
            raise DataError(
                f"{name!r} is not in the cache {cache_dir()}; run `initlab data fetch {name}`"
            )
        return load_image_folder(folder)
    raise DataError(
        f"{source} does not exist and is not a dataset name; give a folder of images, an "
        ".h5/.hdf5 file, an .npz file, or one of: " + ", ".join(BUNDLED + FETCHABLE)
    )


def resolve_source(value: str, base: str | os.PathLike = ".", *, key: str = "source") -> str:
    """Resolve a data source named in a spec file, without loading it.

    A dataset name (bundled, or fetchable and already fetched) is returned as it is; a
    path is made absolute relative to `base` (the spec file's folder) and must exist.

    Raises
    ------
    DataError
        Naming `key` when the path does not exist, or a fetchable set is not yet fetched.
    """
    path = Path(value).expanduser()
    resolved = path if path.is_absolute() else Path(base) / path
    if resolved.exists():
        return str(resolved.resolve())
    if value in _BUNDLED:
        return value
    if value in FETCHABLE:
        if locate(value) is None:
            raise DataError(
                f"{key}: {value!r} is not in the cache {cache_dir()}; "
                f"run `initlab data fetch {value}`"
            )
        return value
    raise DataError(
        f"{key}: {resolved} does not exist and is not a dataset name; give a folder of images, "
        "an .h5/.hdf5 file, an .npz file, or one of: " + ", ".join(BUNDLED + FETCHABLE)
    )


def _no_keys(x_key: str | None, y_key: str | None, where: object) -> None:
    if x_key is not None or y_key is not None:
        raise DataError(f"x_key/y_key only apply to HDF5 and npz files, not to {where}")


# --------------------------------------------------------------------------- image folders


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _visible(folder: Path) -> list[Path]:
    """Entries of `folder` sorted by name, ignoring hidden ones (``.DS_Store``, ...)."""
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def _post_label(path: Path) -> float | None:
    name = path.name.lower()
    for prefix, label in POST_PREFIXES.items():
        if name.startswith(prefix) and _is_image(path):
            return label
    return None


def _decode(path: Path) -> np.ndarray:
    """Decode one image as 8-bit RGB, (height, width, 3)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))  # convert() forces the lazy decode
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def load_image_folder(path: str | os.PathLike) -> Dataset:
    """Load a folder of labelled images.

    Two layouts are accepted (hidden files, whose names start with ``.``, are ignored):

    1. The post's: every file is named ``cat.*`` (label 1) or ``dog.*`` (label 0) with a
       ``.jpg``, ``.jpeg`` or ``.png`` suffix (case-insensitive).
    2. Two or more sub-folders of images, one per class. Sorted by name, sub-folder c is
       label c (so ``0``/``1``/... map to themselves). Exactly two folders named
       ``cat``/``cats`` and ``dog``/``dogs`` (any case) get the post's labels instead, cat 1
       and dog 0. ``Dataset.name`` and ``Dataset.classes`` state the mapping used.

    Columns follow the files sorted by name (code-point order; for layout 2, the label-0
    sub-folder's files, then the label-1 one's, and so on). Each image is decoded with Pillow,
    converted to RGB and flattened in C order (row, column, channel), exactly
    ``np.asarray(Image.open(f).convert("RGB")).ravel() / 255``: the matrix of the post's loader
    (``plt.imread``, ``reshape(m, -1).T``, ``/ 255``) up to its column order.

    Returns
    -------
    Dataset
        ``X`` is ``(height * width * 3, m)``; ``image_shape`` is ``(height, width, 3)``.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    entries = _visible(folder)
    if any(p.is_dir() for p in entries):
        files, labels, classes = _class_folder_layout(folder, entries)
        ids = tuple(f"{p.parent.name}/{p.name}" for p in files)
        post = _lower(classes) in _POST_CLASSES
        how = "as the post labels them" if post else "by sorted sub-folder"
        mapping = f"labels {how}: " + ", ".join(f"{c}={i}" for i, c in enumerate(classes))
    else:
        files, labels, classes = _post_layout(folder, entries)
        ids = tuple(p.name for p in files)
        mapping = "labels by file name: cat.*=1, dog.*=0"
    X, shape = _read_images(files)
    return Dataset(
        X=X,
        Y=np.asarray(labels, dtype=np.float64).reshape(1, -1),
        name=f"images in {folder} ({len(files)} examples; {mapping})",
        example_ids=ids,
        image_shape=shape,
        classes=classes,
    )


def _lower(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n.lower() for n in names)


def _post_layout(
    folder: Path, entries: list[Path]
) -> tuple[list[Path], list[float], tuple[str, ...]]:
    if not entries:
        raise DataError(f"image folder {folder} is empty: no images found")
    labels = [_post_label(p) for p in entries]
    if None in labels:
        odd = entries[labels.index(None)]
        raise DataError(
            f"{odd.name} in {folder} matches neither layout: files must be named cat.* "
            f"(label 1) or dog.* (label 0) with a {'/'.join(IMAGE_SUFFIXES)} suffix, "
            "or the folder must hold one sub-folder of images per class"
        )
    return entries, labels, ("dog", "cat")


def _class_folder_layout(
    folder: Path, entries: list[Path]
) -> tuple[list[Path], list[float], tuple[str, ...]]:
    odd = [p for p in entries if not p.is_dir()]
    if odd:
        raise DataError(
            f"{folder} mixes layouts: it has sub-folders and also the file {odd[0].name}; "
            "use either cat.*/dog.* files or one sub-folder of images per class"
        )
    if len(entries) < 2:
        raise DataError(
            f"{folder} has a single sub-folder ({entries[0].name}): the class-folder layout "
            "needs one sub-folder per class, at least two"
        )
    post = [POST_FOLDERS.get(p.name.lower()) for p in entries]
    if sorted(post, key=str) == [0.0, 1.0]:  # cat(s)/ and dog(s)/: the post's labels
        entries = sorted(entries, key=lambda p: POST_FOLDERS[p.name.lower()])
    files, labels = [], []
    for label, sub in enumerate(entries):
        inside = _visible(sub)
        odd = [p for p in inside if not (p.is_file() and _is_image(p))]
        if odd:
            raise DataError(
                f"{odd[0]} is not an image file; class folder {sub} may only hold "
                f"{'/'.join(IMAGE_SUFFIXES)} files"
            )
        if not inside:
            raise DataError(f"class folder {sub} has no images")
        files += inside
        labels += [float(label)] * len(inside)
    return files, labels, tuple(p.name for p in entries)


def _read_images(files: list[Path]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Decode `files` into a preallocated ``(n_features, m)`` matrix, scaled by 1/255."""
    first = _decode(files[0])
    X = np.empty((first.size, len(files)), dtype=np.float64)
    X[:, 0] = first.ravel()
    for j, f in enumerate(files[1:], start=1):
        img = _decode(f)
        if img.shape != first.shape:
            h, w = img.shape[:2]
            raise DataError(
                f"{f} is {w}x{h} pixels but {files[0].name} (the first image) is "
                f"{first.shape[1]}x{first.shape[0]}; all images must have the same size"
            )
        X[:, j] = img.ravel()
    X /= 255.0
    return X, first.shape


# --------------------------------------------------------------------------- arrays


def _from_arrays(x: np.ndarray, y: np.ndarray, where: str, x_key: str, y_key: str) -> Dataset:
    """Check examples-first arrays and convert them to initlab's layout."""
    if x.dtype.kind not in "iuf" or x.ndim < 2:
        raise DataError(
            f"{x_key} in {where} must be a numeric array with the examples first, (m, ...); "
            f"got dtype {x.dtype} and shape {x.shape}"
        )
    m = x.shape[0]
    if y.ndim > 2 or (y.ndim == 2 and 1 not in y.shape):
        raise DataError(f"{y_key} in {where} must be (m,), (m, 1) or (1, m); got {y.shape}")
    if y.size != m:
        raise DataError(
            f"{x_key} has {m} examples but {y_key} has {y.size} labels in {where}; "
            "they must have one label per example"
        )
    if x.size == 0:
        raise DataError(f"{x_key} in {where} is empty, shape {x.shape}")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{y_key} in {where} must be numeric; got dtype {y.dtype}")
    Y = y.astype(np.float64).reshape(1, m)
    bad = ~np.isfinite(Y) | (Y < 0) | (Y != np.round(Y))
    if bad.any():
        found = ", ".join(f"{v:g}" for v in np.unique(Y[bad])[:10])
        raise DataError(
            f"{y_key} in {where} must hold integer class labels 0, 1, ..., C-1; found {found}"
        )
    X = np.ascontiguousarray(x.reshape(m, -1).T, dtype=np.float64)
    if x.dtype.kind in "iu":
        if X.min() < 0 or X.max() > 255:
            raise DataError(
                f"{x_key} in {where} holds integers in [{X.min():g}, {X.max():g}]; integer data "
                "is read as 8-bit pixels (0..255) and divided by 255: store floats to use it as is"
            )
        X /= 255.0
    elif not np.isfinite(X).all():
        j = int(np.flatnonzero(~np.isfinite(X).all(axis=0))[0])
        raise DataError(f"{x_key} in {where} has NaN or inf values (first in example {j})")
    return Dataset(
        X=X,
        Y=Y,
        name=f"{x_key}/{y_key} of {where} ({m} examples)",
        example_ids=tuple(f"row {j}" for j in range(m)),
        image_shape=tuple(x.shape[1:]) if x.ndim >= 3 else None,
        classes=tuple(str(c) for c in range(int(Y.max()) + 1)),
    )


def _pick_key(keys: list[str], given: str | None, suffix: str, arg: str, where: Path) -> str:
    listing = ", ".join(keys) or "none"
    if given is not None:
        if given not in keys:
            raise DataError(f"{where} has no dataset {given!r}; its datasets are: {listing}")
        return given
    found = [k for k in keys if k.endswith(suffix)]
    if len(found) != 1:
        how = "several" if found else "no"
        raise DataError(
            f"{where} has {how} datasets ending in {suffix!r}; its datasets are: {listing}; "
            f"pass {arg}= to choose one"
        )
    return found[0]


def load_hdf5(
    path: str | os.PathLike, x_key: str | None = None, y_key: str | None = None
) -> Dataset:
    """Load examples-first arrays from an HDF5 file (e.g. ``train_catvnoncat.h5``).

    Without keys, ``x_key`` is the unique dataset whose name ends in ``_x`` and ``y_key`` the
    unique one ending in ``_y``. The data is stored examples first, so
    ``X = data.reshape(m, -1).T``; integer data is divided by 255, float data is used as stored.
    """
    import h5py

    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"HDF5 file {file} does not exist")
    try:
        with h5py.File(file, "r") as h5:
            keys: list[str] = []

            def collect(key: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    keys.append(key)

            h5.visititems(collect)
            xk = _pick_key(keys, x_key, "_x", "x_key", file)
            yk = _pick_key(keys, y_key, "_y", "y_key", file)
            x, y = h5[xk][()], h5[yk][()]
    except OSError as exc:
        raise DataError(f"cannot read {file} as HDF5: {exc}") from None
    return _from_arrays(np.asarray(x), np.asarray(y), str(file), xk, yk)


def load_npz(
    path: str | os.PathLike, x_key: str | None = None, y_key: str | None = None
) -> Dataset:
    """Load arrays ``X`` (m, ...) and ``y`` ((m,), (m, 1) or (1, m)) from an ``.npz`` file.

    Other array names can be given as `x_key` / `y_key`. Same scaling rule as
    :func:`load_hdf5`: integer data is divided by 255, float data is used as stored.
    """
    import zipfile

    from numpy.lib.npyio import NpzFile

    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"npz file {file} does not exist")
    xk, yk = x_key or "X", y_key or "y"
    try:
        npz = np.load(file, allow_pickle=False)
        if not isinstance(npz, NpzFile):
            raise DataError(f"{file} holds a single .npy array, not an npz archive of X and y")
        with npz:
            names = list(npz.files)
            arrays = {k: npz[k] for k in (xk, yk) if k in names}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {file} as an npz file: {exc}") from None
    except ValueError as exc:  # e.g. pickled data, refused
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read {file} as an npz file: {exc}") from None
    missing = [k for k in (xk, yk) if k not in arrays]
    if missing:
        raise DataError(
            f"{file} has no array {missing[0]!r}; its arrays are: {', '.join(names) or 'none'}"
        )
    return _from_arrays(arrays[xk], arrays[yk], str(file), xk, yk)


# --------------------------------------------------------------------------- bundled


def _digits(ten: bool = False) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    m = digits.target.size
    if ten:
        Y, labels, classes = digits.target, "10 classes, label = digit", tuple("0123456789")
    else:
        Y, labels, classes = digits.target % 2 == 1, "odd=1, even=0", ("even", "odd")
    return Dataset(
        X=np.ascontiguousarray(digits.data.T, dtype=np.float64) / 16.0,
        Y=Y.astype(np.float64).reshape(1, m),
        name=f"scikit-learn's bundled 8x8 handwritten digits ({m} examples; {labels})",
        example_ids=tuple(f"row {j}" for j in range(m)),
        image_shape=(8, 8),
        classes=classes,
    )


_BUNDLED: dict[str, tuple[Callable[[], Dataset], str]] = {
    "digits": (_digits, "scikit-learn's 8x8 digits, 1797 x 64 pixels / 16; label 1 = odd digit"),
    "digits10": (
        lambda: _digits(ten=True),
        "the same 1797 digits with their 10 classes; label = the digit (softmax output)",
    ),
}

BUNDLED = tuple(_BUNDLED)
"""Names of the datasets shipped inside a dependency (usable offline)."""


def describe_bundled(name: str) -> str:
    """One-line description of bundled dataset `name`."""
    return _bundled_entry(name)[1]


def _bundled_entry(name: str) -> tuple[Callable[[], Dataset], str]:
    if name not in _BUNDLED:
        raise DataError(f"unknown bundled dataset {name!r}; valid names are: {', '.join(BUNDLED)}")
    return _BUNDLED[name]


def load_bundled(name: str) -> Dataset:
    """Load a dataset that ships inside a dependency, so initlab works offline.

    ``"digits"``: scikit-learn's 8x8 handwritten digits (1797 examples, 64 features) as a binary
    task, label 1 for odd digits and 0 for even ones; pixels (0..16) are divided by 16.
    ``"digits10"``: the same examples with their 10 classes, label c for digit c.
    """
    return _bundled_entry(name)[0]()


# --------------------------------------------------------------------------- split


def split(dataset: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split `dataset` into stratified train and test parts.

    Uses ``sklearn.model_selection.train_test_split(range(m), test_size=test_fraction,
    random_state=seed, stratify=Y)``; columns of each part follow the order it returns.

    Parameters
    ----------
    test_fraction : float
        In (0, 1); the test part has ``ceil(test_fraction * m)`` examples.
    seed : int
        Non-negative seed of the shuffle.

    Returns
    -------
    train, test : Dataset
        Each with at least one example of every class present (else DataError).
    """
    from sklearn.model_selection import train_test_split

    check_number("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    seed = check_number("seed", seed, low=0, integer=True)
    y = dataset.Y.ravel()
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise DataError(f"cannot split {dataset.name}: it has only one class ({classes[0]:g})")
    try:
        train, test = train_test_split(
            np.arange(y.size), test_size=test_fraction, random_state=seed, stratify=y
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {dataset.name} with test_fraction={test_fraction}: {exc}"
        ) from None
    for part, idx in (("train", train), ("test", test)):
        missing = np.setdiff1d(classes, y[idx])
        if missing.size:
            listed = ", ".join(f"{c:g}: {n}" for c, n in zip(classes, counts, strict=True))
            raise DataError(
                f"test_fraction={test_fraction} leaves the {part} part of {dataset.name} "
                f"without class {missing[0]:g} (class counts {listed}; {idx.size} {part} "
                "examples); choose a test_fraction that gives both parts every class"
            )
    return _subset(dataset, train, "train", seed), _subset(dataset, test, "test", seed)


def _subset(dataset: Dataset, idx: np.ndarray, part: str, seed: int) -> Dataset:
    return Dataset(
        X=dataset.X[:, idx],
        Y=dataset.Y[:, idx],
        name=f"{part} part (seed {seed}, {idx.size} examples) of {dataset.name}",
        example_ids=tuple(dataset.example_ids[j] for j in idx),
        image_shape=dataset.image_shape,
        classes=dataset.classes,
    )
