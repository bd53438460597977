r"""Content fingerprints of data sources: what a sweep store records to notice changed data.

A source's fingerprint is a SHA-256 hex digest:

- a file (``.npz``, ``.h5``...): of its bytes;
- a folder (an image folder): of, for each file below it sorted by its relative POSIX
  path, the path, a NUL byte and the SHA-256 of the file's bytes, one per line. Renaming,
  adding, removing or editing any file changes it; the folder's own location and the
  files' times do not;
- a bundled dataset (``"digits"``): of ``bundled:<name>:<package> <version>``, since its
  contents come with the package (scikit-learn) that ships it;
- a fetched dataset (``"cats-vs-dogs"``): of its cached folder, as above.

Hashing reads every byte once (about 1 GB/s on one core), so it costs little beside
training on the same data.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from initlab._validation import DataError

CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _folder_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    for rel, path in files:
        h.update(f"{rel}\0{_file_sha256(path)}\n".encode())
    return h.hexdigest()


def fingerprint(source: str | os.PathLike) -> str:
    """SHA-256 (hex) of the contents of data `source`: a path, or a dataset name.

    Raises
    ------
    DataError
        If `source` is neither an existing path nor a known (and fetched) dataset name.
    """
    from initlab.data.download import FETCHABLE, locate
    from initlab.data.loaders import BUNDLED

    name = str(source)
    if name in BUNDLED:
        import sklearn

        tag = f"bundled:{name}:scikit-learn {sklearn.__version__}"
        return hashlib.sha256(tag.encode()).hexdigest()
    path = Path(source)
    if not path.exists() and name in FETCHABLE:
        path = locate(name) or path
    if path.is_file():
        return _file_sha256(path)
    if path.is_dir():
        return _folder_sha256(path)
    raise DataError(f"cannot fingerprint data source {name!r}: no such file, folder or dataset")
