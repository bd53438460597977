r"""The neural-tangents peer of initlab's kernels: run by ``bench_theory.py --nt-python PATH``
in an interpreter that has neural-tangents and JAX (never initlab's environment).

    PATH benchmarks/_ntkernels.py IN.npz OUT.npz

``IN.npz`` holds ``X`` (n_0, m) (initlab's layout, one column per example), ``activation``
(``relu`` or ``erf``), ``w2``, ``b2`` and ``widths`` (the hidden widths). The network is
``stax.serial(Dense(n_1, W_std, b_std), Act(), ..., Dense(1, W_std, b_std))`` with
``W_std = sqrt(w2)``, ``b_std = sqrt(b2)``, ``parameterization="ntk"``: initlab's
:func:`initlab.analysis.kernels.mlp_kernels` with ``init = N(0, w2 / fan_in)`` and
``sigma_b2 = b2`` (the same recursion, closed forms for both activations). Its
``kernel_fn(x, None, ("nngp", "ntk"))`` is jitted, float64 (``jax_enable_x64``), one thread;
``OUT.npz`` receives the two kernels, stdout one JSON line with the seconds of the first call
(tracing and compilation included) and of a second call (compiled).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import jax
import numpy as np
from neural_tangents import stax

jax.config.update("jax_enable_x64", True)
ACTS = {"relu": stax.Relu, "erf": stax.Erf}


def main(inp: str, out: str) -> None:
    d = np.load(inp)
    W_std, b_std = float(np.sqrt(d["w2"])), float(np.sqrt(d["b2"]))
    layers = []
    for n in d["widths"]:
        layers += [stax.Dense(int(n), W_std, b_std, parameterization="ntk"),
                   ACTS[str(d["activation"])]()]  # fmt: skip
    layers.append(stax.Dense(1, W_std, b_std, parameterization="ntk"))
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    x = jax.numpy.asarray(d["X"].T)  # neural-tangents: one row per example
    t0 = time.perf_counter()
    k = jax.block_until_ready(kernel_fn(x, None, get=("nngp", "ntk")))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    k = jax.block_until_ready(kernel_fn(x, None, get=("nngp", "ntk")))
    compiled = time.perf_counter() - t0
    np.savez(out, nngp=np.asarray(k[0]), ntk=np.asarray(k[1]))
    print(json.dumps({"jax": jax.__version__, "first": first, "compiled": compiled}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
