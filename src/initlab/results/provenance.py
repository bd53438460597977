r"""Provenance: what decides the bits of a result, recorded with it.

The same spec gives the same bits on one machine at any thread count (training runs its
products on one BLAS thread). What can change them is the software and the hardware that
round: initlab's version, Python's, NumPy's, the BLAS library with its version and the
kernel it picked for this CPU (threadpoolctl's ``threadpool_info``: OpenBLAS names its
kernel ``architecture``, e.g. ``Haswell`` or ``SkylakeX``), the CPU model, the dtype and
the threads. :func:`provenance` gathers them as plain data; ``results.json``
(``"provenance"``), every study JSON and the sweep store (table ``provenance``) keep it.

The process's own BLAS thread count is not recorded: it decides nothing (training uses one
BLAS thread per training thread, ``blas_threads_in_training``), so two runs that differ
only in ``OPENBLAS_NUM_THREADS`` have the same provenance, as they have the same bits.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

BLAS_KEYS = ("internal_api", "prefix", "version", "architecture", "threading_layer")
"""What is kept of each BLAS library threadpoolctl reports."""
DECIDING = ("initlab", "python", "numpy", "blas", "cpu", "machine", "dtype")
"""The fields of a provenance that decide a chaotic run's bits (compared by
:func:`differences`); the rest say where and when."""


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s first ``model name``, else the platform's)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def blas_libraries() -> list[dict[str, Any]]:
    """The BLAS libraries loaded in this process, each as :data:`BLAS_KEYS`, sorted (the
    order they were loaded in varies from run to run: NumPy's and SciPy's OpenBLAS)."""
    import numpy  # noqa: F401  (its BLAS must be loaded to be reported)
    from threadpoolctl import threadpool_info

    info = threadpool_info()
    found = [{k: p.get(k) for k in BLAS_KEYS} for p in info if p.get("user_api") == "blas"]
    return sorted(found, key=lambda lib: [str(lib[k]) for k in BLAS_KEYS])  # not load order


def provenance(*, dtype: str | None = None) -> dict[str, Any]:
    """What decides the bits of a result computed now, in this process.

    Parameters
    ----------
    dtype : str, optional
        The arithmetic's dtype (``"float64"``, ``"float32"``).

    Returns
    -------
    dict
        ``initlab``, ``python``, ``numpy``, ``blas`` (list of :data:`BLAS_KEYS` dicts),
        ``cpu``, ``machine``, ``platform``, ``dtype`` and ``blas_threads_in_training`` (1:
        the threads training runs on, ``machine.training_threads`` of a results file, decide
        nothing, so they are not part of it).
    """
    import numpy as np

    from initlab._version import __version__

    return {
        "initlab": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "blas": blas_libraries(),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "byteorder": sys.byteorder,
        "dtype": dtype,
        "blas_threads_in_training": 1,
    }


def provenance_id(prov: dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of `prov` as canonical JSON (the sweep store's
    key of a provenance)."""
    text = json.dumps(prov, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe(prov: dict[str, Any] | None) -> str:
    """One line: ``initlab 0.1.0, CPython 3.11.7, NumPy 2.1.0, openblas 0.3.31 (SkylakeX),
    Intel(R) Xeon(R) ..., float64``; or that the result has none (made before provenance)."""
    if not prov:
        return "provenance: not recorded (made by an initlab without provenance)"
    blas = (
        ", ".join(
            f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture') or 'kernel ?'})"
            for b in prov.get("blas") or []
        )
        or "no BLAS reported"
    )
    parts = [f"initlab {prov.get('initlab')}", prov.get("python"), f"NumPy {prov.get('numpy')}",
             blas, prov.get("cpu"), prov.get("dtype")]  # fmt: skip
    return "provenance: " + ", ".join(str(p) for p in parts if p)


def differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """The :data:`DECIDING` fields in which two provenances differ, as ``field: A -> B``."""
    a, b = a or {}, b or {}
    return [
        f"{key}: {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}"
        for key in DECIDING
        if a.get(key) != b.get(key)
    ]
