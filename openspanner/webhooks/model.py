"""Destinations and delivery jobs as plain values, and the retry schedule.

A job is one event for one destination: stored (pending) before any attempt,
its body frozen then. It moves pending -> running (leased to the worker for
an attempt) -> delivered, or back to pending with a backoff, or to
dead_letter once its attempts are spent. A manual retry moves a dead letter
back to pending with a fresh allowance of attempts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

# Backoff doubles from the first delay up to this.
MAX_BACKOFF_SECONDS = 3600.0
# Never change it: job ids derive from it, so enqueueing one event twice is one job.
_JOB_ID_NAMESPACE = uuid.UUID("6c0f1f7e-2b9a-4f53-9a41-3d8f0e7f5a21")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Destination:
    id: str
    name: str
    type: str
    enabled: bool
    webhook_url: str
    # The signing secret (signing.py), kept since every attempt signs with it.
    secret: str
    created_at: datetime
    updated_at: datetime
    # Kinds of events sent here beyond the alert rules that name it (fanout.py), e.g.
    # "entitlement.exceeded".
    event_types: tuple[str, ...] = ()


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


class AttemptStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryJob:
    id: str
    event_kind: str
    event_id: str
    destination_id: str
    # The exact bytes every attempt sends.
    body: bytes
    status: JobStatus
    # Attempts made so far (the delivery log has one row for each).
    attempts: int
    # Attempts made before the latest manual retry: the allowance counts from here.
    retry_base: int
    next_attempt_at: datetime
    # While running: when another worker may take the job again.
    lease_until: datetime
    last_status_code: int
    last_error: str
    created_at: datetime
    updated_at: datetime

    @property
    def attempts_since_retry(self) -> int:
        return self.attempts - self.retry_base


@dataclass(frozen=True)
class Attempt:
    """One row of the delivery log."""

    job_id: str
    attempt: int
    event_id: str
    destination_id: str
    status: AttemptStatus
    status_code: int
    error: str
    duration_ms: int
    attempted_at: datetime


def job_id_of(event_kind: str, event_id: str, destination_id: str) -> str:
    """The same id for the same event and destination: an enqueue repeated after a crash is the
    same job, and its id is the webhook-id every attempt sends."""
    return str(uuid.uuid5(_JOB_ID_NAMESPACE, f"{event_kind}\n{event_id}\n{destination_id}"))


def backoff_seconds(failed_attempts: int, first_delay: float) -> float:
    """The wait after the n-th failed attempt (n >= 1): first_delay, doubling, at most an hour."""
    if failed_attempts < 1:
        return 0.0
    exponent = min(failed_attempts - 1, 32)
    return float(min(first_delay * 2**exponent, MAX_BACKOFF_SECONDS))
