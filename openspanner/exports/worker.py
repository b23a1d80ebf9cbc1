"""The export worker: runs queued jobs one at a time, and deletes artifacts past retention.

A job is claimed by writing it running with a lease; while it runs, every
second or so its progress (rows written) is written with a longer lease,
and its state is read back: canceled (or retried) means stop. The read
runs on a thread of its own with a storage client of its own, streaming
events block by block into a temporary file, renamed into place once
complete. A process killed mid-export leaves the job running with a lease
that ends: the next worker to poll after that claims it again and starts
over (at most MAX_ATTEMPTS claims per run, then the job fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from clickhouse_connect.driver.client import Client

from openspanner.catalog import MeterCatalog
from openspanner.domain.buckets import BucketCsvRow
from openspanner.domain.events import stored_event
from openspanner.domain.meters import Meter
from openspanner.domain.queries import usage_rows
from openspanner.exports.jobs import Exports
from openspanner.exports.model import EPOCH, ExportJob, ExportKind, ExportStatus, now_ms
from openspanner.exports.queries import plan_bucket_export, plan_event_export
from openspanner.exports.writers import EventWriter, open_output, write_buckets
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.exports import ExportJobStore, stream_events
from openspanner.storage.queries import QueryStore

log = get_logger(__name__)

# Claims of one run (a worker died during each) before the run fails.
MAX_ATTEMPTS = 3
# How often a running export writes its progress and reads whether it was canceled.
PROGRESS_SECONDS = 1.0
SWEEP_SECONDS = 60.0


@dataclass(frozen=True)
class ExportSettings:
    directory: Path
    retention_hours: float = 24.0
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0


class Stopped(Exception):
    """The job is no longer this run's to finish: canceled, retried, or the process is stopping."""


