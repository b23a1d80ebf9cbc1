"""Export jobs as the APIs see them: create, list, show, cancel, retry, and the artifact.

Creating a job checks its query against its meter and stores it queued;
the worker (worker.py) of whichever process runs workers takes it from
there. Any server may create, cancel or retry a job; the artifact is a file
in the export directory of the process that ran it (docs/exports.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openspanner.catalog import MeterCatalog
from openspanner.errors import FailedPrecondition, InvalidArgument, NotFound
from openspanner.exports.model import (
    CANCELABLE,
    EPOCH,
    RETRYABLE,
    ExportFormat,
    ExportJob,
    ExportKind,
    ExportStatus,
    now_ms,
)
from openspanner.exports.queries import meter_name, plan_bucket_export, plan_event_export
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.exports import ExportJobStore

log = get_logger(__name__)

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
MAX_QUERY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Artifact:
    path: Path
    media_type: str
    filename: str


class Exports:
    def __init__(self, storage: Storage, catalog: MeterCatalog, directory: Path, retention_hours: float) -> None:
        self._storage = storage
        self._catalog = catalog
        self._jobs = ExportJobStore(storage.client)
        self.directory = directory
        self.retention = timedelta(hours=retention_hours)
        # Set on create and retry, so a worker in this process starts at once instead of at its next poll.
        self.wakeup = asyncio.Event()

    async def create(self, kind: str, fmt: str, query: object, gzip: bool = False) -> ExportJob:
        checked_kind = _enum(ExportKind, kind or ExportKind.USAGE_BUCKETS.value, "kind")
        checked_format = _enum(ExportFormat, fmt or ExportFormat.CSV.value, "format")
        if checked_kind is ExportKind.USAGE_BUCKETS and checked_format is not ExportFormat.CSV:
            raise InvalidArgument("usage_buckets exports are csv", field="format")
        if not isinstance(query, Mapping):
            raise InvalidArgument("is required: a JSON object", field="query")
        text = json.dumps(query, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_QUERY_BYTES:
            raise InvalidArgument(f"must be at most {MAX_QUERY_BYTES} bytes of JSON", field="query")
        now = now_ms()
        as_of_us = int(now.timestamp() * 1_000_000)
        await self.check_query(checked_kind, query, as_of_us)
        job = ExportJob(
            id=str(uuid.uuid4()), kind=checked_kind, format=checked_format, gzip=gzip, query=text,
            status=ExportStatus.QUEUED, run=1, attempts=0, lease_until=EPOCH, rows_written=0, artifact="",
            artifact_size=0, error="", created_at=now, updated_at=now, completed_at=None, as_of_us=as_of_us,
        )
        await self._storage.run(self._jobs.save, job)
        log.info("export queued", export=job.id, kind=job.kind.value, format=job.format.value, meter=query.get("meter"))
        self.wakeup.set()
        return job

    async def check_query(self, kind: ExportKind, query: Mapping[str, Any], as_of_us: int) -> None:
        """Plan the query as the worker will (errors name their field under `query`)."""
        meter = await self._catalog.get(meter_name(query), field="query.meter")
        if kind is ExportKind.USAGE_BUCKETS:
            plan_bucket_export(meter, query)
        else:
            plan_event_export(meter, query, as_of_us)

    async def get(self, job_id: str) -> ExportJob:
        job = await self._storage.run(self._jobs.get, job_id.strip())
        if job is None:
            raise NotFound(f"export job {job_id!r} does not exist", field="id")
        return job

    async def list(self, limit: int | None, cursor: str = "") -> tuple[list[ExportJob], str]:
        """A page, newest first, and the cursor of the next page ("" on the last)."""
        if limit is not None and not 0 < limit <= MAX_LIST_LIMIT:
            raise InvalidArgument(f"must be between 1 and {MAX_LIST_LIMIT}", field="limit")
        size = limit or DEFAULT_LIST_LIMIT
        jobs = await self._storage.run(self._jobs.page, size + 1, _decode_cursor(cursor) if cursor else None)
        if len(jobs) <= size:
            return jobs, ""
        page = jobs[:size]
        return page, _encode_cursor(page[-1])

    async def cancel(self, job_id: str) -> ExportJob:
        """Cancel a queued or running job (its worker stops at its next block); 409 otherwise."""
        job = await self.get(job_id)
        if job.status not in CANCELABLE:
            raise FailedPrecondition(f"export job is {job.status.value}; only a queued or running job can be canceled")
        now = now_ms()
        canceled = replace(
            job, status=ExportStatus.CANCELED, error="canceled by user", lease_until=EPOCH, updated_at=now,
            completed_at=now,
        )
        await self._storage.run(self._jobs.save, canceled)
        log.info("export canceled", export=job.id, was=job.status.value, rows_written=job.rows_written)
        return canceled

    async def retry(self, job_id: str) -> ExportJob:
        """Queue a failed or canceled job again, as a new run; 409 otherwise."""
        job = await self.get(job_id)
        if job.status not in RETRYABLE:
            raise FailedPrecondition(f"export job is {job.status.value}; only a failed or canceled job can be retried")
        now = now_ms()
        queued = replace(
            job, status=ExportStatus.QUEUED, run=job.run + 1, attempts=0, lease_until=EPOCH, rows_written=0,
            artifact="", artifact_size=0, error="", updated_at=now, completed_at=None,
        )
        await self._storage.run(self._jobs.save, queued)
        log.info("export retried", export=job.id, run=queued.run)
        self.wakeup.set()
        return queued

    async def artifact(self, job_id: str) -> Artifact:
        """The completed job's file; 409 until completed, 404 once expired."""
        job = await self.get(job_id)
        if job.status is not ExportStatus.COMPLETED:
            raise FailedPrecondition(f"export job is {job.status.value}; it can be downloaded once completed")
        path = self.directory / job.artifact if job.artifact else None
        if path is None or not path.is_file():
            raise NotFound("the export's artifact has expired or is not on this server", field="id")
        extension = "csv" if job.format is ExportFormat.CSV else "jsonl"
        filename = f"open-spanner-export-{job.id}.{extension}"
        if job.gzip:
            return Artifact(path, "application/gzip", filename + ".gz")
        media = "text/csv; charset=utf-8" if job.format is ExportFormat.CSV else "application/x-ndjson"
        return Artifact(path, media, filename)

    def expires_at(self, job: ExportJob) -> datetime | None:
        if job.status is not ExportStatus.COMPLETED or not job.artifact or job.completed_at is None:
            return None
        return job.completed_at + self.retention


def _enum(kind: Any, value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidArgument(f"must be one of {allowed}, got {value!r}", field=field) from None


def _encode_cursor(job: ExportJob) -> str:
    text = f"{int(job.created_at.timestamp() * 1000)}|{job.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        ms, _, job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        return EPOCH + timedelta(milliseconds=int(ms)), job_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("is not a cursor of this listing", field="cursor") from None
