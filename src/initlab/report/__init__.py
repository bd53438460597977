"""Figures and the HTML report, drawn from stored results only (never trains or computes theory)."""
