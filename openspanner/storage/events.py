"""Usage events in ClickHouse: the writes and look-ups the ingest path needs.

Queries over events (totals, breakdowns) are built elsewhere; this module only
stores rows and answers "which of these keys are already stored?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xxhash
from clickhouse_connect.driver.client import Client

from openspanner.storage.schema import EVENT_KEYS_TABLE, EVENTS_TABLE

COLUMNS = (
    ("meter", "LowCardinality(String)"),
    ("subject", "String"),
    ("timestamp", "DateTime64(6, 'UTC')"),
    ("idempotency_key", "String"),
    ("quantity", "Float64"),
    ("metadata", "Map(LowCardinality(String), String)"),
    ("ingested_at", "DateTime64(6, 'UTC')"),
    ("retention_days", "UInt16"),
)
# Retention is at most 3650 days: ~122 monthly partitions, plus headroom.
MAX_MONTHS_PER_BLOCK = 200
COLUMN_NAMES = [name for name, _ in COLUMNS]
COLUMN_TYPES = [type_name for _, type_name in COLUMNS]


@dataclass(slots=True)
class EventRow:
    """One validated event, in storage form (times in microseconds since the epoch)."""

    meter: str
    idempotency_key: str
    subject: str
    timestamp_us: int
    quantity: float
    metadata: dict[str, str]
    retention_days: int


class EventStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def stored_keys(self, meter: str, keys: Sequence[str]) -> set[str]:
        """The subset of `keys` already stored for `meter` (merged or not).

        Asks by xxHash64 (the same function the key view applies) and reads
        only the hash column: the key strings cost as much again to read, and
        most keys of a batch are new. Only hashes that are found are checked
        against the key strings, so a hash shared by two keys changes nothing.
        """
        if not keys:
            return set()
        hash_of = {key: xxhash.xxh64_intdigest(key.encode()) for key in keys}
        found = self._found_hashes(meter, sorted(set(hash_of.values())))
        if not found:
            return set()
        candidates = [key for key, key_hash in hash_of.items() if key_hash in found]
        rows = self._client.query(
            f"SELECT DISTINCT idempotency_key FROM {EVENT_KEYS_TABLE}"
            " WHERE meter = {meter:String} AND key_hash IN {hashes:Array(UInt64)}"
            " AND idempotency_key IN {keys:Array(String)}",
            parameters={"meter": meter, "hashes": _UInt64Array(sorted(found)), "keys": candidates},
        ).result_rows
        return {row[0] for row in rows}

    def _found_hashes(self, meter: str, hashes: Sequence[int]) -> set[int]:
        rows = self._client.query(
            f"SELECT DISTINCT key_hash FROM {EVENT_KEYS_TABLE}"
            " WHERE meter = {meter:String} AND key_hash IN {hashes:Array(UInt64)}",
            parameters={"meter": meter, "hashes": _UInt64Array(hashes)},
        ).result_rows
        return {row[0] for row in rows}

    def insert(self, rows: Sequence[EventRow], ingested_at_us: int) -> None:
        """Insert in one block; returns once ClickHouse has written it."""
        if not rows:
            return
        columns: list[list[Any]] = [
            [r.meter for r in rows],
            [r.subject for r in rows],
            [r.timestamp_us for r in rows],
            [r.idempotency_key for r in rows],
            [r.quantity for r in rows],
            [r.metadata for r in rows],
            [ingested_at_us] * len(rows),
            [r.retention_days for r in rows],
        ]
        self._client.insert(
            EVENTS_TABLE,
            columns,
            column_names=COLUMN_NAMES,
            column_type_names=COLUMN_TYPES,
            column_oriented=True,
            settings={
                # A backfill batch may touch every month of a 10-year retention
                # (ClickHouse refuses more than 100 partitions per block by default).
                "max_partitions_per_insert_block": MAX_MONTHS_PER_BLOCK,
                # The writer sends each key once per block, so collapsing copies
                # inside the block only cost time (~2 us per row); merges and
                # FINAL still collapse copies stored by other servers.
                "optimize_on_insert": 0,
            },
        )

    def count(self, meter: str) -> int:
        """Distinct stored events of a meter."""
        result = self._client.query(
            f"SELECT count() FROM {EVENTS_TABLE} FINAL WHERE meter = {{meter:String}}",
            parameters={"meter": meter},
        )
        return int(result.result_rows[0][0])

    def delete_meter_events(self, meter: str) -> None:
        """Remove every event of a meter and its keys (the meter is deleted with force)."""
        for table in (EVENTS_TABLE, EVENT_KEYS_TABLE):
            self._client.command(
                "DELETE FROM {table:Identifier} WHERE meter = {meter:String}",
                parameters={"table": table, "meter": meter},
            )

    def set_retention(self, meter: str, days: int) -> None:
        """Re-point the TTL of stored events and keys after the meter's retention changed."""
        for table in (EVENTS_TABLE, EVENT_KEYS_TABLE):
            self._client.command(
                "ALTER TABLE {table:Identifier} UPDATE retention_days = {days:UInt16}"
                " WHERE meter = {meter:String}",
                parameters={"table": table, "meter": meter, "days": days},
            )


class _UInt64Array:
    """A bound Array(UInt64) parameter value, formatted in one join.

    clickhouse-connect formats a list parameter item by item through its
    generic formatter, which for the 20,000 hashes of a large batch cost more
    than the look-up itself; values it does not know are sent as `str(value)`.
    The items are integers we computed, never client text.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Sequence[int]) -> None:
        self._values = values

    def __str__(self) -> str:
        return "[" + ",".join(map(str, self._values)) + "]"
