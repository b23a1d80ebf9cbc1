"""Artifacts past OPENSPANNER_EXPORT_RETENTION_HOURS are deleted by the worker's sweep, their jobs
kept without a download; a fresh artifact and a running export's temporary file are left alone."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from openspanner.catalog import MeterCatalog
from openspanner.errors import NotFound
from openspanner.exports.jobs import Exports
from openspanner.exports.model import ExportStatus, now_ms
from openspanner.exports.worker import ExportSettings, ExportWorker
from openspanner.storage.client import Storage
from openspanner.storage.exports import ExportJobStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at
from tests.unit.exports.test_job_storage import queued


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with storage_at(tmp_path / "db", "retention") as client:
        migrate(client)
        yield Storage(client, threads=1)


def completed(store: ExportJobStore, directory: Path, job_id: str, hours_ago: float) -> Any:
    at = now_ms() - timedelta(hours=hours_ago)
    name = f"{job_id}-r1-a1.jsonl.gz"
    (directory / name).write_bytes(b"rows")
    job = replace(queued(job_id, at), status=ExportStatus.COMPLETED, artifact=name, artifact_size=4, completed_at=at,
                  updated_at=at)
    store.save(job)
    return job


def test_the_sweep_deletes_expired_artifacts_and_stale_temporary_files(storage: Storage, tmp_path: Path) -> None:
    directory = tmp_path / "exports"
    directory.mkdir()
    store = ExportJobStore(storage.client)
    old, fresh = completed(store, directory, "old", hours_ago=25), completed(store, directory, "fresh", hours_ago=1)
    stale, running = directory / "gone-r1-a1.csv.tmp", directory / "live-r1-a1.csv.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    running.write_bytes(b"being written")
    catalog = cast(MeterCatalog, None)  # the sweep reads no meter
    exports = Exports(storage, catalog, directory, retention_hours=24)
    worker = ExportWorker(storage, catalog, exports, ExportSettings(directory, 24, lease_seconds=60), lambda: None)  # type: ignore[arg-type,return-value]

    async def scenario() -> None:
        assert await worker.sweep() == 1
        assert (await exports.artifact(fresh.id)).path == directory / fresh.artifact
        with pytest.raises(NotFound):
            await exports.artifact(old.id)
        job = await exports.get(old.id)
        assert job.status is ExportStatus.COMPLETED and job.artifact == "" and exports.expires_at(job) is None

    asyncio.run(scenario())
    assert not (directory / old.artifact).exists() and (directory / fresh.artifact).exists()
    assert not stale.exists() and running.exists()
