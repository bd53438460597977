"""Signal-propagation studies give the same bits at any BLAS thread count.

Without pinning, OpenBLAS splits the products of width-400 matrices differently at 1 and 2
threads and the singular values and correlations differ in their last bits; the studies run
their linear algebra on one BLAS thread, as training does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

STUDY = """
import json
from initlab.analysis.jacobian import jacobian_spectra
from initlab.analysis.propagation import study_correlations
j = jacobian_spectra("tanh", 1.0, 1e-4, depths=(1, 4), width=400, members=2, seed=3)
o = jacobian_spectra("tanh", 1.0, 1e-4, depths=(1, 4), width=400, weights="orthogonal", seed=3)
c = study_correlations("tanh", 1.0, 1e-4, depth=4, width=400, members=2, seed=3)
print(json.dumps({"jacobian": j.as_dict(), "orthogonal": o.as_dict(), "correlation": c.as_dict()}))
"""


def _run(threads: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", STUDY], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_jacobian_and_correlation_studies_are_bitwise_the_same_at_1_and_2_threads():
    one, two = _run(1), _run(2)
    assert one["jacobian"] == two["jacobian"]  # every float, exactly
    assert one["orthogonal"] == two["orthogonal"]  # SciPy's LAPACK (geqrt, gemqrt) too
    assert one["correlation"] == two["correlation"]
