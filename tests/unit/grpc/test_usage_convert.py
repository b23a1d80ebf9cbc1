"""Our gRPC usage messages <-> domain values, at the edge."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.events import (
    AckRange,
    BulkAnswer,
    EventResult,
    Outcome,
    RefusedEvent,
    StoredEvent,
    StreamAck,
    Unsupported,
    UsageEvent,
)
from openspanner.errors import InvalidArgument, NotFound, Unavailable
from openspanner.grpc.usage_convert import (
    StructDecoder,
    bulk_request_from_proto,
    event_from_proto,
    events_from_proto,
    record_usage_response,
    record_usages_response,
    stream_ack_to_proto,
)
from openspanner.v1 import usage_pb2

STORED = StoredEvent(
    id="1d2c", idempotency_key="a", subject="org", meter="calls", quantity=1.5, timestamp_us=1_700_000_000_000_001,
    ingested_at_us=1_700_000_001_000_000, metadata={"region": "eu", "cached": True, "tokens": 12.0},
)


def message(**fields: object) -> usage_pb2.UsageEvent:
    values: dict[str, object] = {"idempotency_key": "k", "subject": "org", "meter": "calls", "quantity": 2.0}
    values.update(fields)
    return usage_pb2.UsageEvent(**values)  # type: ignore[arg-type]


def test_a_usage_event_becomes_a_domain_event_with_its_time_in_microseconds() -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"region": "eu", "cached": True, "tokens": 3, "gone": None, "nested": {"a": 1}, "list": [1]})
    converted = event_from_proto(
        message(timestamp=Timestamp(seconds=1_700_000_000, nanos=123_456_789), metadata=metadata), StructDecoder()
    )
    assert isinstance(converted, UsageEvent)
    assert (converted.idempotency_key, converted.subject, converted.meter) == ("k", "org", "calls")
    assert converted.quantity == 2.0
    assert converted.timestamp_us == 1_700_000_000_123_456
    kinds = {k: v.kind if isinstance(v, Unsupported) else v for k, v in converted.metadata.items()}
    assert kinds == {
        "region": "eu", "cached": True, "tokens": 3.0, "gone": None, "nested": "an object", "list": "a list"
    }


def test_an_unset_timestamp_is_none_not_the_epoch() -> None:
    converted = event_from_proto(message(), StructDecoder())
    assert isinstance(converted, UsageEvent) and converted.timestamp_us is None


@pytest.mark.parametrize("nanos", [-1, 1_000_000_000])
def test_impossible_nanos_refuse_the_event_by_its_field(nanos: int) -> None:
    converted = event_from_proto(message(timestamp=Timestamp(seconds=1, nanos=nanos)), StructDecoder())
    assert isinstance(converted, RefusedEvent)
    assert (converted.idempotency_key, converted.meter, converted.error.field) == ("k", "calls", "timestamp")
    assert "nanos must be between 0 and 999,999,999" in converted.error.message


def test_equal_structs_of_one_call_share_one_decoded_dict() -> None:
    first, second, other = (struct_pb2.Struct() for _ in range(3))
    first.update({"region": "eu"})
    second.update({"region": "eu"})
    other.update({"region": "us"})
    events = events_from_proto([message(metadata=first), message(metadata=second), message(metadata=other)])
    assert all(isinstance(e, UsageEvent) for e in events)
    metadata = [e.metadata for e in events if isinstance(e, UsageEvent)]
    assert metadata[0] is metadata[1] and metadata[0] is not metadata[2]
    assert metadata[2] == {"region": "us"}


def test_a_bulk_request_keeps_its_key_and_validate_only() -> None:
    request = bulk_request_from_proto(
        usage_pb2.RecordUsagesRequest(idempotency_key="b1", events=[message(), message()], validate_only=True)
    )
    assert (request.idempotency_key, request.validate_only, len(request.events)) == ("b1", True, 2)


def test_a_result_becomes_a_record_usage_response_with_the_stored_event() -> None:
    response = record_usage_response(
        EventResult(0, "a", Outcome.DUPLICATE, event=STORED, conflicting_fields=["subject"])
    )
    assert (response.idempotency_key, response.outcome, list(response.conflicting_fields)) == (
        "a", usage_pb2.DUPLICATE, ["subject"]
    )
    assert (response.event.id, response.event.meter, response.event.quantity) == ("1d2c", "calls", 1.5)
    assert (response.event.timestamp.seconds, response.event.timestamp.nanos) == (1_700_000_000, 1000)
    assert (response.event.ingest_time.seconds, response.event.ingest_time.nanos) == (1_700_000_001, 0)
    assert dict(response.event.metadata) == {"region": "eu", "cached": True, "tokens": 12.0}


def test_a_bulk_answer_carries_counts_rejections_with_their_code_and_events() -> None:
    answer = BulkAnswer.of([
        EventResult(0, "a", Outcome.ACCEPTED),
        EventResult(1, "b", Outcome.REJECTED, NotFound("meter 'x' does not exist", field="meter")),
        EventResult(2, "c", Outcome.DUPLICATE, event=STORED),
    ])
    response = record_usages_response(answer)
    assert (response.accepted, response.duplicates, response.rejected) == (1, 1, 1)
    items = response.results
    assert [(i.index, i.idempotency_key, i.outcome) for i in items] == [
        (0, "a", usage_pb2.ACCEPTED), (1, "b", usage_pb2.REJECTED), (2, "c", usage_pb2.DUPLICATE)
    ]
    assert not items[0].HasField("event") and not items[0].HasField("rejection")
    assert (items[1].rejection.code, items[1].rejection.field, items[1].rejection.message) == (
        "NOT_FOUND", "meter", "meter 'x' does not exist"
    )
    assert items[2].event.id == "1d2c"


def test_ack_ranges_become_a_stream_ack() -> None:
    refused = InvalidArgument("must be a finite number, got inf", field="value")
    ack = stream_ack_to_proto(StreamAck((
        AckRange(0, 9, Outcome.ACCEPTED),
        AckRange(10, 10, Outcome.REJECTED, refused),
        AckRange(11, 12, Outcome.RETRY, Unavailable("storage unavailable; send again")),
    )))
    assert [(a.first_sequence, a.last_sequence, a.outcome) for a in ack.acks] == [
        (0, 9, usage_pb2.ACCEPTED), (10, 10, usage_pb2.REJECTED), (11, 12, usage_pb2.RETRY)
    ]
    assert not ack.acks[0].HasField("rejection")
    assert (ack.acks[1].rejection.code, ack.acks[1].rejection.field) == ("INVALID_ARGUMENT", "value")
    assert ack.acks[2].rejection.code == "UNAVAILABLE"
    assert stream_ack_to_proto(StreamAck()) == usage_pb2.StreamAck()
