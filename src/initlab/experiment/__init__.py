"""Experiments: specs validated once, runs grouped into populations, sweeps executed and resumed."""
