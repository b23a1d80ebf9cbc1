"""The outbox's rows on the embedded engine: what a repeated enqueue, the lease and a retry leave
for the worker to read (no server: the core API against storage directly)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openspanner.errors import FailedPrecondition, InvalidArgument
from openspanner.storage.client import Storage
from openspanner.storage.schema import migrate
from openspanner.storage.webhooks import DeliveryJobStore
from openspanner.webhooks.model import JobStatus
from openspanner.webhooks.outbox import Outbox
from tests.harness import storage_at


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with storage_at(tmp_path, "outbox") as client:
        migrate(client)
        yield Storage(client, threads=1)


def test_enqueue_stores_the_exact_body_and_a_repeat_never_undoes_progress(storage: Storage) -> None:
    async def scenario() -> None:
        outbox, jobs = Outbox(storage), DeliveryJobStore(storage.client)
        job = await outbox.enqueue("alert", "e1", "d1", {"event": {"id": "e1", "message": "über 100"}})
        assert job.body == '{"event":{"id":"e1","message":"über 100"}}'.encode()
        stored = jobs.get(job.id)
        assert stored is not None and stored.body == job.body and stored.status is JobStatus.PENDING

        jobs.save(replace(job, status=JobStatus.DELIVERED, attempts=1), time.time_ns())
        again = await outbox.enqueue("alert", "e1", "d1", {"event": {"id": "e1", "message": "über 100"}})
        assert again.id == job.id
        delivered = jobs.get(job.id)
        assert delivered is not None and delivered.status is JobStatus.DELIVERED

    asyncio.run(scenario())


def test_due_jobs_are_pending_ones_and_running_ones_whose_lease_ended(storage: Storage) -> None:
    async def scenario() -> None:
        outbox, jobs = Outbox(storage), DeliveryJobStore(storage.client)
        now = datetime.now(UTC)
        pending = await outbox.enqueue("alert", "pending", "d", {})
        later = await outbox.enqueue("alert", "later", "d", {})
        jobs.save(replace(later, next_attempt_at=now + timedelta(minutes=5)), time.time_ns())
        leased = await outbox.enqueue("alert", "leased", "d", {})
        jobs.save(replace(leased, status=JobStatus.RUNNING, lease_until=now + timedelta(minutes=1)), time.time_ns())
        abandoned = await outbox.enqueue("alert", "abandoned", "d", {})
        jobs.save(replace(abandoned, status=JobStatus.RUNNING, lease_until=now - timedelta(seconds=1)), time.time_ns())
        dead = await outbox.enqueue("alert", "dead", "d", {})
        jobs.save(replace(dead, status=JobStatus.DEAD_LETTER), time.time_ns())

        due = {job.event_id for job in jobs.due(now + timedelta(milliseconds=10), [], 10)}
        assert due == {"pending", "abandoned"}
        assert {job.event_id for job in jobs.due(now, [pending.id], 10)} == {"abandoned"}

        with pytest.raises(FailedPrecondition):
            await outbox.retry(pending.id)
        requeued = await outbox.retry(dead.id)
        assert (requeued.status, requeued.retry_base) == (JobStatus.PENDING, 0)
        assert "dead" in {job.event_id for job in jobs.due(datetime.now(UTC) + timedelta(seconds=1), [], 10)}
        listed = await outbox.list_jobs(status="running")
        assert {job.event_id for job in listed} == {"leased", "abandoned"}

    asyncio.run(scenario())


def test_a_payload_that_is_not_json_is_refused_before_anything_is_stored(storage: Storage) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidArgument) as refused:
            await Outbox(storage).enqueue("alert", "e", "d", {"value": float("nan")})
        assert refused.value.field == "payload"
        assert await Outbox(storage).list_jobs() == []

    asyncio.run(scenario())
