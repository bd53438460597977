"""``initlab data``: fetch the post's images, list datasets, describe a data source.

``initlab data fetch [NAME] [--cache DIR] [--base-url URL] [--quiet]``
    download and verify a fetchable dataset; prints the folder it is in.
``initlab data list``
    the bundled datasets and the fetchable ones (and whether they are cached).
``initlab data info SOURCE [--x-key K] [--y-key K]``
    load anything :func:`initlab.data.loaders.load` accepts and describe it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from initlab import data
from initlab.data.download import Progress

_DESCRIPTION = "Fetch the post's images, list the datasets, describe a data source."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="fetch, list and describe datasets", description=_DESCRIPTION
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("fetch", help="download and verify a dataset into the cache")
    p.add_argument("name", nargs="?", default="cats-vs-dogs", choices=data.FETCHABLE)
    p.add_argument("--cache", metavar="DIR", help="cache root (default: $INITLAB_DATA, ...)")
    p.add_argument("--base-url", metavar="URL", default=data.DEFAULT_BASE_URL)
    p.add_argument("--quiet", action="store_true", help="no progress bar; print only the folder")

    sub.add_parser("list", help="list bundled and fetchable datasets")

    p = sub.add_parser("info", help="describe a folder, .h5/.npz file or dataset name")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--x-key", help="array of features in an HDF5/npz file")
    p.add_argument("--y-key", help="array of labels in an HDF5/npz file")

    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    actions = {"fetch": _fetch, "list": _list, "info": _info}
    return actions[args.data_command](args)


@contextmanager
def _progress_bar(show: bool, name: str) -> Iterator[Progress | None]:
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    with RichProgress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"fetching {name}", total=None)

        def update(done: int, total: int, file: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{name}: {file}")

        yield update


def _fetch(args: argparse.Namespace) -> int:
    from initlab.cli._common import progress_bar

    show = not args.quiet and sys.stderr.isatty()
    lines = progress_bar(f"fetching {args.name}", args.quiet, unit="files")
    with _progress_bar(show, args.name) if show else lines as bar:
        progress = bar if show or bar is None else lambda done, total, file: bar(done, total)
        folder = data.fetch(args.name, cache=args.cache, base_url=args.base_url, progress=progress)
    if args.quiet:
        print(folder)
    else:
        print(f"{args.name} is ready in {folder}")
    return 0


def _list(args: argparse.Namespace) -> int:
    print("bundled (work offline):")
    for name in data.BUNDLED:
        print(f"  {name:<14} {data.describe_bundled(name)}")
    print(f"fetchable (initlab data fetch NAME; cache root {data.cache_dir()}):")
    for name in data.FETCHABLE:
        folder = data.locate(name)
        state = f"cached in {folder}" if folder else "not cached"
        print(f"  {name:<14} {state}")
    return 0


def _classes(names: tuple[str, ...], n: int) -> str:
    """``"2 (0=dog, 1=cat)"``; just the count when class c is named ``"c"``."""
    if not names or names == tuple(str(c) for c in range(n)):
        return str(n)
    return f"{n} ({', '.join(f'{i}={c}' for i, c in enumerate(names))})"


def _info(args: argparse.Namespace) -> int:
    ds = data.load(args.source, x_key=args.x_key, y_key=args.y_key)
    m = ds.n_examples
    counts = ds.class_counts()
    order = [1, 0] if len(counts) == 2 else range(len(counts))  # binary: positives first
    balance = ", ".join(f"label {c}: {counts[c]} ({counts[c] / m:.1%})" for c in order)
    shape = " x ".join(map(str, ds.image_shape)) if ds.image_shape else "not images"
    rows = {
        "source": ds.name,
        "n_features": ds.n_features,
        "n_examples": m,
        "classes": _classes(ds.classes, len(counts)),
        "class balance": balance,
        "image shape": shape,
        "value range": f"[{ds.X.min():.4g}, {ds.X.max():.4g}]",
    }
    for key, value in rows.items():
        print(f"{key:<14} {value}")
    return 0
