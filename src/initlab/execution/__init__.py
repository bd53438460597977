"""Execution: runs grouped into populations and trained by the runner; the executor that
stores, resumes and distributes them (joblib, Dask), for a sweep's runs and a study's cells
alike (:mod:`initlab.execution.study`)."""