class ExportWorker:
    """A background task (background.py): `run` until cancelled, then `close`."""

    name = "exports"

    def __init__(
        self, storage: Storage, catalog: MeterCatalog, exports: Exports, settings: ExportSettings,
        open_reader: Callable[[], Client],
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self._exports = exports
        self._settings = settings
        self._jobs = ExportJobStore(storage.client)
        # Opens the client an export streams through, one per job: with the embedded engine, a
        # client streaming a result answers nothing else, so the shared one must not stream.
        self._open_reader = open_reader
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")
        self._stopping = threading.Event()
        self._last_sweep = 0.0

    async def run(self) -> None:
        log.info("export worker started", directory=str(self._settings.directory),
                 retention_hours=self._settings.retention_hours, lease_seconds=self._settings.lease_seconds)
        while True:
            self._exports.wakeup.clear()
            try:
                await self.sweep_if_due()
                while await self.run_next():
                    pass
            except Exception as exc:  # storage down: the next poll tries again
                log.warning("export poll failed", error=str(exc) or repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exports.wakeup.wait(), self._settings.poll_seconds)

    async def close(self, timeout: float) -> None:
        """Stop a running export at its next block: its job goes back to queued, for the next start."""
        self._stopping.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown, True)

    async def run_next(self) -> bool:
        """Claim and run the oldest due job; False when none is due."""
        due = await self._storage.run(self._jobs.due, datetime.now(UTC), [], 1)
        if not due:
            return False
        job = due[0]
        if job.attempts >= MAX_ATTEMPTS:
            await self._finish(job, ExportStatus.FAILED, error=f"gave up after {job.attempts} attempts"
                               " (the worker running it stopped each time)")
            return True
        running = await self._claim(job)
        log.info("export started", export=job.id, kind=job.kind.value, run=job.run, attempt=running.attempts)
        try:
            meter = await self._catalog.get(json.loads(job.query).get("meter", ""), field="query.meter")
            loop = asyncio.get_running_loop()
            finished = await loop.run_in_executor(self._thread, self._export, running, meter)
        except Stopped as stop:
            log.info("export stopped", export=job.id, reason=str(stop))
        except Exception as exc:
            await self._finish(running, ExportStatus.FAILED, error=str(exc) or repr(exc))
            log.warning("export failed", export=job.id, error=str(exc) or repr(exc))
        else:
            log.info("export completed", export=job.id, rows=finished.rows_written, bytes=finished.artifact_size)
        return True

    async def _claim(self, job: ExportJob) -> ExportJob:
        now = now_ms()
        running = replace(
            job, status=ExportStatus.RUNNING, attempts=job.attempts + 1, lease_until=self._lease(now), rows_written=0,
            error="", updated_at=now,
        )
        await self._storage.run(self._jobs.save, running)
        return running

    async def _finish(self, job: ExportJob, status: ExportStatus, error: str) -> None:
        now = now_ms()
        await self._storage.run(
            self._jobs.save, replace(job, status=status, error=error[:2000], lease_until=EPOCH, updated_at=now,
                                     completed_at=now)
        )

    def _lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._settings.lease_seconds)

    # ---- on the export thread -------------------------------------------------------

    def _export(self, job: ExportJob, meter: Meter) -> ExportJob:
        """Write the job's artifact, then mark it completed; raises Stopped if it must not finish."""
        directory = self._settings.directory
        directory.mkdir(parents=True, exist_ok=True)
        extension = ("csv" if job.format.value == "csv" else "jsonl") + (".gz" if job.gzip else "")
        name = f"{job.id}-r{job.run}-a{job.attempts}.{extension}"
        temporary = directory / (name + ".tmp")
        try:
            with open(temporary, "wb") as raw:
                out = open_output(raw, job.gzip)
                rows = self._write(job, meter, out)
                if out is not raw:
                    out.close()
                raw.flush()
                os.fsync(raw.fileno())
            size = temporary.stat().st_size
            os.replace(temporary, directory / name)
        finally:
            temporary.unlink(missing_ok=True)
        try:
            self._check_still_running(job)
        except Stopped:
            (directory / name).unlink(missing_ok=True)
            raise
        now = now_ms()
        completed = replace(
            job, status=ExportStatus.COMPLETED, rows_written=rows, artifact=name, artifact_size=size,
            lease_until=EPOCH, updated_at=now, completed_at=now,
        )
        self._jobs.save(completed)
        return completed

    def _write(self, job: ExportJob, meter: Meter, out: BinaryIO) -> int:
        query = json.loads(job.query)
        reader = self._open_reader()
        try:
            if job.kind is ExportKind.USAGE_BUCKETS:
                plan = plan_bucket_export(meter, query)
                rows = usage_rows(plan.query, QueryStore(reader).usage(plan.query))[: plan.limit]
                csv_rows = [
                    BucketCsvRow(
                        bucket_start_us=row.window.bucket * 1_000_000, subject=row.subject or plan.subject,
                        meter=meter.name, bucket_size=plan.bucket_size, aggregation=meter.aggregation.value,
                        unit=meter.unit, quantity=row.value, group=dict(row.group),
                    )
                    for row in rows
                ]
                return write_buckets(out, csv_rows, plan.query.group_by)
            listing = plan_event_export(meter, query, job.as_of_us)
            writer = EventWriter(out, job.format)
            written, reported = 0, time.monotonic()
            blocks = stream_events(reader, listing)
            try:
                for block in blocks:
                    written += writer.write(stored_event(meter, record) for record in block)
                    if time.monotonic() - reported >= PROGRESS_SECONDS:
                        self._progress(job, written)
                        reported = time.monotonic()
            finally:
                blocks.close()
            return written
        finally:
            reader.close()

    def _progress(self, job: ExportJob, rows: int) -> None:
        """Write the rows so far with a renewed lease; stop if the job was canceled or retried."""
        self._check_still_running(job)
        now = now_ms()
        self._jobs.save(replace(job, rows_written=rows, lease_until=self._lease(now), updated_at=now))
        log.debug("export progress", export=job.id, rows=rows)

    def _check_still_running(self, job: ExportJob) -> None:
        if self._stopping.is_set():
            now = now_ms()
            self._jobs.save(replace(job, status=ExportStatus.QUEUED, lease_until=EPOCH, updated_at=now))
            raise Stopped("the process is stopping; queued again")
        current = self._jobs.get(job.id)
        if current is None or current.run != job.run or current.status is not ExportStatus.RUNNING:
            raise Stopped(f"the job is {current.status.value if current else 'gone'}")
        if current.attempts != job.attempts:
            raise Stopped("another worker claimed the job")

    # ---- retention ----------------------------------------------------------------

    async def sweep_if_due(self) -> None:
        if time.monotonic() - self._last_sweep < SWEEP_SECONDS:
            return
        self._last_sweep = time.monotonic()
        await self.sweep()

    async def sweep(self) -> int:
        """Delete artifacts older than the retention (their jobs stay, without a download), and
        temporary files a killed export left behind; returns how many artifacts expired."""
        now = now_ms()
        expired = 0
        for job in await self._storage.run(self._jobs.with_artifacts):
            expires = self._exports.expires_at(job)
            if expires is None or expires > now:
                continue
            (self._settings.directory / job.artifact).unlink(missing_ok=True)
            await self._storage.run(self._jobs.save, replace(job, artifact="", updated_at=now))
            log.info("export artifact expired", export=job.id, bytes=job.artifact_size)
            expired += 1
        stale_before = time.time() - 2 * self._settings.lease_seconds
        if self._settings.directory.is_dir():
            for leftover in self._settings.directory.glob("*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if leftover.stat().st_mtime < stale_before:
                        leftover.unlink()
        return expired
