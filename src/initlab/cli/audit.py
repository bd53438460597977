"""``initlab audit MODULE:FACTORY``: audit a PyTorch model's initialization.

``FACTORY`` is a function of ``MODULE`` (imported from the working directory or the Python
path) returning ``(model, batch)`` or ``(model, batch, loss_fn)``; see
:func:`initlab.torch.audit`. Prints the audit and writes ``audit.json`` for
``initlab report``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.cli._common import console, positive_int
from initlab.cli._outputs import check_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="audit a PyTorch model's initialization, layer by layer, and propose a fix",
        description="Import FACTORY from MODULE (the working directory is on the path), call "
        "it for (model, batch) or (model, batch, loss_fn), and measure at initialization "
        "each layer's forward second moment, gradient, dead and saturated fractions, the "
        "residual stream and the input-output Jacobian, beside mean-field theory; give a "
        "verdict per layer and a fix as initlab.torch.apply rules, checked on a copy.",
    )
    p.add_argument("factory", metavar="MODULE:FACTORY", help="e.g. mymodels:make_resnet")
    p.add_argument("--out", type=Path, help="directory for audit.json (default: none)")
    p.add_argument(
        "--probes",
        type=positive_int,
        default=4,
        help="random vectors of the Jacobian-gain estimate (default 4)",
    )
    p.add_argument(
        "--power-iters",
        type=positive_int,
        default=20,
        help="power-iteration steps for the largest singular value (default 20)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the probes and the fix")
    p.add_argument("--no-fix", action="store_true", help="do not propose and check a fix")
    p.set_defaults(func=run)


def load_factory(spec: str) -> Any:
    """The callable named by ``MODULE:FACTORY``, or an InitlabError in one line."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InitlabError(f"the factory must be given as module:factory; got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InitlabError(f"cannot import module {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InitlabError(f"module {module_name!r} has no callable {attr!r}")
    return factory


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_dir(args.out, need=1_000_000)  # before any work
    factory = load_factory(args.factory)
    made = factory()
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        raise InitlabError(
            f"{args.factory} must return (model, batch) or (model, batch, "
            f"loss_fn); got {type(made).__name__}"
        )
    from initlab.torch import audit

    result = audit(*made, fix=not args.no_fix, probes=args.probes,
                   power_iters=args.power_iters, seed=args.seed)  # fmt: skip
    console.print(str(result), markup=False)
    if args.out is not None:
        console.print(f"wrote {result.write(args.out)}", markup=False)
    return 0
