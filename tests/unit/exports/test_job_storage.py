"""Export job rows on the embedded engine: what the worker reads as due, and a cancel that a
worker's later progress row does not undo (no server: the store against storage directly)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from openspanner.exports.model import EPOCH, ExportFormat, ExportJob, ExportKind, ExportStatus, now_ms
from openspanner.storage.exports import ExportJobStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with storage_at(tmp_path, "exports") as opened:
        migrate(opened)
        yield opened


def queued(job_id: str, at: datetime) -> ExportJob:
    return ExportJob(
        id=job_id, kind=ExportKind.EVENTS, format=ExportFormat.JSONL, gzip=True, query='{"meter":"m"}',
        status=ExportStatus.QUEUED, run=1, attempts=0, lease_until=EPOCH, rows_written=0, artifact="",
        artifact_size=0, error="", created_at=at, updated_at=at, completed_at=None, as_of_us=1,
    )


def test_queued_and_lease_expired_jobs_are_due_oldest_first(client: Client) -> None:
    store, now = ExportJobStore(client), now_ms()
    store.save(queued("b", now))
    store.save(queued("a", now - timedelta(minutes=1)))
    leased = queued("c", now - timedelta(minutes=2))
    store.save(replace(leased, status=ExportStatus.RUNNING, attempts=1, lease_until=now + timedelta(minutes=1),
                       updated_at=now))
    assert [job.id for job in store.due(now, [], 10)] == ["a", "b"]
    assert [job.id for job in store.due(now + timedelta(minutes=2), [], 10)] == ["c", "a", "b"]
    assert store.get("a") == queued("a", now - timedelta(minutes=1))


def test_a_cancel_holds_against_progress_written_after_it(client: Client) -> None:
    store, now = ExportJobStore(client), now_ms()
    running = replace(queued("j", now), status=ExportStatus.RUNNING, attempts=1, lease_until=now + timedelta(hours=1))
    store.save(running)
    store.save(replace(running, status=ExportStatus.CANCELED, updated_at=now + timedelta(seconds=1),
                       completed_at=now + timedelta(seconds=1)))
    store.save(replace(running, rows_written=500, updated_at=now + timedelta(seconds=2)))
    current = store.get("j")
    assert current is not None and current.status is ExportStatus.CANCELED
    assert store.due(now + timedelta(days=1), [], 10) == []

    retried = replace(current, status=ExportStatus.QUEUED, run=2, updated_at=now + timedelta(seconds=3))
    store.save(retried)
    assert store.get("j") == retried
    assert [job.id for job in store.due(now, [], 10)] == ["j"]
