"""First answers of keyed bulk calls, so that a repeated call changes nothing."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from openspanner.storage.schema import BULK_REQUESTS_TABLE


@dataclass(frozen=True)
class StoredBulkAnswer:
    request_sha256: str
    response: bytes


class BulkRequestStore:
    def __init__(self, client: Client, retention_days: int) -> None:
        self._client = client
        self._retention_seconds = retention_days * 86_400

    def get(self, idempotency_key: str) -> StoredBulkAnswer | None:
        rows = self._client.query(
            f"SELECT request_sha256, response FROM {BULK_REQUESTS_TABLE} FINAL"
            " WHERE idempotency_key = {key:String} LIMIT 1",
            parameters={"key": idempotency_key},
        ).result_rows
        if not rows:
            return None
        return StoredBulkAnswer(rows[0][0], base64.b64decode(rows[0][1]))

    def save(self, idempotency_key: str, request_sha256: str, response: bytes) -> None:
        now = time.time()
        self._client.insert(
            BULK_REQUESTS_TABLE,
            [[
                idempotency_key,
                request_sha256,
                base64.b64encode(response).decode(),
                int(now * 1000),
                int(now) + self._retention_seconds,
            ]],
            column_names=["idempotency_key", "request_sha256", "response", "create_time", "expire_time"],
            column_type_names=["String", "String", "String", "DateTime64(3, 'UTC')", "DateTime('UTC')"],
        )
