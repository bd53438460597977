r"""The playground's data: generated sets (Gaussian inputs, 2-D toys) and named ones.

Generated sets are a function of their settings and seed, so a spec can name them as an
``.npz`` file that :func:`write_npz` writes (the page's "data file" link serves the same
bytes) and ``initlab run`` reads (:func:`initlab.data.load_npz`: ``X`` examples first,
``y`` integer labels).

- ``gaussian``: :math:`X_{i\mu} \sim N(0, 1)`, ``(width, m)``, labels 0/1 drawn with
  probability 1/2 each (their only use is the loss whose gradient is back-propagated);
- ``circles``, ``moons``: scikit-learn's ``make_circles(m, noise=noise, factor=0.5,
  random_state=seed)`` and ``make_moons(m, noise=noise, random_state=seed)``;
- ``spirals``: two interleaved arms (scikit-learn has no spirals), for arm
  :math:`c \in \{0, 1\}` and :math:`t \sim U(0, 1)`: :math:`r = t`,
  :math:`\theta = 4\pi t + c\pi`, :math:`x = r(\cos\theta, \sin\theta) + \text{noise}\,
  \epsilon`, :math:`\epsilon \sim N(0, I_2)`, drawn from ``default_rng(seed)``.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np

from initlab import data as _data
from initlab._validation import DataError
from initlab.playground.settings import NAMED, TOYS, Settings


def generate(kind: str, m: int, noise: float, seed: int, n0: int = 2) -> _data.Dataset:
    """The generated set `kind` (``gaussian`` or one of :data:`TOYS`) in initlab's layout."""
    if kind == "gaussian":
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n0, m))
        Y = (rng.random((1, m)) < 0.5).astype(np.float64)
        Y[0, :2] = (0.0, 1.0)  # both classes present, whatever the draw
    elif kind in TOYS:
        x, y = _toy(kind, m, noise, seed)
        X, Y = np.ascontiguousarray(x.T), y.astype(np.float64).reshape(1, m)
    else:
        raise DataError(f"unknown generated data {kind!r}; valid: gaussian, {', '.join(TOYS)}")
    return _data.Dataset(X=X, Y=Y, name=f"{file_name(kind, m, noise, seed, n0)} (generated)",
                         example_ids=tuple(f"row {j}" for j in range(m)))  # fmt: skip


def _toy(kind: str, m: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as sk

    if kind == "circles":
        return sk.make_circles(m, noise=noise, factor=0.5, random_state=seed)
    if kind == "moons":
        return sk.make_moons(m, noise=noise, random_state=seed)
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    t = rng.random(m)
    theta = 4 * np.pi * t + np.pi * y
    x = t[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return x + noise * rng.standard_normal((m, 2)), y


def file_name(kind: str, m: int, noise: float, seed: int, n0: int = 2) -> str:
    """The ``.npz`` name a spec gives a generated set (its settings, readable)."""
    if kind == "gaussian":
        return f"gaussian-{n0}x{m}-seed{seed}.npz"
    return f"{kind}-{m}-noise{noise:g}-seed{seed}.npz"


def npz_bytes(ds: _data.Dataset) -> bytes:
    """`ds` as the ``.npz`` that :func:`initlab.data.load_npz` reads (``X`` (m, n0), ``y``)."""
    buf = io.BytesIO()
    np.savez(buf, X=ds.X.T, y=ds.Y.ravel().astype(np.int64))
    return buf.getvalue()


def write_npz(path: str | os.PathLike, kind: str, m: int, noise: float, seed: int,
              n0: int = 2) -> Path:  # fmt: skip
    """Write generated set `kind` to `path` (the file a copied spec names)."""
    path = Path(path)
    path.write_bytes(npz_bytes(generate(kind, m, noise, seed, n0)))
    return path


def source(settings: Settings) -> tuple[str, bool]:
    """``(data.train of the spec, generated?)`` for a view's input."""
    v = settings.values
    if v["input"] in NAMED:
        return v["input"], False
    return file_name(v["input"], v["examples"], v["noise"], v["data_seed"], v["width"]), True


def load(settings: Settings) -> _data.Dataset:
    """A view's examples: generated, or loaded by :func:`initlab.data.load` (DataError
    naming the set when it is not available, e.g. cats-vs-dogs not fetched)."""
    v = settings.values
    if v["input"] in NAMED:
        return _named(v["input"])
    return generate(v["input"], v["examples"], v["noise"], v["data_seed"], v["width"])


@functools.lru_cache(maxsize=2)
def _named(name: str) -> _data.Dataset:
    """A named set, loaded once per process (the post's 100 images take a second to decode)."""
    return _data.load(name)


def available() -> list[str]:
    """The named sets present on this machine (cats-vs-dogs only once fetched)."""
    return ["digits"] + [n for n in NAMED[1:] if _data.locate(n) is not None]
