"""The delivery worker: attempts due jobs from the outbox, each on a task of its own.

Per attempt, three small writes: the job as running with a lease (so that
another worker, or this one after a restart, leaves it alone until the lease
ends), then the attempt's row in the delivery log, then the job's next
state: delivered, pending again after a backoff, or dead_letter once its
attempts are spent. A process killed at any point leaves the job pending or
running; either is attempted again (a running one when its lease ends), with
the same id, so every job is delivered at least once (docs/webhooks.md).

Attempts run on tasks of their own, at most `concurrency` at a time, each
bounded by the attempt timeout: a receiver that hangs holds only its own
attempt, and ingest and queries never wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.webhooks import DeliveryAttemptStore, DeliveryJobStore, DestinationStore
from openspanner.webhooks.model import EPOCH, Attempt, AttemptStatus, DeliveryJob, JobStatus, backoff_seconds
from openspanner.webhooks.outbox import Outbox
from openspanner.webhooks.sender import SendResult, WebhookSender
from openspanner.webhooks.signing import signed_headers

log = get_logger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    timeout_seconds: float = 10.0
    retry_seconds: float = 30.0
    max_attempts: int = 5
    # How long a running job is left to the worker that took it; past it, it is attempted again.
    lease_seconds: float = 30.0
    concurrency: int = 16
    poll_seconds: float = 1.0
    allow_private: bool = False


class DeliveryWorker:
    """A background task (background.py): `run` until cancelled, then `close`."""

    name = "webhook-delivery"

    def __init__(self, storage: Storage, outbox: Outbox, settings: DeliverySettings) -> None:
        self._storage = storage
        self._outbox = outbox
        self._settings = settings
        self._jobs = DeliveryJobStore(storage.client)
        self._attempts = DeliveryAttemptStore(storage.client)
        self._destinations = DestinationStore(storage.client)
        self._sender = WebhookSender(settings.timeout_seconds, settings.allow_private, settings.concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        log.info(
            "delivery worker started", concurrency=self._settings.concurrency,
            max_attempts=self._settings.max_attempts, retry_seconds=self._settings.retry_seconds,
            lease_seconds=self._settings.lease_seconds,
        )
        while True:
            self._outbox.wakeup.clear()
            try:
                await self.attempt_due()
            except Exception as exc:  # storage down: the next poll tries again
                log.warning("delivery poll failed", error=str(exc) or repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.wakeup.wait(), self._settings.poll_seconds)

    async def attempt_due(self) -> int:
        """Start an attempt for each due job, as many as there are free slots; returns how many."""
        free = self._settings.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        due = await self._storage.run(self._jobs.due, datetime.now(UTC), list(self._in_flight), free)
        # A full batch may have left due jobs behind: each finished attempt then polls again.
        more_may_be_due = len(due) == free
        for job in due:
            task = asyncio.create_task(self._deliver(job), name=f"delivery-{job.id}")
            self._in_flight[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id, more_may_be_due))
        return len(due)

    def _finished(self, job_id: str, more_may_be_due: bool, _: object) -> None:
        self._in_flight.pop(job_id, None)
        if more_may_be_due:
            self._outbox.wakeup.set()

    async def wait_idle(self) -> None:
        """Until no attempt is in flight (for tests and shutdown)."""
        while self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))

    async def close(self, timeout: float) -> None:
        """Attempts in flight get `timeout` seconds, then are cancelled: their jobs stay running
        and are attempted again once their lease ends."""
        if self._in_flight:
            _, late = await asyncio.wait(list(self._in_flight.values()), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                log.warning("delivery attempts cancelled by the shutdown; retried after their lease", count=len(late))
                await asyncio.wait(late)
        await self._sender.close()

    async def _deliver(self, job: DeliveryJob) -> None:
        try:
            running = await self._lease(job)
            result = await self._send(running)
            await self._record(running, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage failed mid-way: the job is still pending or running, and retried
            log.warning("delivery attempt not recorded", delivery=job.id, error=str(exc) or repr(exc))

    async def _lease(self, job: DeliveryJob) -> DeliveryJob:
        now = datetime.now(UTC)
        running = replace(
            job, status=JobStatus.RUNNING, lease_until=now + timedelta(seconds=self._settings.lease_seconds),
            updated_at=now,
        )
        await self._storage.run(self._jobs.save, running, time.time_ns())
        return running

    async def _send(self, job: DeliveryJob) -> SendResult:
        destination = await self._storage.run(self._destinations.get, job.destination_id)
        if destination is None:
            return SendResult(0, "destination does not exist (deleted)", 0)
        if not destination.enabled:
            return SendResult(0, "destination is disabled", 0)
        timestamp = int(time.time())
        headers = signed_headers(destination.secret, job.id, timestamp, job.body)
        return await self._sender.post(destination.webhook_url, headers, job.body)

    async def _record(self, job: DeliveryJob, result: SendResult) -> None:
        attempted_at = job.updated_at
        number = job.attempts + 1
        attempt = Attempt(
            job_id=job.id, attempt=number, event_id=job.event_id, destination_id=job.destination_id,
            status=AttemptStatus.DELIVERED if result.delivered else AttemptStatus.FAILED,
            status_code=result.status_code, error=result.error, duration_ms=result.duration_ms,
            attempted_at=attempted_at,
        )
        await self._storage.run(self._attempts.add, attempt)
        outcome = next_state(job, result, self._settings, datetime.now(UTC))
        await self._storage.run(self._jobs.save, outcome, time.time_ns())
        log.info(
            "delivery attempted", delivery=job.id, event_id=job.event_id, destination=job.destination_id,
            attempt=number, status=outcome.status.value, status_code=result.status_code, error=result.error or None,
            duration_ms=result.duration_ms,
        )


def next_state(job: DeliveryJob, result: SendResult, settings: DeliverySettings, now: datetime) -> DeliveryJob:
    """The job after an attempt with this result: delivered, pending after the backoff, or dead_letter."""
    attempts = job.attempts + 1
    failed = attempts - job.retry_base
    status, next_attempt_at = JobStatus.PENDING, job.next_attempt_at
    if result.delivered:
        status = JobStatus.DELIVERED
    elif failed >= settings.max_attempts:
        status = JobStatus.DEAD_LETTER
    else:
        next_attempt_at = now + timedelta(seconds=backoff_seconds(failed, settings.retry_seconds))
    return replace(
        job, status=status, next_attempt_at=next_attempt_at, attempts=attempts, lease_until=EPOCH,
        last_status_code=result.status_code, last_error=result.error, updated_at=now,
    )
