"""The protobuf rules every servicer shares (grpc/convert.py): timestamps, Values, the stored event."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.events import EventRecord, stored_event
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.values import Unsupported
from openspanner.errors import InvalidArgument
from openspanner.grpc.convert import MAX_NANOS, decode_value, read_timestamp_us, stored_event_to_proto, timestamp_of_us
from openspanner.v1 import query_pb2


@pytest.mark.parametrize("us", [0, 1, 1_700_000_000_000_001, -1, -1_500_000])
def test_a_timestamp_reads_back_the_microsecond_it_was_written_from(us: int) -> None:
    request = query_pb2.ListEventsRequest(start_time=timestamp_of_us(us))
    assert 0 <= request.start_time.nanos <= MAX_NANOS
    assert read_timestamp_us(request, "start_time") == us


def test_an_unset_timestamp_is_none_and_impossible_nanos_are_refused_by_field() -> None:
    assert read_timestamp_us(query_pb2.ListEventsRequest(), "start_time") is None
    request = query_pb2.ListEventsRequest(start_time=Timestamp(seconds=1, nanos=MAX_NANOS + 1))
    with pytest.raises(InvalidArgument) as refused:
        read_timestamp_us(request, "start_time")
    assert refused.value.field == "start_time"


def test_a_value_is_read_as_its_scalar_or_named_by_its_kind() -> None:
    listed = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(number_value=1)]))
    values = [
        struct_pb2.Value(string_value="eu"), struct_pb2.Value(bool_value=False), struct_pb2.Value(number_value=2.5),
        struct_pb2.Value(null_value=struct_pb2.NULL_VALUE), struct_pb2.Value(),
        struct_pb2.Value(struct_value=struct_pb2.Struct()), listed,
    ]
    decoded = [decode_value(v) for v in values]
    assert decoded[:5] == ["eu", False, 2.5, None, None]
    assert [v.kind for v in decoded[5:] if isinstance(v, Unsupported)] == ["an object", "a list"]


def test_a_stored_record_answers_with_its_metadata_typed_as_the_meter_declares() -> None:
    meter = Meter(
        name="calls", description="", unit="", aggregation=Aggregation.SUM, event_retention_days=0,
        dimensions=(Dimension("tokens", DimensionType.NUMBER), Dimension("cached", DimensionType.BOOLEAN)),
    )
    record = EventRecord("k", "org", 1_700_000_000_000_001, 1.5, {"tokens": "12", "cached": "true", "old": "x"}, 7)
    message = stored_event_to_proto(stored_event(meter, record))
    assert (message.meter, message.idempotency_key, message.subject, message.quantity) == ("calls", "k", "org", 1.5)
    times = (message.timestamp.seconds, message.timestamp.nanos, message.ingest_time.nanos)
    assert times == (1_700_000_000, 1000, 7000)
    assert dict(message.metadata) == {"tokens": 12.0, "cached": True, "old": "x"}
    assert message.id == stored_event(meter, record).id
