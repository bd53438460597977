"""Your own PyTorch model through initlab: He and LSUV on a small CNN, diagnostics, a report.

A small CNN (no torchvision) on scikit-learn's bundled 8x8 digits (1797 images, 10 classes),
initialized three ways: PyTorch's own default, He (``kaiming_normal``, drawn by initlab's
catalogue) and LSUV (Mishkin & Matas 2016: orthonormal, then rescaled on one batch to unit
output variance per layer). Each is trained for 100 steps of minibatch SGD while
``initlab.torch.Recorder`` records initlab's per-layer diagnostics; the results are written
in initlab's format, and ``initlab report`` draws them.

    pip install "initlab[torch]"
    python examples/torch_digits.py --out results/torch-digits
    initlab report results/torch-digits     # (the script also writes the report itself)

Runs offline in a few seconds on a CPU.
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from initlab import torch as itorch
from initlab.analysis.diagnostics import record_iterations
from initlab.report.html import write_report
from initlab.results.records import write_results


def make_model() -> nn.Sequential:
    """Conv(1->8) ReLU Conv(8->16) ReLU MaxPool Linear(256->64) ReLU Linear(64->10)."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 8, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(8, 16, 3, padding=1),
            relu2=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(16 * 4 * 4, 64),
            relu3=nn.ReLU(),
            fc2=nn.Linear(64, 10),
        )
    )


def load(seed: int):
    """Digits as tensors (N, 1, 8, 8), standardized with the training set's mean and std."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_tr.mean(), X_tr.std()
    t = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32).reshape(-1, 1, 8, 8)  # noqa: E731
    return t(X_tr), torch.tensor(y_tr), t(X_te), torch.tensor(y_te)


def evaluate(model, X, y) -> tuple[float, float]:
    with torch.no_grad():
        out = model(X)
        return nn.functional.cross_entropy(out, y).item(), (
            out.argmax(1) == y
        ).float().mean().item()


def train_one(name, init, data, args):
    """Initialize a fresh model by `init`, train it, return its initlab run record."""
    X_tr, y_tr, X_te, y_te = data
    torch.manual_seed(args.seed)  # PyTorch's default init draws from torch's generator
    model = make_model()
    lsuv = None
    if init == "he":
        print(itorch.apply(model, "kaiming_normal", seed=args.seed), end="\n\n")
    elif init == "lsuv":
        report = itorch.lsuv(model, X_tr[: args.batch], orthonormal=args.seed)
        print(report, end="\n\n")
        lsuv = {**report.as_dict(), "layers": list(report.layers)}
    rng = np.random.default_rng(args.seed)  # the same minibatches for every init
    rec = itorch.Recorder(model, X_tr[:2], record_at=record_iterations(args.steps))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    costs, evals, test_costs, test_accs = [], [], [], []
    for i in range(args.steps):
        idx = torch.from_numpy(rng.choice(len(X_tr), args.batch, replace=False))
        opt.zero_grad()
        rec.begin(i)
        loss = nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx])
        loss.backward()
        rec.end(loss, learning_rate=args.lr)
        opt.step()
        costs.append(loss.item())
        if i % max(1, args.steps // 10) == 0 or i == args.steps - 1:
            c, a = evaluate(model, X_te, y_te)
            evals.append(i + 1)
            test_costs.append(c)
            test_accs.append(a)
    rec.close()
    final_cost, train_acc = evaluate(model, X_tr, y_tr)
    return itorch.run_record(
        name, init, costs, learning_rate=args.lr, seed=args.seed, diagnostics=rec.record(),
        final_cost=final_cost, train_accuracy=train_acc, test_accuracy=test_accs[-1],
        eval_iterations=evals, test_costs=test_costs, test_accuracies=test_accs, lsuv=lsuv,
    )  # fmt: skip


RUNS = {"torch_default": "torch default", "he": "He (kaiming_normal)", "lsuv": "LSUV"}


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/torch-digits"))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inits", default=",".join(RUNS), help="comma-separated, from: %(default)s")
    args = p.parse_args(argv)
    data = load(args.seed)
    inits = args.inits.split(",")
    unknown = sorted(set(inits) - set(RUNS))
    if unknown:
        p.error(f"unknown init {unknown[0]!r}; choose from {', '.join(RUNS)}")
    records = [train_one(RUNS[init], init, data, args) for init in inits]
    layers = ", ".join(
        f"{n} {type(m).__name__}({m.weight.shape[1]}->{m.weight.shape[0]})"
        for n, m in make_model().named_children()
        if isinstance(m, itorch.LAYERS)
    )
    setup = [
        f"data: scikit-learn digits, 8x8 images, 10 classes; {len(data[0])} train, "
        f"{len(data[2])} held out (stratified, seed {args.seed})",
        f"model (PyTorch {torch.__version__}, float32): {layers}; 3x3 convolutions, "
        "ReLU after every layer but fc2, 2x2 max-pooling after conv2",
        f"training: {args.steps} steps of SGD, learning rate {args.lr}, minibatches of "
        f"{args.batch}, cross-entropy; cost = the minibatch loss before each step",
        "diagnostics: initlab.torch.Recorder on conv1, conv2, fc1, fc2 (A of fc2 = sigmoid "
        "of each logit, as for initlab's output unit)",
    ]
    n = {"n_features": 64, "name": "digits"}
    results = itorch.results(
        records, setup=setup, train={**n, "n_examples": len(data[0])},
        test={**n, "name": "digits (held out)", "n_examples": len(data[2])}, loss="cross-entropy",
    )  # fmt: skip
    write_results(args.out, results)
    for rec in records:
        acc = f"train accuracy {rec['train_accuracy']:.1%}, held out {rec['test_accuracy']:.1%}"
        print(f"{rec['name']:>20}: final train cost {rec['final_cost']:.4f}, {acc}")
    paths = write_report(args.out)
    print(f"open {paths[0]}")
    return args.out


if __name__ == "__main__":
    main()
