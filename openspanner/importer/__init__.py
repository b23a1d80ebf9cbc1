"""`openspanner import`: load historical usage from a file, exactly once.

Stages, one module each, assembled in run.py:
source (bytes -> rows) -> mapping (row -> UsageEvent, key from template)
-> batches (rows -> keyed RecordUsages requests) -> send (gRPC, several in
flight) -> state (acknowledged batches, for --resume) and rejects (rows
refused, with reasons, re-importable), with progress reported throughout.
"""
