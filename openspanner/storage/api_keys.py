"""API key records in ClickHouse: identifiers, scopes and secret hashes, never secrets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from openspanner.storage.schema import API_KEYS_TABLE

_COLUMNS = ["id", "name", "scope", "secret_sha256", "create_time", "revoke_time", "version"]
_TYPES = [
    "String",
    "String",
    "LowCardinality(String)",
    "String",
    "DateTime64(3, 'UTC')",
    "Nullable(DateTime64(3, 'UTC'))",
    "UInt64",
]


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    scope: str
    secret_sha256: str
    create_time: datetime
    revoke_time: datetime | None = None


class ApiKeyStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def load_all(self) -> list[ApiKeyRecord]:
        rows = self._client.query(
            f"SELECT id, name, scope, secret_sha256, create_time, revoke_time"
            f" FROM {API_KEYS_TABLE} FINAL ORDER BY create_time, id"
        ).result_rows
        return [
            ApiKeyRecord(r[0], r[1], r[2], r[3], _utc(r[4]), _utc(r[5]) if r[5] else None)
            for r in rows
        ]

    def save(self, record: ApiKeyRecord) -> None:
        self._client.insert(
            API_KEYS_TABLE,
            [[
                record.id,
                record.name,
                record.scope,
                record.secret_sha256,
                record.create_time,
                record.revoke_time,
                time.time_ns(),
            ]],
            column_names=_COLUMNS,
            column_type_names=_TYPES,
        )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
