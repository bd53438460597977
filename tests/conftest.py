"""Shared fixtures: where the real datasets live, and small synthetic problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

# One BLAS thread for the whole session: on a shared 2-core machine, multi-threaded OpenBLAS
# calls slow down by orders of magnitude when another process competes for the cores
# (BENCHMARKS.md), and single-threaded results are the same numbers.
_BLAS_DEFAULT_THREADS = max((p["num_threads"] for p in threadpool_info()), default=1)
_BLAS_LIMIT = threadpool_limits(limits=1)


@pytest.fixture
def default_blas_threads():
    """Within the test, BLAS uses its own default thread count, as the CLI does."""
    with threadpool_limits(limits=_BLAS_DEFAULT_THREADS):
        yield _BLAS_DEFAULT_THREADS


REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def _dataset_dir(name: str) -> Path:
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(
            f"real dataset {name!r} not found at {path}: these tests need ../shared/datasets "
            "beside the repository (CI always has it)"
        )
    return path


@pytest.fixture(scope="session")
def cats_vs_dogs_dir() -> Path:
    """The post's 100 images (../shared/datasets/cats-vs-dogs)."""
    return _dataset_dir("cats-vs-dogs")


@pytest.fixture(scope="session")
def catvnoncat_dir() -> Path:
    """The catvnoncat HDF5 files (../shared/datasets/catvnoncat)."""
    return _dataset_dir("catvnoncat")


@pytest.fixture(scope="session")
def cats_vs_dogs(cats_vs_dogs_dir):
    """The post's data loaded once per session: X (67500, 100), Y (1, 100)."""
    from initlab import data

    return data.load(cats_vs_dogs_dir)


@pytest.fixture
def blobs():
    """A small, separable-ish binary problem: X (6, 40), Y (1, 40)."""
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((6, 40))
    Y = (X[0:1] + 0.5 * X[1:2] > 0).astype(float)
    return X, Y
