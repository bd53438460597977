"""The ``initlab`` command. The CLI is the only part of initlab that prints.

Each subcommand lives in a module of this package with two functions:
``add_parser(subparsers)`` registers its arguments and ``run(args) -> int`` carries it out.
Errors of initlab's own (bad input) and failed writes (:class:`OSError`: a full disk, a
missing permission) are printed as one line, without a traceback. ``--max-memory SIZE``
is the limit every memory estimate is checked against (:mod:`initlab._limits`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from initlab._validation import InitlabError

# subcommand name -> module (relative to this package), in the order `--help` lists them
SUBCOMMANDS = {
    "run": "run",
    "reproduce": "reproduce",
    "data": "data",
    "inits": "inits",
    "theory": "theory",
    "report": "report",
    "sweep": "sweep",
    "results": "results",
    "scaling": "scaling",
    "playground": "playground",
    "audit": "audit",
    "verify": "verify",
}


def _available_modules():
    for name, module in SUBCOMMANDS.items():
        try:
            yield name, importlib.import_module(f".{module}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise


class Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line (``initlab CMD: error: ...``), exit 2.

    argparse prints the usage before the error; a bad option value is then two or more lines
    where every other bad input is one. The usage stays one ``--help`` away. Subcommands'
    parsers are of this class too (``add_subparsers`` makes them of the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from initlab._version import __version__

    parser = Parser(
        prog="initlab",
        description="Study how parameter initialization shapes neural-network training.",
    )
    parser.add_argument("--version", action="version", version=f"initlab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="BLAS threads for linear algebra outside training (default: as configured, "
        "e.g. by OPENBLAS_NUM_THREADS). Training, LSUV and sweeps always use one BLAS thread "
        "per training thread (see run --jobs), so results never depend on it",
    )
    parser.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory a command may plan to use, e.g. 8G (default: the memory available now; "
        "also INITLAB_MAX_MEMORY); larger work is refused before it starts",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for _, module in _available_modules():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``initlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1; got {args.threads}")
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)
    from initlab import _limits

    try:
        with _limits.max_memory(args.max_memory):
            return int(args.func(args) or 0)
    except InitlabError as exc:
        print(f"initlab {args.command}: error: {_limits.clip(str(exc))}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:  # a guard's estimate fell short: one line
        what = "out of memory" if isinstance(exc, MemoryError) else "input nested too deeply"
        print(f"initlab {args.command}: error: {what} (please report this input)", file=sys.stderr)
        return 1
    except OSError as exc:  # a write the up-front checks could not foresee
        if isinstance(exc, BrokenPipeError):
            sys.stdout = open(os.devnull, "w")
            return 0
        from initlab.cli._outputs import reason

        print(f"initlab {args.command}: error: {reason(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"initlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
