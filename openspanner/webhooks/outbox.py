"""The durable outbox: what other parts enqueue into, and the delivery log read back.

`enqueue` stores the job (pending, its body frozen as the exact bytes every
attempt sends) and returns once storage has committed it; only then may the
event's producer consider it sent. Any server may enqueue; the worker
(delivery.py) of whichever process runs workers attempts it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from openspanner.errors import FailedPrecondition, InvalidArgument, NotFound
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.webhooks import ENQUEUE_VERSION, DeliveryAttemptStore, DeliveryJobStore
from openspanner.webhooks.model import EPOCH, Attempt, DeliveryJob, JobStatus, job_id_of

log = get_logger(__name__)

DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 200
MAX_KIND_LENGTH = 64


class Outbox:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._jobs = DeliveryJobStore(storage.client)
        self._attempts = DeliveryAttemptStore(storage.client)
        # Set on enqueue and retry, so a worker in this process attempts at once instead of at its next poll.
        self.wakeup = asyncio.Event()

    async def enqueue(
        self, event_kind: str, event_id: str, destination_id: str, payload: Mapping[str, object]
    ) -> DeliveryJob:
        """Store a delivery of `payload` (JSON) to a destination; returns once it is committed.

        The job's id derives from (event_kind, event_id, destination_id): enqueueing the same
        event again is the same job, and changes nothing once the job has been attempted.
        """
        if not event_kind or len(event_kind) > MAX_KIND_LENGTH:
            raise InvalidArgument(f"must be 1 to {MAX_KIND_LENGTH} characters", field="event_kind")
        if not event_id:
            raise InvalidArgument("is required", field="event_id")
        now = _now()
        job = DeliveryJob(
            id=job_id_of(event_kind, event_id, destination_id),
            event_kind=event_kind,
            event_id=event_id,
            destination_id=destination_id,
            body=frozen_body(payload),
            status=JobStatus.PENDING,
            attempts=0,
            retry_base=0,
            next_attempt_at=now,
            lease_until=EPOCH,
            last_status_code=0,
            last_error="",
            created_at=now,
            updated_at=now,
        )
        await self._storage.run(self._jobs.save, job, ENQUEUE_VERSION)
        log.info("delivery enqueued", delivery=job.id, event_id=event_id, kind=event_kind, destination=destination_id)
        self.wakeup.set()
        return job

    async def get(self, job_id: str) -> DeliveryJob:
        job = await self._storage.run(self._jobs.get, job_id.strip())
        if job is None:
            raise NotFound(f"delivery job {job_id!r} does not exist", field="id")
        return job

    async def list_jobs(
        self,
        status: str | None = None,
        destination_id: str | None = None,
        event_id: str | None = None,
        event_kind: str | None = None,
        limit: int | None = None,
    ) -> list[DeliveryJob]:
        if status is not None and status not in {s.value for s in JobStatus}:
            raise InvalidArgument(
                f"must be one of {', '.join(s.value for s in JobStatus)}, got {status!r}", field="status"
            )
        if limit is not None and not 0 < limit <= MAX_LIST_LIMIT:
            raise InvalidArgument(f"must be between 1 and {MAX_LIST_LIMIT}", field="limit")
        filters = {"status": status, "destination_id": destination_id, "event_id": event_id, "event_kind": event_kind}
        return await self._storage.run(self._jobs.list, filters, limit or DEFAULT_LIST_LIMIT)

    async def attempts(self, job_id: str) -> list[Attempt]:
        return await self._storage.run(self._attempts.of_job, job_id)

    async def latest_attempts(self, event_ids: Sequence[str]) -> dict[str, Attempt]:
        """The latest attempt of each of these events, by event id (events never attempted are absent)."""
        if not event_ids:
            return {}
        return await self._storage.run(self._attempts.latest_of_events, event_ids)

    async def retry(self, job_id: str) -> DeliveryJob:
        """Requeue a dead letter now, with a fresh allowance of attempts; 409 for any other state."""
        job = await self.get(job_id)
        if job.status is not JobStatus.DEAD_LETTER:
            raise FailedPrecondition(
                f"delivery job is {job.status.value}; only a dead_letter job can be retried", field="id"
            )
        now = _now()
        requeued = replace(
            job, status=JobStatus.PENDING, retry_base=job.attempts, next_attempt_at=now, lease_until=EPOCH,
            updated_at=now,
        )
        await self._storage.run(self._jobs.save, requeued, time.time_ns())
        log.info("delivery requeued by hand", delivery=job.id, event_id=job.event_id, attempts=job.attempts)
        self.wakeup.set()
        return requeued


def frozen_body(payload: Mapping[str, object]) -> bytes:
    """The JSON bytes sent on every attempt: compact, UTF-8, keys in the order given."""
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"is not JSON: {exc}", field="payload") from None
    return text.encode("utf-8")


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
