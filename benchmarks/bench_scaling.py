r"""Width ladder: what a coordinate check costs per width, up to 4096.

Runs :func:`initlab.studies.scaling.coord_check` with the CLI's defaults (SP, NTK and muP; a
ReLU MLP 64 -> n -> n -> n -> 10; 4 seeds as one population; 2 SGD steps on 128 digits, so
three forward and backward passes) over widths 64 .. ``--max-width`` and prints, per width,
the seconds of each parametrization, the flops of one parametrization (forward ``2 m K
(64 n + 2 n^2 + 10 n)``, backward twice that) and the rate, with the load average before and
after: on a shared machine the load sets the rate.

    python benchmarks/bench_scaling.py [--max-width 4096]
"""

from __future__ import annotations

from _common import header, load, parser, set_threads


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--max-width", type=int, default=4096)
    args = p.parse_args()
    set_threads(args.threads)
    from initlab.studies import scaling

    header("coordinate-check width ladder", args.threads)
    top = 128 if args.smoke else args.max_width  # smoke: two small widths, seconds
    widths = [n for n in (64, 128, 256, 512, 1024, 2048, 4096, 8192) if n <= top]
    print(f"load before: {load()}")
    result = scaling.coord_check(widths, base_width=64)
    print(f"load after:  {load()}")
    m, K, T = result.settings["n_examples"], len(result.seeds), len(result.steps)
    print(
        f"{'width':>6} "
        + " ".join(f"{p:>8}" for p in result.parametrizations)
        + "  GFlop/p  GFlop/s"
    )
    for n in widths:
        secs = [result.seconds[f"{p}/{n}"] for p in result.parametrizations]
        gflop = 3 * 2 * m * K * T * (64 * n + 2 * n * n + 10 * n) / 1e9
        rate = gflop * len(secs) / sum(secs)
        print(f"{n:>6} " + " ".join(f"{s:>8.2f}" for s in secs) + f"  {gflop:>7.1f}  {rate:>7.2f}")


if __name__ == "__main__":
    main()
