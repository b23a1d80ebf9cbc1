"""Export jobs (docs/exports.md): large exports written to a file in the background.

The core of exports, free of any transport: jobs and their states as values
(model.py), what an export reads, checked against its meter (queries.py),
rows as CSV or JSON Lines (writers.py), the service the APIs call (jobs.py),
and the worker that runs jobs and expires artifacts (worker.py).
"""
