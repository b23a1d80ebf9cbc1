"""Rows of an event export: JSON Lines as the events API answers, CSV as the product's writer, gzip."""

from __future__ import annotations

import csv
import gzip
import io
import json

from openspanner.domain.events import StoredEvent
from openspanner.exports.model import ExportFormat
from openspanner.exports.writers import EVENT_CSV_HEADER, EventWriter, open_output
from openspanner.http.wire import usage_event

EVENTS = [
    StoredEvent("id-1", "k1", "org_1", "tokens", 1842.0, 1_781_870_400_000_000, 1_781_870_400_500_000,
                {"model": "claude, opus", "cached": True, "tokens": 9.5}),
    StoredEvent("id-2", "k2", ' say "hi"', "tokens", 0.25, 1_781_870_401_123_456, 1_781_870_402_000_000, {}),
]


def written(fmt: ExportFormat, compress: bool = False) -> bytes:
    raw = io.BytesIO()
    out = open_output(raw, compress)
    writer = EventWriter(out, fmt)
    assert writer.write(EVENTS[:1]) + writer.write(EVENTS[1:]) == 2
    if out is not raw:
        out.close()
    return raw.getvalue()


def test_json_lines_are_the_events_apis_items() -> None:
    lines = written(ExportFormat.JSONL).decode().splitlines()
    assert [json.loads(line) for line in lines] == [usage_event(e).model_dump() for e in EVENTS]


def test_csv_has_the_products_columns_quoted_as_go_quotes() -> None:
    text = written(ExportFormat.CSV).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == EVENT_CSV_HEADER
    assert rows[1] == ["2026-06-19T12:00:00Z", "2026-06-19T12:00:00.5Z", "org_1", "tokens", "1842",
                       '{"model":"claude, opus","cached":true,"tokens":9.5}', "id-1", "k1"]
    assert rows[2][2] == ' say "hi"' and rows[2][4] == "0.25" and rows[2][5] == "{}"
    assert '," say ""hi""",' in text  # a leading space is quoted, as Go's encoding/csv does


def test_gzip_holds_the_same_bytes() -> None:
    assert gzip.decompress(written(ExportFormat.CSV, compress=True)) == written(ExportFormat.CSV)
