#!/usr/bin/env bash
# The full width-scaling figures of README.md and docs/scaling.md (minutes on a busy 2-core
# machine; BENCHMARKS.md gives the cost per width). CI runs the small versions in
# tests/test_scaling.py.
set -euo pipefail
out=${1:-scaling-out}

# coordinate check, widths 64 .. 4096, SP / NTK / muP, 2 SGD steps at lr 0.5, 4 seeds
initlab --threads 1 scaling coord-check --widths 64 128 256 512 1024 2048 4096 --base-width 64 --out "$out"

# learning-rate transfer, widths 64 .. 1024, SP / muP, Adam, learning rates 2^-12 .. 2^-3, 2 seeds
initlab --threads 1 scaling lr-transfer --widths 64 128 256 512 1024 --log2-lrs -12 -3 --seeds 2 --base-width 64 --out "$out"
