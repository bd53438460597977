"""Execution: runs grouped into populations and trained by the runner; the sweep executor
that stores, resumes and distributes them (joblib, Dask)."""
