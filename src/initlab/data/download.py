"""Download the post's images into a local cache, verifying every file's SHA-256.

Every fetchable dataset has a manifest in :mod:`initlab.data.manifests` (file name -> size and
pinned SHA-256). :func:`fetch` downloads file ``NAME`` from ``base_url + NAME`` into a temporary
file beside its destination and moves it into place with :func:`os.replace` only once its hash
matches, so the cache never holds a half-written or unverified file under a real name.
The library never prints: it logs to ``logging.getLogger(__name__)`` and reports progress
through an optional callback.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from initlab._limits import regular_file
from initlab._validation import DataError, InitlabError, check_number, shorten, unknown_name
from initlab.data.manifests import MANIFESTS

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/ImadDabbura/blog-posts/master/data/"
"""Where the post's images live: file ``NAME`` is fetched from ``DEFAULT_BASE_URL + NAME``."""

FETCHABLE = tuple(MANIFESTS)
"""Names of the datasets :func:`fetch` can download."""

_TEMP_SUFFIX = ".part"
_CHUNK = 1 << 16

Progress = Callable[[int, int, str], None]
"""``progress(done, total, name)``: called after each file is verified (downloaded or not)."""


def cache_dir() -> Path:
    """Return the root of initlab's data cache.

    ``$INITLAB_DATA`` if set, else ``$XDG_CACHE_HOME/initlab``, else ``~/.cache/initlab``.
    A dataset ``NAME`` lives in ``cache_dir() / NAME``.
    """
    if os.environ.get("INITLAB_DATA"):
        return Path(os.environ["INITLAB_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "initlab"
    return Path.home() / ".cache" / "initlab"


def _manifest(name: str) -> dict[str, tuple[int, str]]:
    if name not in MANIFESTS:
        raise unknown_name("fetchable dataset", name, FETCHABLE)
    return MANIFESTS[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _is_valid(path: Path, size: int, sha256: str) -> bool:
    """True if `path` is a regular file of the pinned size and hash (size checked first)."""
    return path.is_file() and path.stat().st_size == size and _sha256(path) == sha256


def locate(name: str = "cats-vs-dogs", *, cache: str | os.PathLike | None = None) -> Path | None:
    """Return the cached folder of dataset `name` if it is complete and verified, else None.

    Parameters
    ----------
    name : str
        A name in :data:`FETCHABLE`.
    cache : path, optional
        Cache root; default :func:`cache_dir`.

    Returns
    -------
    Path or None
        ``cache / name`` when every file of the manifest is there with its pinned size and
        SHA-256 (hashing the 100 small images takes milliseconds).
    """
    manifest = _manifest(name)
    folder = Path(cache if cache is not None else cache_dir()).expanduser() / name
    ok = all(_is_valid(folder / f, size, sha) for f, (size, sha) in manifest.items())
    return folder if ok else None


def _download(url: str, dest: Path, size: int, sha256: str, timeout: float) -> None:
    """Download `url` to `dest` through a verified temporary file in the same folder,
    reading at most the manifest's `size` bytes plus one (a longer answer is refused)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":  # a FIFO would block the read, a device never end it
        try:
            regular_file(urllib.request.url2pathname(parsed.path), f"{dest.name} at {url}:")
        except InitlabError as exc:
            raise DataError(str(exc)) from None
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=_TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    got = 0
                    while got <= size and (chunk := response.read(min(_CHUNK, size + 1 - got))):
                        got += len(chunk)
                        h.update(chunk)
                        out.write(chunk)
                if got > size:
                    raise DataError(
                        f"{dest.name} from {url} is larger than the manifest's {size:,} bytes; "
                        "the download was stopped and the file not kept"
                    )
            except urllib.error.HTTPError as exc:
                exc.close()  # an HTTPError holds the open response
                raise DataError(
                    f"could not download {dest.name} from {url}: HTTP {exc.code} {exc.reason}"
                ) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DataError(
                    f"could not download {dest.name} from {url}: {reason}; check the network "
                    "or pass another base URL"
                ) from None
        actual = h.hexdigest()
        if actual != sha256:
            raise DataError(
                f"{dest.name} downloaded from {url} has SHA-256 {actual}, expected {sha256}; "
                "the file was not kept"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    name: str = "cats-vs-dogs",
    *,
    cache: str | os.PathLike | None = None,
    base_url: str = DEFAULT_BASE_URL,
    progress: Progress | None = None,
    timeout: float = 30,
) -> Path:
    """Download the missing files of dataset `name` and return its verified folder.

    Files already present with the pinned SHA-256 are kept; missing files are downloaded, and
    a file with a wrong hash is deleted, then downloaded again. A download is written to a
    hidden temporary file (``.NAME.*.part``) in the same folder and moved into place only
    after its hash matches; on any failure (hash mismatch, network error, interruption) the
    temporary file is removed. Concurrent fetches into one cache are safe: each writes its
    own temporary files and :func:`os.replace` is atomic.

    Parameters
    ----------
    name : str
        A name in :data:`FETCHABLE`.
    cache : path, optional
        Cache root; default :func:`cache_dir`. The files go to ``cache / name``.
    base_url : str
        File ``F`` is downloaded from ``base_url + F`` (a missing trailing ``/`` is added).
    progress : callable, optional
        ``progress(done, total, file_name)``, called after each file is verified.
    timeout : float
        Seconds to wait for each connection or read.

    Returns
    -------
    Path
        The dataset's folder, complete.

    Raises
    ------
    DataError
        A download failed (network error, HTTP error) or a downloaded file's hash differs
        from the pinned one (the message names the file and both hashes).
    """
    manifest = _manifest(name)
    check_number("timeout", timeout, low=0, low_open=True)
    _check_base_url(base_url)
    folder = Path(cache if cache is not None else cache_dir()).expanduser() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder {folder}: {exc.strerror}") from None
    base = base_url if base_url.endswith("/") else base_url + "/"
    total = len(manifest)
    for done, (file, (size, sha)) in enumerate(sorted(manifest.items()), start=1):
        _ensure_file(folder / file, size, sha, base + urllib.parse.quote(file), timeout)
        if progress is not None:
            progress(done, total, file)
    return folder


def _check_base_url(url: str) -> None:
    """Refuse a base URL urllib cannot open ('' or 'host/x' were a ValueError traceback)."""
    parts = urllib.parse.urlsplit(url)
    remote = parts.scheme in ("http", "https")
    if not (parts.scheme == "file" or (remote and parts.netloc)):
        raise DataError(f"--base-url {shorten(url, 80)}: expected an http://, https:// or "
                        "file:// URL of the dataset's folder")  # fmt: skip


def _ensure_file(dest: Path, size: int, sha: str, url: str, timeout: float) -> None:
    """Keep `dest` if it matches its pinned size and hash; otherwise download it again."""
    if _is_valid(dest, size, sha):
        log.debug("%s is cached and verified", dest)
        return
    if dest.is_file():
        log.warning("%s does not match its pinned SHA-256; downloading it again", dest)
        dest.unlink()
    log.info("downloading %s", url)
    _download(url, dest, size, sha, timeout)
