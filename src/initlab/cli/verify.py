"""``initlab verify``: check on this machine the published numbers initlab reproduces.

Prints ``claim | published | this machine | verdict``, one row per claim as it is checked
(:mod:`initlab.studies.verify`; the PyTorch parity row when torch is installed,
:mod:`initlab.torch.parity`), and exits 0 when every claim holds, 1 otherwise. The post's
claims need its images (``--data``, else the fetched cats-vs-dogs); without them they are
not checked, and the command says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from initlab.cli._common import console, err_console, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    from initlab.studies.post import REPLICAS

    p = sub.add_parser(
        "verify",
        help="check the published numbers initlab reproduces, on this machine (~1 min)",
        description="Check the post's zeros/random digits and its He/Xavier verdict over "
        "replicas, Schoenholz et al.'s critical line and depth scales, Glorot's and He's "
        "variance ratios, the Jacobian spectra of Gaussian and orthogonal products, Saxe's "
        "deep linear learning times, the muP coordinate check, and parity with PyTorch "
        "(when installed). Exit status 0 when every claim holds.",
    )
    p.add_argument("--data", help="the post's image folder (default: the fetched cats-vs-dogs)")
    p.add_argument(
        "--replicas",
        type=positive_int,
        default=REPLICAS,
        metavar="N",
        help=f"replicas of the post's runs for its verdicts (default {REPLICAS})",
    )
    p.add_argument("--quick", action="store_true",
                   help="leave out the two slowest checks (Saxe's, muP's)")  # fmt: skip
    p.set_defaults(func=run)


def _post_data(given: str | None) -> str | None:
    from initlab.data import download as fetch

    if given is not None:
        return given
    cached = fetch.locate("cats-vs-dogs")
    return None if cached is None else str(cached)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table
    from threadpoolctl import threadpool_limits

    from initlab.results.provenance import describe, provenance
    from initlab.studies import verify as V

    data = _post_data(args.data)
    console.print(describe(provenance()))
    if data is None:
        err_console.print(
            "initlab verify: the post's images are not in the cache: its claims are not "
            "checked (fetch them with `initlab data fetch cats-vs-dogs`, or pass --data DIR)"
        )
    table = Table(title="initlab verify", title_justify="left")
    for col in ("claim", "published", "this machine", "verdict"):
        table.add_column(col, overflow="fold")
    start, found = time.perf_counter(), []
    with threadpool_limits(limits=1, user_api="blas"):  # same bits, no oversubscription
        checks = list(V.claims(data, replicas=args.replicas, quick=args.quick))
        if importlib.util.find_spec("torch") is not None:
            from initlab.torch.parity import torch_parity_claim

            checks.append(torch_parity_claim())
    for c in checks:
        found.append(c.holds)
        table.add_row(c.claim, c.published, c.measured, c.verdict)
    console.print(table)
    n_ok = sum(found)
    console.print(f"{n_ok} of {len(found)} claims hold ({time.perf_counter() - start:.0f} s)")
    return 0 if all(found) else 1
