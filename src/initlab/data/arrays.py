r"""Load examples-first arrays from HDF5 and ``.npz`` files into initlab's layout.

Scaling rule: integer data is taken as 8-bit pixel intensities and divided by 255 (values
outside 0..255 are an error); floating-point data is used as stored. Every problem with the
input raises :class:`initlab.DataError` naming the file (or key).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from initlab._limits import check_memory, open_regular
from initlab._validation import DataError, InitlabError, shorten
from initlab.data.dataset import Dataset


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
    _check_classes(Y, where, y_key)
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


def _check_classes(Y: np.ndarray, where: str, y_key: str) -> None:
    """Refuse labels whose class count C = max + 1 cannot be held: a softmax head has C
    output units and one-hot targets (C, m), and C class names are listed."""
    C = int(Y.max()) + 1
    m = Y.shape[1]
    check_memory(
        8 * C * (m + 8), f"{y_key} in {where}: labels up to {C - 1:,} ({C:,} classes)",
        "Labels must be 0, 1, ..., C-1: renumber them.",
    )  # fmt: skip


def _declared(name: str, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    """Refuse an array whose declared size (its header: shape and dtype) cannot be read,
    before any byte of it is: its own bytes plus the float64 copy made of it."""
    n = math.prod(shape)
    need = n * (dtype.itemsize + 16)
    dims = " x ".join(map(str, shape)) or "scalar"
    check_memory(need, f"{name} in {where} (declared {dims} {dtype})", "")


def _npz_headers(file: Path, keys: tuple[str, str]) -> None:
    """Read the .npy headers of `keys` in npz `file` (a zip archive) and check their declared
    sizes fit (:func:`_declared`) before NumPy inflates anything. A file that is not a zip
    archive is refused here (NumPy would suggest loading it with pickle)."""
    import zipfile

    with open_regular(file, "npz file") as f:
        magic = f.read(4)
    if magic == b"\x93NUM":
        raise DataError(f"{file} holds a single .npy array, not an npz archive of X and y")
    if magic[:2] != b"PK":
        raise DataError(
            f"{file} is not an npz archive: an .npz file is a zip archive of .npy arrays "
            f"(np.savez), and this file starts with {shorten(magic)}"
        )
    try:
        with zipfile.ZipFile(file) as zf:
            for info in zf.infolist():
                name = info.filename.removesuffix(".npy")
                if name not in keys:
                    continue
                with zf.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = np.lib.format.read_array_header_1_0
                    if version != (1, 0):  # 2.0 and 3.0 differ from it in the length field
                        read = np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(member, max_header_size=10_000)
                _declared(name, shape, dtype, str(file))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, InitlabError):
            raise
        raise DataError(f"cannot read {file} as an npz file: {_no_pickle(exc)}") from None


def _no_pickle(exc: Exception) -> str:
    """NumPy's reason, unless it suggests loading with pickle (initlab never does)."""
    text = str(exc)
    if "pickle" in text.lower():
        return (
            "an array holds Python objects or has a malformed .npy header; initlab reads "
            "numeric arrays only (np.savez of numbers)"
        )
    return text


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
            for key in (xk, yk):
                _declared(key, h5[key].shape, h5[key].dtype, str(file))
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
    _npz_headers(file, (xk, yk))
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
        raise DataError(f"cannot read {file} as an npz file: {_no_pickle(exc)}") from None
    missing = [k for k in (xk, yk) if k not in arrays]
    if missing:
        raise DataError(
            f"{file} has no array {missing[0]!r}; its arrays are: {', '.join(names) or 'none'}"
        )
    return _from_arrays(arrays[xk], arrays[yk], str(file), xk, yk)
