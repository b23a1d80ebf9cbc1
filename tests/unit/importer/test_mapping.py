"""The importer's row mapping: CSV and JSON values become the meter's typed fields, or a refusal naming one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format

from openspanner.importer.mapping import ColumnMap, RowMapper, RowRejected
from openspanner.importer.source import Row
from openspanner.v1 import meter_pb2, usage_pb2


def meter_definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "aggregation": "sum",
        "event_retention_days": 365,
        "dimensions": [
            {"name": "region", "type": "string", "required": True},
            {"name": "cached", "type": "boolean", "required": False},
            {"name": "tokens.in", "type": "number", "required": False},
        ],
    }


@pytest.fixture
def mapper() -> Iterator[Callable[[dict[str, Any]], usage_pb2.UsageEvent]]:
    definition = json_format.ParseDict(meter_definition("m"), meter_pb2.Meter())
    row_mapper = RowMapper(definition, ColumnMap(), None, "src", text_values=True)

    def event_of(fields: dict[str, Any]) -> usage_pb2.UsageEvent:
        request = usage_pb2.RecordUsagesRequest()
        row = Row(1, {"idempotency_key": "k", "subject": "s", "quantity": "1", **fields})
        row_mapper.add_event(row, request.events)
        return request.events[0]

    yield event_of


@pytest.mark.parametrize(
    ("text", "seconds", "nanos"),
    [
        ("2026-01-15T12:00:00Z", 1768478400, 0),
        ("2026-01-15T14:00:00.25+02:00", 1768478400, 250_000_000),
        ("1768478400", 1768478400, 0),
        ("1768478400.5", 1768478400, 500_000_000),
        ("1768478400123", 1768478400, 123_000_000),
    ],
)
def test_timestamps_rfc3339_epoch_seconds_and_milliseconds(
    mapper: Callable[[dict[str, Any]], usage_pb2.UsageEvent], text: str, seconds: int, nanos: int
) -> None:
    event = mapper({"timestamp": text})
    assert (event.timestamp.seconds, event.timestamp.nanos) == (seconds, nanos)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-01-15T12:00:00"}, "timestamp"),
        ({"quantity": "1,5"}, "quantity"),
        ({"cached": "perhaps"}, "metadata.cached"),
        ({"tokens.in": "many"}, "metadata.tokens.in"),
    ],
)
def test_values_that_cannot_be_translated_name_their_field(
    mapper: Callable[[dict[str, Any]], usage_pb2.UsageEvent], fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(RowRejected) as refused:
        mapper(fields)
    assert refused.value.field == field


def test_csv_text_becomes_the_declared_dimension_types(
    mapper: Callable[[dict[str, Any]], usage_pb2.UsageEvent],
) -> None:
    event = mapper({"region": "eu", "cached": "TRUE", "tokens.in": "12.5", "timestamp": ""})
    assert json_format.MessageToDict(event.metadata) == {"region": "eu", "cached": True, "tokens.in": 12.5}
    assert not event.HasField("timestamp")
