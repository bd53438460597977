r"""The JAX peer of the trainability map: run by ``bench_studies.py --jax-python PATH`` in an
interpreter that has JAX (never initlab's environment), on the arrays that script saved.

    PATH benchmarks/_jaxstudy.py FILE.npz [FILE.npz ...]

Each file is one depth's population: ``W0..W{L}`` (K, n_l, n_{l-1}), ``b0..b{L}`` (K, n_l, 1),
``X`` (n_0, m), one-hot ``Y`` (n_L, m), ``cols`` (T, B) the column indices of every step
padded to the largest batch, ``count`` (T,) the true batch sizes, ``lr``, ``activation``.
The step is initlab's: :math:`Z_l = W_l \phi(Z_{l-1}) + b_l`, softmax cross-entropy averaged
over the batch's columns (padded columns weigh 0), plain SGD; ``jax.vmap`` over members,
``jax.lax.scan`` over steps, ``jax.jit`` over the whole run, float64 (``jax_enable_x64``),
one thread. Prints one JSON line: per file the step-0 costs, and the seconds of the first
call (tracing and compilation included) and of a second call (compiled).
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
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
ACTS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def run(path: str) -> dict:
    d = np.load(path)
    L = sum(1 for k in d.files if k.startswith("W"))
    params = tuple([jnp.asarray(d[f"{k}{l}"]) for l in range(L)] for k in "Wb")
    X, Y, cols, count = (jnp.asarray(d[k]) for k in ("X", "Y", "cols", "count"))
    lr, phi = float(d["lr"]), ACTS[str(d["activation"])]
    weight = (jnp.arange(cols.shape[1])[None, :] < count[:, None]).astype(X.dtype)  # (T, B)

    def cost(p, XB, YB, w):
        Ws, bs = p
        Z = Ws[0] @ XB + bs[0]
        for W, b in zip(Ws[1:], bs[1:], strict=True):
            Z = W @ phi(Z) + b
        ce = -(YB * jax.nn.log_softmax(Z, axis=0)).sum(axis=0)
        return (ce * w).sum() / w.sum()

    def member_step(p, XB, YB, w):
        J, g = jax.value_and_grad(cost)(p, XB, YB, w)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), J

    step = jax.vmap(member_step, in_axes=(0, None, None, None))

    @jax.jit
    def train(p):
        def body(p, t):
            XB, YB = X[:, cols[t]], Y[:, cols[t]]
            return step(p, XB, YB, weight[t])

        return jax.lax.scan(body, p, jnp.arange(cols.shape[0]))

    t0 = time.perf_counter()
    _, J = jax.block_until_ready(train(params))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(train(params))
    return {"J0": np.asarray(J[0]).tolist(), "first": first, "compiled": time.perf_counter() - t0}


if __name__ == "__main__":
    print(json.dumps({"jax": jax.__version__, "runs": [run(p) for p in sys.argv[1:]]}))
