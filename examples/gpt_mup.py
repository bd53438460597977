"""muP on a hand-built GPT with initlab.torch: coordinate checks and learning-rate transfer.

A small decoder-only Transformer (``initlab.torch.models.GPT``: 2 pre-LN blocks, 4 heads,
feed-forward width 4 d_model, learned positions, context 32) learns next characters of the
Zen of Python (856 characters that every Python ships; ``initlab.torch._chars``). The same
model is run in SP (torch's default initialization, attention 1/sqrt(d_head), one learning
rate) and in muP (``initlab.torch.parametrize`` from base shapes at width 32: readout
multiplier 1/r, attention sqrt(8)/d_head, per-tensor Adam learning rates and eps):

1. a coordinate check over widths 32..256 (Adam, lr 0.01, 4 steps, 2 seeds), with verdicts;
2. learning-rate transfer over widths 32, 64, 128 (Adam, 2^-12..2^-4, 100 steps of 16
   windows, 2 seeds), stored in a sweep store (resumable; ``initlab results DIR`` lists it),
   printing each width's optimum and the shift per doubling with a 90% bootstrap interval;
3. figures from the stored results.

    python examples/gpt_mup.py --out results/gpt-mup            # minutes on 2 cores
    python examples/gpt_mup.py --out /tmp/x --quick             # seconds (the test's size)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from initlab import torch as itorch
from initlab.report.scaling import lr_transfer_figure, optimum_table, shift_lines
from initlab.studies.scaling import LrTransfer
from initlab.torch._chars import char_batches, zen_text
from initlab.torch.models import GPT

CONTEXT, HEADS, LAYERS, BASE = 32, 4, 2, 32


def make_builder(vocab: int):
    """``build(parametrization, width, seed)``: a GPT of `width`, SP or muP (base width 32)."""
    shapes = itorch.base_shapes(gpt(vocab, BASE, 0), gpt(vocab, 2 * BASE, 0))

    def build(parametrization: str, width: int, seed: int):
        model = gpt(vocab, width, seed)
        attention = [f"blocks.{i}.attn" for i in range(LAYERS)]
        mult = math.sqrt(BASE // HEADS)  # muP's logits equal SP's at the base width
        return itorch.parametrize(model, shapes, parametrization, attention=attention,
                                  attn_mult=mult)  # fmt: skip

    return build


def gpt(vocab: int, width: int, seed: int) -> GPT:
    return GPT(vocab=vocab, d_model=width, n_heads=HEADS, n_layers=LAYERS, max_len=CONTEXT,
               seed=seed)  # fmt: skip


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def coord_checks(build, batches, widths, steps, seeds, lr):
    """SP and muP coordinate checks over `widths` with Adam at `lr`."""
    layers = ["embed", *(f"blocks.{i}.{m}" for i in range(LAYERS) for m in ("attn", "fc_out")),
              "ln_f", "readout"]  # fmt: skip
    out = {}
    for p in ("sp", "mup"):
        out[p] = itorch.coord_check(
            lambda n, p=p: build(p, n, torch.initial_seed()), widths, batches(0), loss_fn,
            steps=steps, seeds=seeds, layers=layers,
            optimizer=lambda m: itorch.make_optimizer(m, "adam", lr),
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="the test's tiny sizes")
    ap.add_argument("--figures", help="also write the figures into this folder (docs/img)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny products: threads only contend
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    q = args.quick
    vocab, batches = char_batches(zen_text(), CONTEXT, 16, seed=0)
    _, evals = char_batches(zen_text(), CONTEXT, 256, seed=1)
    build = make_builder(len(vocab))
    start = time.perf_counter()
    cc = coord_checks(build, batches, (32, 64) if q else (32, 64, 128, 256), 2 if q else 4,
                      1 if q else 2, 1e-2)  # fmt: skip
    for p, check in cc.items():
        check.save(out / f"coord_check_{p}.json")
        print(f"\n== {p} ==\n{check}")
    print(f"coordinate checks: {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    result = itorch.lr_transfer(
        build, (32, 64) if q else (32, 64, 128), (-8, -6) if q else range(-12, -3),
        optimizer=lambda m, lr: itorch.make_optimizer(m, "adam", lr), batches=batches,
        eval_batch=evals(0), loss_fn=loss_fn, steps=3 if q else 100, out=out / "transfer",
        name="gpt-zen", base_width=BASE, seeds=(0,) if q else (0, 1), data="zen-of-python",
        model="gpt", settings={"context": CONTEXT, "batch_size": 16, "heads": HEADS,
                               "layers": LAYERS, "optimizer": "adam"},
    )  # fmt: skip
    print(f"\nlr transfer: {time.perf_counter() - start:.0f} s")
    print(transfer_summary(result))
    if args.figures:
        write_figures(out, Path(args.figures), result)
    return out


def transfer_summary(result: LrTransfer) -> str:
    """The optimum per width and the shift per doubling with its interval."""
    return "\n".join([optimum_table(result), *shift_lines(result)])


def write_figures(out: Path, where: Path, result: LrTransfer) -> None:
    """Coordinate-check and lr-transfer figures, drawn from the stored results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    where.mkdir(parents=True, exist_ok=True)
    checks = {p: itorch.CoordCheck.load(out / f"coord_check_{p}.json") for p in ("sp", "mup")}
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for j, (p, cc) in enumerate(checks.items()):
        for i, (data, what) in enumerate(((cc.sizes, "mean |x_t|"),
                                          (cc.changes, "mean |x_t - x_0|"))):  # fmt: skip
            ax = axes[i, j]
            for l, name in enumerate(cc.layers):
                ax.plot(cc.widths, data[l, -1], marker="o", label=name)
            ax.set(xscale="log", yscale="log", title=f"{p}: {what}, step {cc.steps[-1]}",
                   xlabel="width d_model" if i else None)  # fmt: skip
            ax.minorticks_off()
            ax.set_xticks(cc.widths, [str(w) for w in cc.widths])
    axes[0, 1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(where / "gpt_coord_check.png", dpi=100)
    lr_transfer_figure(result).savefig(where / "gpt_lr_transfer.png", dpi=100)


if __name__ == "__main__":
    main()
