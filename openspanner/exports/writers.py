"""Rows of an export as bytes: CSV (as the product writes it) or JSON Lines, gzip on request.

A writer takes rows as they are read and writes each straight to the file,
so nothing but the current block is held in memory.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import BinaryIO

from openspanner.domain.buckets import BucketCsvRow, bucket_csv, csv_line, format_quantity
from openspanner.domain.events import StoredEvent
from openspanner.domain.times import format_rfc3339
from openspanner.exports.model import ExportFormat

# The product's event CSV columns (WriteEventCSV), metadata as a JSON object.
EVENT_CSV_HEADER = ("timestamp", "received_at", "subject", "meter", "quantity", "metadata", "id", "idempotency_key")


def open_output(raw: BinaryIO, compress: bool) -> BinaryIO:
    """The stream rows are written to: the file itself, or a gzip stream over it."""
    if not compress:
        return raw
    # mtime 0: the same rows make the same bytes.
    return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)  # type: ignore[return-value]


def event_json(event: StoredEvent) -> dict[str, object]:
    """An event as the events API answers it (GET /v1/meters/{id}/events), field for field."""
    return {
        "id": event.id,
        "idempotency_key": event.idempotency_key,
        "subject": event.subject,
        "meter": event.meter,
        "quantity": event.quantity,
        "timestamp": format_rfc3339(event.timestamp_us),
        "received_at": format_rfc3339(event.ingested_at_us),
        "metadata": dict(event.metadata),
    }


class EventWriter:
    def __init__(self, out: BinaryIO, fmt: ExportFormat) -> None:
        self._out = out
        self._format = fmt
        if fmt is ExportFormat.CSV:
            out.write(csv_line(EVENT_CSV_HEADER).encode("utf-8"))

    def write(self, events: Iterable[StoredEvent]) -> int:
        lines = [self._line(event) for event in events]
        self._out.write("".join(lines).encode("utf-8"))
        return len(lines)

    def _line(self, event: StoredEvent) -> str:
        if self._format is ExportFormat.JSONL:
            return json.dumps(event_json(event), ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
        return csv_line([
            format_rfc3339(event.timestamp_us),
            format_rfc3339(event.ingested_at_us),
            event.subject,
            event.meter,
            format_quantity(event.quantity),
            json.dumps(dict(event.metadata), ensure_ascii=False, separators=(",", ":")),
            event.id,
            event.idempotency_key,
        ])


def write_buckets(out: BinaryIO, rows: list[BucketCsvRow], group_by: tuple[str, ...]) -> int:
    """The product's bucket CSV (at most a search's rows, so written at once)."""
    out.write(bucket_csv(rows, group_by).encode("utf-8"))
    return len(rows)
