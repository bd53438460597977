r"""Load a folder of labelled images (the post's cats vs dogs) into initlab's layout.

Images are decoded with Pillow to RGB and scaled by their bit depth: 8-bit images divided by
255, 16-bit grayscale PNGs by 65535 (never clipped to 8 bits). Every problem with the
input raises :class:`initlab.DataError` naming the file or folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from initlab._limits import check_memory, kind_of, open_regular
from initlab._validation import DataError, InitlabError
from initlab.data.dataset import Dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
"""File suffixes read as images (case-insensitive)."""

POST_PREFIXES = {"cat.": 1.0, "dog.": 0.0}
"""The post's file naming: ``cat.*`` is label 1, ``dog.*`` is label 0 (case-insensitive)."""
POST_FOLDERS = {"cat": 1.0, "cats": 1.0, "dog": 0.0, "dogs": 0.0}
"""Two class sub-folders with these names get the post's labels (cat = 1) whatever their order."""
_POST_CLASSES = {(d, c) for d in ("dog", "dogs") for c in ("cat", "cats")}


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _visible(folder: Path) -> list[Path]:
    """Entries of `folder` sorted by name, ignoring hidden ones (``.DS_Store``, ...); a FIFO,
    device or socket among them is refused by name (reading it could block forever)."""
    entries = sorted(
        (p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name
    )
    for p in entries:
        try:
            kind = kind_of(p.stat().st_mode)
        except OSError as exc:
            raise DataError(f"cannot read {p}: {exc.strerror or exc}") from None
        if kind is not None and kind != "a directory":
            raise DataError(
                f"{p} is {kind}, not a regular file: initlab reads regular image files only"
            )
    return entries


def _post_label(path: Path) -> float | None:
    name = path.name.lower()
    for prefix, label in POST_PREFIXES.items():
        if name.startswith(prefix) and _is_image(path):
            return label
    return None


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")
"""Pillow's modes of 16-bit grayscale images (``I``: as older Pillow opens 16-bit PNGs)."""


def _decode(path: Path) -> np.ndarray:
    """Decode one image as RGB scaled to [0, 1], (height, width, 3) float64.

    8-bit images are divided by 255 (``np.asarray(im.convert("RGB")) / 255``); 16-bit
    grayscale images (PNG) by 65535, their gray level copied to the three channels, so no
    bit is clipped. Only regular files are opened (a FIFO would block).
    """
    from PIL import Image

    try:
        with open_regular(path, "image") as f, Image.open(f) as im:
            if im.mode in SIXTEEN_BIT:
                gray = np.asarray(im, dtype=np.float64)
                if gray.min() < 0 or gray.max() > 65535:
                    raise DataError(
                        f"image {path} holds {im.mode} values outside 0..65535; initlab "
                        "reads 8-bit and 16-bit images"
                    )
                return np.repeat(gray[:, :, None] / 65535.0, 3, axis=2)
            return np.asarray(im.convert("RGB")) / 255.0  # convert() forces the lazy decode
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read image {path}: {exc}") from None
    except InitlabError as exc:
        raise DataError(str(exc)) from None


def _check_size(files: list[Path]) -> tuple[int, int]:
    """Width and height of the first image (its header only); refuse, before decoding any,
    a folder whose images would not fit in memory as float64 (count x size x 3 x 8 bytes)."""
    from PIL import Image

    try:
        with open_regular(files[0], "image") as f, Image.open(f) as im:
            w, h = im.size
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {files[0]}: {exc}") from None
    except InitlabError as exc:
        raise DataError(str(exc)) from None
    need = 8 * 3 * w * h * len(files) + 16 * 3 * w * h
    check_memory(need, f"{len(files):,} images of {w}x{h} pixels ({files[0].parent})",
                 "Use fewer or smaller images.")  # fmt: skip
    return w, h


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
    """Decode `files` into a preallocated ``(n_features, m)`` matrix, each image scaled by
    its bit depth (:func:`_decode`), after checking the matrix fits in memory."""
    _check_size(files)
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
    return X, first.shape
