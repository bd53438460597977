"""ResMLP's wide products (``nn.residual._product``): written transposed where BLAS rounds
that form alike, they keep the bits of ``np.matmul``; where it does not, the plain product."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from initlab.nn import residual


@pytest.mark.parametrize("n", [1024, 1500])
@pytest.mark.parametrize("transposed", [False, True])
def test_wide_products_have_the_bits_of_matmul(n, transposed):
    """``V u`` (forward) and ``V^T dh`` (backward) at widths 1024 (OpenBLAS's transposed form
    is exact there) and 1500 (it is not: the check must refuse it), 128 columns, 2 members,
    one BLAS thread as in training."""
    rng = np.random.default_rng(5)
    V = rng.standard_normal((2, n, n))
    A = V.swapaxes(-1, -2) if transposed else V
    u = rng.standard_normal((2, n, 128))
    buf = residual._Buffers({}, (2, n, 128), np.dtype(np.float64))
    with threadpool_limits(limits=1, user_api="blas"):
        got = residual._product(A, u, np.empty((2, n, 128)), buf)
        want = np.matmul(A, u)
        key = (n, n, 128, transposed, residual._blas_threads())
    assert got.tobytes() == want.tobytes()
    took = ("T", n, np.dtype(np.float64)) in buf.cache["work"]
    assert took == residual._TRANSPOSED_EXACT[key]
    kernels = {lib.get("architecture") for lib in threadpool_info() if lib["user_api"] == "blas"}
    if n == 1024 and kernels == {"SkylakeX"}:
        assert took  # the fast form is exercised (OpenBLAS's SkylakeX kernels: measured exact)


def test_the_verdict_is_per_blas_thread_count(monkeypatch):
    """The check's verdict is kept per thread count: a product split between two threads may
    order its terms otherwise than on one, as training runs it; a verdict found outside
    training must not decide training's form."""
    monkeypatch.setattr(residual, "_TRANSPOSED_EXACT", {})
    for threads in (2, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            residual._transposed_exact(64, 64, 8, False)
    counts = sorted({max(key[-1]) for key in residual._TRANSPOSED_EXACT})
    assert counts == [1, 2], residual._TRANSPOSED_EXACT


def test_small_or_float32_products_are_plain():
    """Below 2^27 multiply-adds, above 256 columns or in float32: np.matmul itself."""
    rng = np.random.default_rng(1)
    for shape, m, dtype in (((1, 512, 512), 128, np.float64), ((1, 1024, 1024), 300, np.float64),
                            ((1, 1024, 1024), 128, np.float32)):  # fmt: skip
        V, u = rng.standard_normal(shape).astype(dtype), rng.standard_normal((1, shape[1], m))
        u = u.astype(dtype)
        buf = residual._Buffers({}, (1, shape[1], m), np.dtype(dtype))
        got = residual._product(V, u, np.empty((1, shape[1], m), dtype), buf)
        assert got.tobytes() == np.matmul(V, u).tobytes() and not buf.cache["work"]
