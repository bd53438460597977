"""``initlab inits``: the initializer catalogue, and one scheme sampled against its theory.

``initlab inits`` lists every registered scheme on one line: name, distribution, variance or
bounds, and the framework function it matches. ``initlab inits NAME --shape 256 128``
draws one weight and prints its mean, std, min and max beside the theoretical values.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from initlab._limits import NATURAL, POSITIVE_INT, check_memory, check_options
from initlab._rng import STREAMS, make_rng
from initlab._validation import InitlabError
from initlab.init import catalogue as initializers


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inits",
        help="list the initializer catalogue, or sample one scheme against its theory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", help="a scheme to sample (omit to list them all)")
    parser.add_argument(
        "--shape", type=int, nargs="+", default=[256, 128], help="weight shape (out, in, ...)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--stream", choices=STREAMS, default="default", help="random stream")
    parser.add_argument(
        "--param",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="a scheme parameter, e.g. --param gain=2 mode=fan_out",
    )
    parser.set_defaults(func=run)


def parse_value(text: str) -> Any:
    """``"2"`` -> 2, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else the string itself."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_params(items: list[str]) -> dict[str, Any]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InitlabError(f"--param takes KEY=VALUE; got {item!r}")
        params[key] = parse_value(value)
    return params


def catalogue_lines() -> list[str]:
    rows = [(s.name, s.distribution, s.formula, s.equivalent) for s in initializers.catalogue()]
    rows.insert(0, ("name", "distribution", "variance / bounds", "framework"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(f"{c:<{w}}" for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    lines.append("")
    lines.append(
        "lsuv: data-dependent (Mishkin & Matas 2016), not a (shape, rng) scheme: use it in"
    )
    lines.append('a spec as init = {name = "lsuv", tol = 0.1, max_iter = 10}, or from Python')
    lines.append("as initlab.init.lsuv.lsuv_network(layer_sizes, X) or initlab.lsuv(net, X).")
    lines.append(
        "Fans: W is (out, in, *kernel) as in PyTorch; Keras/JAX kernels are (*kernel, in, out):"
    )
    lines.append(
        "convert with initlab.init.catalogue.torch_shape / to_keras, or pass in_axis=-2, "
        "out_axis=-1."
    )
    return lines


def _fmt(x: float) -> str:
    return "unbounded" if math.isinf(x) else f"{x:.6g}"


def sample_lines(
    name: str, shape: tuple[int, ...], seed: int, stream: str, params: dict
) -> list[str]:
    init = initializers.get(name, **params)
    W = init(shape, make_rng(seed, stream))
    theory = init.moments(shape)
    rows = [
        ("mean", W.mean(), theory.mean),
        ("std", W.std(), theory.std),
        ("min", W.min(), theory.low),
        ("max", W.max(), theory.high),
    ]
    axes = {k: v for k, v in init.params.items() if k in ("in_axis", "out_axis", "batch_axis")}
    fans = initializers.compute_fans(shape, **axes)  # as the scheme reads them
    lines = [
        f"{init.name} {dict(init.params)}  shape {shape}  fan_in {fans[0]}  fan_out {fans[1]}  "
        f"seed {seed} ({stream})",
        f"{'':6}{'sample':>14}{'theory':>14}",
    ]
    lines += [f"{label:6}{_fmt(s):>14}{_fmt(t):>14}" for label, s, t in rows]
    lines.append("(theory for min and max: the support's bounds)")
    return lines


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        lines = catalogue_lines()
    else:
        check_options(args, {"shape": POSITIVE_INT, "seed": NATURAL})
        if args.stream == "legacy" and args.seed >= 2**32:
            raise InitlabError(f"--seed must be below 2**32 with --stream legacy; got {args.seed}")
        n = math.prod(args.shape)  # the weight, its draw, QR's factors, the std's squares
        check_memory(5 * 8 * n, f"--shape {' x '.join(map(str, args.shape))} ({n:,} weights)",
                     "Give a smaller --shape.")  # fmt: skip
        params = parse_params(args.param)
        lines = sample_lines(args.name, tuple(args.shape), args.seed, args.stream, params)
    print("\n".join(lines))
    return 0
