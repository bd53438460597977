"""Analysis of networks and results: per-layer diagnostics, mean-field theory, seed statistics."""
