"""Export jobs as plain values, their states, and the version that orders their rows.

A job moves queued -> running (leased to one worker) -> completed or failed;
cancel moves a queued or running job to canceled, retry a failed or canceled
one back to queued. Storage keeps one row per state change and reads the
row of the highest version (ReplacingMergeTree has no row locks), so the
version, not the clock alone, decides which of two racing writes holds:

- each retry starts a new `run`, which outranks every row of earlier runs;
- within a run, a final state outranks progress, and cancel outranks the
  other final states: a worker's progress row written just after a user's
  cancel never brings the job back to running;
- within a rank, the later write wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Bit layout of a version: run (21 bits), rank (2 bits), milliseconds since the epoch (41 bits, until 2039).
_RANK_SHIFT = 41
_RUN_SHIFT = 43
_MAX_RUN = (1 << 21) - 1
_MS_MASK = (1 << 41) - 1


class ExportKind(StrEnum):
    # The product's kind: the buckets of a usage search body, as CSV.
    USAGE_BUCKETS = "usage_buckets"
    # Ours: the raw events of a meter with the events API's filters, any number of them.
    EVENTS = "events"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


FINISHED = frozenset({ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELED})
CANCELABLE = frozenset({ExportStatus.QUEUED, ExportStatus.RUNNING})
RETRYABLE = frozenset({ExportStatus.FAILED, ExportStatus.CANCELED})


class Rank(IntEnum):
    """Which row of one run wins when two are written at nearly the same time."""

    PROGRESS = 0  # queued, running, rows written so far
    FINAL = 1  # completed or failed, written by the worker
    CANCELED = 2  # written by a user, never undone by the worker's late rows


RANK_OF = {
    ExportStatus.QUEUED: Rank.PROGRESS,
    ExportStatus.RUNNING: Rank.PROGRESS,
    ExportStatus.COMPLETED: Rank.FINAL,
    ExportStatus.FAILED: Rank.FINAL,
    ExportStatus.CANCELED: Rank.CANCELED,
}


@dataclass(frozen=True)
class ExportJob:
    id: str
    kind: ExportKind
    format: ExportFormat
    gzip: bool
    # The query as the client sent it (a JSON object), answered back as given.
    query: str
    status: ExportStatus
    # 1 when created, one more per retry: rows of a newer run outrank older ones.
    run: int
    # Claims of this run by a worker (one more after each crash); the run fails past the limit.
    attempts: int
    lease_until: datetime
    rows_written: int
    # The artifact's file name in the export directory, once completed ("" otherwise, or once expired).
    artifact: str
    artifact_size: int
    error: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    # Events stored after this instant are left out (the job's creation), so a retry exports the same events.
    as_of_us: int

    @property
    def version(self) -> int:
        return version_of(self.run, RANK_OF[self.status], self.updated_at)


def version_of(run: int, rank: Rank, at: datetime) -> int:
    if not 1 <= run <= _MAX_RUN:
        raise ValueError(f"run {run} out of range")
    ms = int(at.timestamp() * 1000) & _MS_MASK
    return (run << _RUN_SHIFT) | (int(rank) << _RANK_SHIFT) | ms


def now_ms() -> datetime:
    """Now, to the millisecond that storage keeps (DateTime64(3))."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
