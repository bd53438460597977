"""Data sets: image folders, HDF5, NPZ, bundled sets, splits, and the verified fetch."""

from initlab.data.arrays import load_hdf5, load_npz
from initlab.data.dataset import Dataset, sample, split
from initlab.data.download import DEFAULT_BASE_URL, FETCHABLE, cache_dir, fetch, locate
from initlab.data.images import load_image_folder
from initlab.data.loaders import (
    BUNDLED,
    describe_bundled,
    digits,
    load,
    load_bundled,
    resolve_source,
)

__all__ = [
    "BUNDLED",
    "DEFAULT_BASE_URL",
    "FETCHABLE",
    "Dataset",
    "cache_dir",
    "describe_bundled",
    "digits",
    "fetch",
    "load",
    "load_bundled",
    "load_hdf5",
    "load_image_folder",
    "load_npz",
    "locate",
    "resolve_source",
    "sample",
    "split",
]
