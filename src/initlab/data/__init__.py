"""Data sets: image folders, HDF5, NPZ, bundled sets, splits, and the verified fetch."""

from initlab.data.download import DEFAULT_BASE_URL, FETCHABLE, cache_dir, fetch, locate
from initlab.data.loaders import (
    BUNDLED,
    Dataset,
    describe_bundled,
    load,
    load_bundled,
    load_hdf5,
    load_image_folder,
    load_npz,
    resolve_source,
    split,
)

__all__ = [
    "BUNDLED",
    "DEFAULT_BASE_URL",
    "FETCHABLE",
    "Dataset",
    "cache_dir",
    "describe_bundled",
    "fetch",
    "load",
    "load_bundled",
    "load_hdf5",
    "load_image_folder",
    "load_npz",
    "locate",
    "resolve_source",
    "split",
]
