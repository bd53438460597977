"""Generate tests/reference/nt_kernels.npz: neural-tangents' NNGP and NTK of small MLPs.

neural-tangents needs JAX, which initlab does not depend on; so its kernels are computed
once, by this script, in a separate virtual environment, and the arrays are committed.
Made with neural-tangents 0.6.5, jax and jaxlib 0.4.30 (CPU) and tf2jax 0.3.6 (installed
without its dependencies: neural-tangents 0.6.5 imports it, and later versions of jax removed
``jax.core.Jaxpr``, which it needs), Python 3.11::

    python -m venv /work/venv-nt
    /work/venv-nt/bin/pip install neural-tangents "jax[cpu]==0.4.30"
    /work/venv-nt/bin/pip uninstall -y tf2jax && /work/venv-nt/bin/pip install --no-deps tf2jax==0.3.6
    /work/venv-nt/bin/python tests/reference/make_nt_kernels.py

Each case is ``stax.serial(Dense(n, W_std, b_std, parameterization=p), Act(), Dense(n, ...),
Act(), Dense(1, ...))`` (three dense layers, two hidden layers of width n = 512; the width
matters only for ``"standard"``) with Act in relu, erf (``stax.Erf()``: erf(x)) and leaky
relu of slope 0.2, between X1 (5 examples) and X2 (4 examples) of 6 features drawn from a
standard normal by numpy's ``default_rng(2026)``, in float64 (``jax_enable_x64``). Stored
per case ``<act>-<p>-nngp`` and ``<act>-<p>-ntk`` (5, 4), with ``X1``, ``X2`` (initlab's
layout: one column per example) and the constants ``W_std``, ``b_std``, ``width``.
"""

from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from neural_tangents import stax  # noqa: E402

W_STD, B_STD, WIDTH = 1.3, 0.4, 512
ACTS = {"relu": stax.Relu, "erf": stax.Erf, "leaky_relu": lambda: stax.LeakyRelu(0.2)}


def main() -> None:
    rng = np.random.default_rng(2026)
    X1, X2 = rng.standard_normal((5, 6)), rng.standard_normal((4, 6))  # NT: rows are examples
    out = {"X1": X1.T, "X2": X2.T, "W_std": W_STD, "b_std": B_STD, "width": WIDTH}
    for name, act in ACTS.items():
        for p in ("ntk", "standard"):
            dense = [stax.Dense(n, W_STD, B_STD, parameterization=p) for n in (WIDTH, WIDTH, 1)]
            _, _, kernel_fn = stax.serial(dense[0], act(), dense[1], act(), dense[2])
            k = kernel_fn(X1, X2, ("nngp", "ntk"))
            out[f"{name}-{p}-nngp"] = np.asarray(k.nngp, dtype=np.float64)
            out[f"{name}-{p}-ntk"] = np.asarray(k.ntk, dtype=np.float64)
    path = Path(__file__).with_name("nt_kernels.npz")
    np.savez(path, **out)
    print(f"wrote {path}: {sorted(out)}")


if __name__ == "__main__":
    main()
