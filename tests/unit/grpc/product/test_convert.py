"""The product's gRPC messages <-> domain values, with no pass through our own API's messages."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.events import BulkAnswer, EventResult, Outcome, RefusedEvent, StoredEvent, UsageEvent
from openspanner.errors import InvalidArgument, NotFound
from openspanner.grpc.product.convert import event_from_product, fill_product_bulk_answer, request_from_product
from openspanner.v1 import open_spanner_usage_pb2 as product

STORED = StoredEvent(
    id="1d2c", idempotency_key="a", subject="org", meter="calls", quantity=1.5, timestamp_us=1_700_000_000_000_001,
    ingested_at_us=1_700_000_001_000_000, metadata={"region": "eu", "cached": True, "tokens": 12.0},
)


def test_a_product_event_becomes_a_domain_event() -> None:
    message = product.UsageEventInput(
        idempotency_key="k", subject="org", meter="calls", quantity=3,
        timestamp=Timestamp(seconds=1_700_000_000, nanos=999_999_999),
        metadata={"region": struct_pb2.Value(string_value="eu"), "gone": struct_pb2.Value(null_value=0)},
    )
    event = event_from_product(message)
    assert event == UsageEvent("k", "org", "calls", 3.0, 1_700_000_000_999_999, {"region": "eu", "gone": None})


def test_a_product_event_without_a_key_gets_a_new_one_each_time() -> None:
    message = product.UsageEventInput(subject="org", meter="calls", quantity=1)
    first, second = event_from_product(message), event_from_product(message)
    assert first.idempotency_key.startswith("generated:") and first.idempotency_key != second.idempotency_key
    assert isinstance(first, UsageEvent) and first.timestamp_us is None


def test_impossible_nanos_refuse_a_product_event_in_its_place() -> None:
    message = product.UsageEventInput(idempotency_key="k", meter="calls", timestamp=Timestamp(nanos=-1))
    request = request_from_product("b1", [message])
    (event,) = request.events
    assert request.idempotency_key == "b1"
    assert isinstance(event, RefusedEvent) and event.error.field == "timestamp"


def test_a_bulk_answer_fills_the_products_lists_in_request_order() -> None:
    answer = BulkAnswer.of([
        EventResult(0, "a", Outcome.ACCEPTED, event=STORED),
        EventResult(1, "b", Outcome.REJECTED, NotFound("meter 'x' does not exist", field="meter")),
        EventResult(2, "c", Outcome.REJECTED, InvalidArgument("is too old", field="timestamp")),
        EventResult(3, "d", Outcome.DUPLICATE, event=STORED),
        EventResult(4, "e", Outcome.ACCEPTED),  # replayed from an answer that carried no events
    ])
    filled = fill_product_bulk_answer(product.CreateUsageBulkResponse(), answer)
    assert (filled.accepted_count, filled.duplicate_count, filled.failed_count) == (2, 1, 2)
    assert [(f.index, f.code, f.message) for f in filled.failed] == [
        (1, "not_found", "not found: meter: meter 'x' does not exist"),
        (2, "invalid_timestamp", "invalid input: timestamp: is too old"),
    ]
    stored, key_only = filled.accepted
    assert (stored.id, stored.meter, stored.quantity, key_only.idempotency_key, key_only.id) == (
        "1d2c", "calls", 1.5, "e", ""
    )
    assert stored.timestamp.ToDatetime(tzinfo=UTC) == datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=UTC)
    assert (stored.received_at.seconds, stored.received_at.nanos) == (1_700_000_001, 0)
    assert dict(stored.metadata) == {
        "region": struct_pb2.Value(string_value="eu"),
        "cached": struct_pb2.Value(bool_value=True),
        "tokens": struct_pb2.Value(number_value=12.0),
    }
    assert [d.idempotency_key for d in filled.duplicates] == ["a"]
