r"""Load classification data into initlab's layout, with checks at the boundary.

Layout: ``X`` is ``(n_features, m)`` float64 with one example per column, ``Y`` is ``(1, m)``
float64 holding integer class labels ``0 .. C-1`` (``C = 2`` for the post's binary task;
the experiment turns them into one-hot columns for a softmax output).

Sources (see :func:`load`):

- a folder of images (:func:`initlab.data.images.load_image_folder`): the post's cats vs dogs;
- an HDF5 file (:func:`initlab.data.arrays.load_hdf5`): e.g. the catvnoncat
  ``train/test_catvnoncat.h5`` files;
- an ``.npz`` file (:func:`initlab.data.arrays.load_npz`);
- a dataset bundled with a dependency (:func:`load_bundled`), so initlab works offline
  (:func:`digits`: the bundled digits as arrays with their head's targets, the studies' data);
- ``"cats-vs-dogs"`` once fetched into the cache (:func:`initlab.data.download.fetch`).

Scaling rule for arrays read from files: integer data is taken as 8-bit pixel intensities and
divided by 255 (values outside 0..255 are an error); floating-point data is used as stored.
Images from a folder are decoded to 8-bit RGB and divided by 255 as well.

Every problem with the input raises :class:`initlab.DataError` naming the file (or key).
The :class:`~initlab.data.dataset.Dataset` container and its :func:`~initlab.data.dataset.split`
are in :mod:`initlab.data.dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from initlab._limits import regular_file
from initlab._validation import DataError, check_number
from initlab.data.arrays import load_hdf5, load_npz
from initlab.data.dataset import Dataset, sample, split  # split: re-exported, defined here once
from initlab.data.download import FETCHABLE, cache_dir, locate
from initlab.data.images import IMAGE_SUFFIXES as IMAGE_SUFFIXES  # re-exported, as split
from initlab.data.images import POST_FOLDERS as POST_FOLDERS
from initlab.data.images import POST_PREFIXES as POST_PREFIXES
from initlab.data.images import load_image_folder


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
    if path.exists() and not path.is_file():  # a FIFO, device or socket: never opened
        regular_file(path, "data source")
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
        Naming `key` when the path does not exist, or a fetchable set is not yet fetched;
        when `value` is empty (it would name the spec's own folder as an image folder).
    """
    if not value.strip():
        raise DataError(f"{key} is empty; give a path or a dataset name")
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


def digits(
    n_examples: int | None = None,
    *,
    name: str = "digits10",
    seed: int | None = 0,
    test_fraction: float | None = None,
) -> tuple[np.ndarray, ...]:
    r"""The bundled digits as arrays with their head's targets: the one digits loader of the
    studies (width scaling, trainability, kernels).

    ``X`` is ``(64, m)`` (pixels / 16). `name` is a bundled digit set: ``"digits10"`` gives
    one-hot targets ``Y`` of shape ``(10, m)`` (a softmax head), ``"digits"`` the odd/even
    labels ``Y`` of shape ``(1, m)``, 1 for an odd digit (a sigmoid head).

    Parameters
    ----------
    n_examples : int or None
        Examples kept, of the 1797 (None: all). With an int `seed` they are
        :func:`initlab.data.sample`'s (``sort(default_rng(seed).permutation(1797)[:n])``);
        with ``seed=None`` the first `n_examples`, in order.
    name : {"digits10", "digits"}
    seed : int or None
        The seed of the sample and of the split.
    test_fraction : float or None
        If given, the kept examples are split by :func:`initlab.data.split`, stratified by
        the digit (for ``"digits"`` as well), and ``(X, Y, X_test, Y_test)`` is returned.

    Returns
    -------
    (X, Y) or (X, Y, X_test, Y_test) : ndarray
    """
    if name not in ("digits10", "digits"):
        raise DataError(f"name must be one of digits10, digits; got {name!r}")
    if test_fraction is not None and seed is None:
        raise DataError("seed=None keeps the first examples; a test_fraction split needs a seed")
    if seed is not None:  # checked even where unused (all examples, no split)
        check_number("seed", seed, low=0, integer=True)
    ds = load_bundled("digits10")
    if n_examples is not None and seed is not None:
        ds = sample(ds, n_examples, seed)
    elif n_examples is not None:
        n = check_number("n_examples", n_examples, low=1, high=ds.n_examples, integer=True)
        ds = Dataset(ds.X[:, :n], ds.Y[:, :n], f"the first {n} of {ds.name}", ds.example_ids[:n],
                     ds.image_shape, ds.classes)  # fmt: skip
    parts = (ds,) if test_fraction is None else split(ds, test_fraction, seed)
    return tuple(a for part in parts for a in (part.X, _targets(part, name)))


def _targets(ds: Dataset, name: str) -> np.ndarray:
    """`ds`'s digit labels as set `name`'s targets (:func:`digits`)."""
    return ds.one_hot() if name == "digits10" else (ds.Y % 2 == 1).astype(np.float64)
