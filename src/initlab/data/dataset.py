r"""The :class:`Dataset` container of initlab's data layout, and its stratified :func:`split`.

Layout: ``X`` is ``(n_features, m)`` float64 with one example per column, ``Y`` is ``(1, m)``
float64 holding integer class labels ``0 .. C-1``. The loaders that make a Dataset from a
path or a name are in :mod:`initlab.data.loaders`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab._validation import DataError, check_number


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

    def one_hot(self) -> np.ndarray:
        """The labels as one-hot columns, ``(C, m)`` float64 (a softmax head's targets)."""
        return np.ascontiguousarray(np.eye(self.n_classes)[:, self.Y[0].astype(np.intp)])

    @property
    def n_features(self) -> int:
        return self.X.shape[0]

    @property
    def n_examples(self) -> int:
        return self.X.shape[1]


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


def sample(dataset: Dataset, n_examples: int, seed: int = 0) -> Dataset:
    """`n_examples` of `dataset`'s examples drawn without replacement, in their order.

    The columns ``sort(default_rng(seed).permutation(m)[:n_examples])`` (the width-scaling
    studies' data, :func:`initlab.data.digits`).
    """
    n_examples = check_number("n_examples", n_examples, low=1, high=dataset.n_examples,
                              integer=True)  # fmt: skip
    seed = check_number("seed", seed, low=0, integer=True)
    idx = np.sort(np.random.default_rng(seed).permutation(dataset.n_examples)[:n_examples])
    return Dataset(
        X=np.ascontiguousarray(dataset.X[:, idx]),
        Y=dataset.Y[:, idx],
        name=f"{idx.size} examples (seed {seed}) of {dataset.name}",
        example_ids=tuple(dataset.example_ids[j] for j in idx),
        image_shape=dataset.image_shape,
        classes=dataset.classes,
    )


def _subset(dataset: Dataset, idx: np.ndarray, part: str, seed: int) -> Dataset:
    return Dataset(
        X=dataset.X[:, idx],
        Y=dataset.Y[:, idx],
        name=f"{part} part (seed {seed}, {idx.size} examples) of {dataset.name}",
        example_ids=tuple(dataset.example_ids[j] for j in idx),
        image_shape=dataset.image_shape,
        classes=dataset.classes,
    )
