"""Export jobs in ClickHouse, and the streamed read of a raw event export.

Jobs are versioned rows (ReplacingMergeTree, schema migration 19) read with
FINAL; exports/model.py says how versions are made. The event export is one
query read block by block: the engine reads the table in its sorting key's
order (meter, subject, hour), so it sorts only within an hour of a subject,
never the whole export, and memory stays flat however many events there are.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.domain.events import EventRecord
from openspanner.domain.queries import EventListing
from openspanner.exports.model import ExportFormat, ExportJob, ExportKind, ExportStatus
from openspanner.storage.queries import READ_SETTINGS, Parameters, _conditions
from openspanner.storage.schema import EVENTS_TABLE, EXPORT_JOBS_TABLE

_TIME = "DateTime64(3, 'UTC')"
_COLUMNS = {
    "id": "String", "kind": "LowCardinality(String)", "format": "LowCardinality(String)", "gzip": "UInt8",
    "query": "String", "status": "LowCardinality(String)", "run": "UInt32", "attempts": "UInt32",
    "lease_until": _TIME, "rows_written": "UInt64", "artifact": "String", "artifact_size": "UInt64",
    "error": "String", "created_at": _TIME, "updated_at": _TIME, "completed_at": f"Nullable({_TIME})",
    "as_of_us": "Int64", "version": "UInt64",
}
_FIELDS = [name for name in _COLUMNS if name != "version"]
_SELECT = ", ".join(_FIELDS)
# One thread: the read follows the sorting key in one stream, so only one block is in flight.
STREAM_SETTINGS = {**READ_SETTINGS, "max_threads": 1, "max_block_size": 8192}


class ExportJobStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def save(self, job: ExportJob) -> None:
        """One version of a job; committed when this returns (inserts are synchronous)."""
        self._client.insert(
            EXPORT_JOBS_TABLE, [[*_row(job), job.version]],
            column_names=list(_COLUMNS), column_type_names=list(_COLUMNS.values()),
        )

    def get(self, job_id: str) -> ExportJob | None:
        rows = self._client.query(
            f"SELECT {_SELECT} FROM {{table:Identifier}} FINAL WHERE id = {{id:String}}",
            parameters={"table": EXPORT_JOBS_TABLE, "id": job_id},
        ).result_rows
        return _job(rows[0]) if rows else None

    def page(self, limit: int, before: tuple[datetime, str] | None) -> list[ExportJob]:
        """Newest first; `before`: the (created_at, id) of the previous page's last job."""
        rows = self._client.query(
            f"SELECT {_SELECT} FROM {{table:Identifier}} FINAL"
            " WHERE {has_cursor:UInt8} = 0 OR (created_at, id) < ({at:DateTime64(3, 'UTC')}, {id:String})"
            " ORDER BY created_at DESC, id DESC LIMIT {limit:UInt32}",
            parameters={
                "table": EXPORT_JOBS_TABLE, "limit": limit, "has_cursor": int(before is not None),
                "at": before[0] if before else datetime(1970, 1, 1, tzinfo=UTC), "id": before[1] if before else "",
            },
        ).result_rows
        return [_job(row) for row in rows]

    def due(self, now: datetime, exclude: Sequence[str], limit: int) -> list[ExportJob]:
        """Queued jobs, and running ones whose lease ended (their worker stopped), oldest first."""
        rows = self._client.query(
            f"SELECT {_SELECT} FROM {{table:Identifier}} FINAL"
            " WHERE id IN (SELECT id FROM {table:Identifier} WHERE status IN ('queued', 'running'))"
            " AND (status = 'queued' OR (status = 'running' AND lease_until <= {now:DateTime64(3, 'UTC')}))"
            " AND NOT has({exclude:Array(String)}, id)"
            " ORDER BY created_at, id LIMIT {limit:UInt32}",
            parameters={"table": EXPORT_JOBS_TABLE, "now": now, "exclude": list(exclude), "limit": limit},
        ).result_rows
        return [_job(row) for row in rows]

    def with_artifacts(self) -> list[ExportJob]:
        """Completed jobs whose artifact is still on disk (artifact not yet cleared)."""
        rows = self._client.query(
            f"SELECT {_SELECT} FROM {{table:Identifier}} FINAL WHERE status = 'completed' AND artifact != ''",
            parameters={"table": EXPORT_JOBS_TABLE},
        ).result_rows
        return [_job(row) for row in rows]


def event_export_sql(listing: EventListing) -> tuple[str, Parameters]:
    """Every event of the listing stored up to its as_of, by subject, hour, then time and key."""
    where, params = _conditions(
        listing.meter.name, listing.start_us, listing.end_us, listing.subjects, listing.filters, listing.filter_tree
    )
    where.append("ingested_at <= fromUnixTimestamp64Micro({as_of_us:Int64}, 'UTC')")
    params["as_of_us"] = listing.as_of_us
    sql = (
        "SELECT idempotency_key, subject, toUnixTimestamp64Micro(timestamp), quantity, metadata,"
        " toUnixTimestamp64Micro(ingested_at)"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        # A prefix of the sorting key, then time within the hour: read in order, sorted per hour only.
        " ORDER BY meter, subject, toStartOfHour(timestamp), timestamp, idempotency_key"
    )
    return sql, params


def stream_events(client: Client, listing: EventListing) -> Generator[list[EventRecord], None, None]:
    """The listing's events a block at a time. Blocking; the client is held until the iterator
    ends or is closed, so it must be one no other call uses (with the embedded engine, a client
    streaming a result answers nothing else)."""
    sql, params = event_export_sql(listing)
    with client.query_row_block_stream(sql, parameters=params, settings=STREAM_SETTINGS) as blocks:
        for block in blocks:
            yield [
                EventRecord(key, subject, int(ts), float(quantity), dict(metadata), int(ingested))
                for key, subject, ts, quantity, metadata, ingested in block
            ]


def _row(job: ExportJob) -> list[Any]:
    return [
        job.id, job.kind.value, job.format.value, int(job.gzip), job.query, job.status.value, job.run, job.attempts,
        job.lease_until, job.rows_written, job.artifact, job.artifact_size, job.error, job.created_at,
        job.updated_at, job.completed_at, job.as_of_us,
    ]


def _job(row: Sequence[Any]) -> ExportJob:
    return ExportJob(
        id=row[0], kind=ExportKind(row[1]), format=ExportFormat(row[2]), gzip=bool(row[3]), query=row[4],
        status=ExportStatus(row[5]), run=int(row[6]), attempts=int(row[7]), lease_until=_utc(row[8]),
        rows_written=int(row[9]), artifact=row[10], artifact_size=int(row[11]), error=row[12],
        created_at=_utc(row[13]), updated_at=_utc(row[14]), completed_at=None if row[15] is None else _utc(row[15]),
        as_of_us=int(row[16]),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
