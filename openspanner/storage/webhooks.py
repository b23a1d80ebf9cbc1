"""Webhook destinations, delivery jobs and the delivery log in ClickHouse.

Destinations and jobs are versioned rows (ReplacingMergeTree) read with
FINAL, so the newest version of each is the one read; the delivery log is
append-only (schema migrations 13 and 14, docs/webhooks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.storage.schema import DELIVERY_ATTEMPTS_TABLE, DELIVERY_JOBS_TABLE, WEBHOOK_DESTINATIONS_TABLE
from openspanner.webhooks.model import Attempt, AttemptStatus, DeliveryJob, Destination, JobStatus

_TIME = "DateTime64(3, 'UTC')"
_DESTINATION_COLUMNS = {
    "id": "String", "name": "String", "type": "LowCardinality(String)", "enabled": "UInt8",
    "webhook_url": "String", "secret": "String", "created_at": _TIME, "updated_at": _TIME,
    "event_types": "Array(LowCardinality(String))", "version": "UInt64", "deleted": "UInt8",
}
_JOB_COLUMNS = {
    "id": "String", "event_kind": "LowCardinality(String)", "event_id": "String", "destination_id": "String",
    "body": "String", "status": "LowCardinality(String)", "attempts": "UInt32", "retry_base": "UInt32",
    "next_attempt_at": _TIME, "lease_until": _TIME, "last_status_code": "UInt16", "last_error": "String",
    "created_at": _TIME, "updated_at": _TIME, "version": "UInt64",
}
_JOB_FIELDS = [name for name in _JOB_COLUMNS if name != "version"]
_ATTEMPT_COLUMNS = {
    "job_id": "String", "attempt": "UInt32", "event_id": "String", "destination_id": "String",
    "status": "LowCardinality(String)", "status_code": "UInt16", "error": "String", "duration_ms": "UInt32",
    "attempted_at": _TIME,
}
# The version of a job's first row: every later state is written with a nanosecond clock, so a
# repeated enqueue (the same id) never wins over progress.
ENQUEUE_VERSION = 1


class DestinationStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def save(self, destination: Destination, version: int) -> None:
        self._write(destination, version, deleted=0)

    def delete(self, destination_id: str, version: int) -> None:
        gone = Destination(destination_id, "", "", False, "", "", _epoch(), _epoch())
        self._write(gone, version, deleted=1)

    def get(self, destination_id: str) -> Destination | None:
        rows = self._client.query(
            f"SELECT {_destination_select()} FROM {{table:Identifier}} FINAL WHERE id = {{id:String}}",
            parameters={"table": WEBHOOK_DESTINATIONS_TABLE, "id": destination_id},
        ).result_rows
        return _destination(rows[0]) if rows else None

    def list(self, type: str | None, enabled: bool | None, limit: int) -> list[Destination]:
        rows = self._client.query(
            f"SELECT {_destination_select()} FROM {{table:Identifier}} FINAL"
            " WHERE ({type:Nullable(String)} IS NULL OR type = {type:Nullable(String)})"
            " AND ({enabled:Nullable(UInt8)} IS NULL OR enabled = {enabled:Nullable(UInt8)})"
            " ORDER BY created_at DESC, id DESC LIMIT {limit:UInt32}",
            parameters={
                "table": WEBHOOK_DESTINATIONS_TABLE, "type": type,
                "enabled": None if enabled is None else int(enabled), "limit": limit,
            },
        ).result_rows
        return [_destination(row) for row in rows]

    def _write(self, d: Destination, version: int, deleted: int) -> None:
        row = [d.id, d.name, d.type, int(d.enabled), d.webhook_url, d.secret, d.created_at, d.updated_at,
               list(d.event_types), version, deleted]
        self._client.insert(
            WEBHOOK_DESTINATIONS_TABLE, [row],
            column_names=list(_DESTINATION_COLUMNS), column_type_names=list(_DESTINATION_COLUMNS.values()),
        )


class DeliveryJobStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def save(self, job: DeliveryJob, version: int) -> None:
        """One version of a job's state; committed when this returns (inserts are synchronous)."""
        self._client.insert(
            DELIVERY_JOBS_TABLE, [[*_job_row(job), version]],
            column_names=list(_JOB_COLUMNS), column_type_names=list(_JOB_COLUMNS.values()),
        )

    def get(self, job_id: str) -> DeliveryJob | None:
        rows = self._client.query(
            f"SELECT {', '.join(_JOB_FIELDS)} FROM {{table:Identifier}} FINAL WHERE id = {{id:String}}",
            parameters={"table": DELIVERY_JOBS_TABLE, "id": job_id},
        ).result_rows
        return _job(rows[0]) if rows else None

    def due(self, now: datetime, exclude: Sequence[str], limit: int) -> list[DeliveryJob]:
        """Jobs to attempt now: pending and due, or running with an expired lease (the worker
        that held it stopped mid-attempt), oldest due first; `exclude`: attempts in flight here."""
        # FINAL only over the ids that have an open version: the subquery reads one small column of
        # every row, and the merge of versions touches only those ids' granules (the table is sorted
        # by id), not 30 days of delivered jobs. Versions merged away leave the candidates too.
        rows = self._client.query(
            f"SELECT {', '.join(_JOB_FIELDS)} FROM {{table:Identifier}} FINAL"
            " WHERE id IN (SELECT id FROM {table:Identifier} WHERE status IN ('pending', 'running'))"
            " AND ((status = 'pending' AND next_attempt_at <= {now:DateTime64(3, 'UTC')})"
            " OR (status = 'running' AND lease_until <= {now:DateTime64(3, 'UTC')}))"
            " AND NOT has({exclude:Array(String)}, id)"
            " ORDER BY next_attempt_at, id LIMIT {limit:UInt32}",
            parameters={"table": DELIVERY_JOBS_TABLE, "now": now, "exclude": list(exclude), "limit": limit},
        ).result_rows
        return [_job(row) for row in rows]

    def list(self, filters: dict[str, str | None], limit: int) -> list[DeliveryJob]:
        """Newest first; each filter (status, destination_id, event_id, event_kind) that is not None."""
        conditions = " AND ".join(
            f"({{{name}:Nullable(String)}} IS NULL OR {name} = {{{name}:Nullable(String)}})" for name in filters
        ) or "1"
        rows = self._client.query(
            f"SELECT {', '.join(_JOB_FIELDS)} FROM {{table:Identifier}} FINAL WHERE {conditions}"
            " ORDER BY created_at DESC, id DESC LIMIT {limit:UInt32}",
            parameters={"table": DELIVERY_JOBS_TABLE, "limit": limit, **filters},
        ).result_rows
        return [_job(row) for row in rows]


class DeliveryAttemptStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, attempt: Attempt) -> None:
        row = [attempt.job_id, attempt.attempt, attempt.event_id, attempt.destination_id, attempt.status.value,
               attempt.status_code, attempt.error, attempt.duration_ms, attempt.attempted_at]
        self._client.insert(
            DELIVERY_ATTEMPTS_TABLE, [row],
            column_names=list(_ATTEMPT_COLUMNS), column_type_names=list(_ATTEMPT_COLUMNS.values()),
        )

    def of_job(self, job_id: str) -> list[Attempt]:
        rows = self._client.query(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM {{table:Identifier}} WHERE job_id = {{id:String}}"
            " ORDER BY attempted_at, attempt",
            parameters={"table": DELIVERY_ATTEMPTS_TABLE, "id": job_id},
        ).result_rows
        return [_attempt(row) for row in rows]

    def latest_of_events(self, event_ids: Sequence[str]) -> dict[str, Attempt]:
        """The latest attempt of each event (any destination), for listing events with their delivery."""
        rows = self._client.query(
            f"SELECT {', '.join(f'argMax({c}, attempted_at)' for c in _ATTEMPT_COLUMNS)}"
            " FROM {table:Identifier} WHERE has({ids:Array(String)}, event_id) GROUP BY event_id",
            parameters={"table": DELIVERY_ATTEMPTS_TABLE, "ids": list(event_ids)},
        ).result_rows
        return {attempt.event_id: attempt for attempt in map(_attempt, rows)}


def _destination_select() -> str:
    return ", ".join(name for name in _DESTINATION_COLUMNS if name not in ("version", "deleted"))


def _destination(row: Sequence[Any]) -> Destination:
    return Destination(
        row[0], row[1], row[2], bool(row[3]), row[4], row[5], _utc(row[6]), _utc(row[7]), tuple(row[8])
    )


def _job_row(job: DeliveryJob) -> list[Any]:
    return [
        job.id, job.event_kind, job.event_id, job.destination_id, job.body, job.status.value, job.attempts,
        job.retry_base, job.next_attempt_at, job.lease_until, job.last_status_code, job.last_error,
        job.created_at, job.updated_at,
    ]


def _job(row: Sequence[Any]) -> DeliveryJob:
    body = row[4]
    return DeliveryJob(
        id=row[0], event_kind=row[1], event_id=row[2], destination_id=row[3],
        body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
        status=JobStatus(row[5]), attempts=row[6], retry_base=row[7], next_attempt_at=_utc(row[8]),
        lease_until=_utc(row[9]), last_status_code=row[10], last_error=row[11], created_at=_utc(row[12]),
        updated_at=_utc(row[13]),
    )


def _attempt(row: Sequence[Any]) -> Attempt:
    return Attempt(row[0], row[1], row[2], row[3], AttemptStatus(row[4]), row[5], row[6], row[7], _utc(row[8]))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
