"""The gRPC stream adapters: protobuf stream messages -> domain batches for the stream session."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.events import UsageEvent
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import FailedPrecondition, InvalidArgument, NotFound, OpenSpannerError
from openspanner.grpc.streams import DeviceTelemetryAdapter, GenericAdapter, WebSocketSessionAdapter
from openspanner.ingest.validate import EventColumns
from openspanner.v1 import usage_pb2

DEVICE_METER = Meter(
    "readings", Aggregation.SUM,
    dimensions=tuple(Dimension(name, DimensionType.STRING) for name in ("device_id", "fleet", "region")),
)
CALLS = Meter("calls", Aggregation.SUM)
SESSIONS = Meter("sessions", Aggregation.SUM)


class FakeCatalog:
    def __init__(self, *meters: Meter) -> None:
        self._meters = {m.name: m for m in meters}

    async def lookup(self, name: str) -> Meter | None:
        return self._meters.get(name)

    async def get(self, name: str, field: str = "name") -> Meter:
        if name not in self._meters:
            raise NotFound(f"meter {name!r} does not exist", field=field)
        return self._meters[name]


CATALOG = FakeCatalog(DEVICE_METER, CALLS, SESSIONS, Meter("plain", Aggregation.SUM))


def reading(key: str, seconds: int = 1_700_000_000, nanos: int = 5_000, subject: str = "") -> usage_pb2.DeviceReading:
    return usage_pb2.DeviceReading(
        idempotency_key=key, device_id=f"d-{key}", fleet="f", region="eu", value=2.5, subject=subject,
        timestamp=Timestamp(seconds=seconds, nanos=nanos),
    )


def started_device_adapter() -> DeviceTelemetryAdapter:
    adapter = DeviceTelemetryAdapter()
    start = usage_pb2.DeviceTelemetryRequest(start=usage_pb2.DeviceTelemetryStart(meter="readings", subject="org"))
    asyncio.run(adapter.start(start, CATALOG))  # type: ignore[arg-type]
    return adapter


def test_a_telemetry_batch_is_read_a_column_at_a_time() -> None:
    adapter = started_device_adapter()
    batch = usage_pb2.DeviceReadingBatch(first_sequence=40, readings=[reading("a"), reading("b", subject="own")])
    read = adapter.batch(usage_pb2.DeviceTelemetryRequest(batch=batch))
    assert read is not None
    first, columns = read
    assert first == 40 and isinstance(columns, EventColumns)
    assert (columns.meter, columns.idempotency_keys, columns.subjects) == ("readings", ["a", "b"], ["org", "own"])
    assert columns.quantities == [2.5, 2.5]
    assert columns.timestamps_us == [1_700_000_000_000_005, 1_700_000_000_000_005]
    assert columns.dimensions == {"device_id": ["d-a", "d-b"], "fleet": ["f", "f"], "region": ["eu", "eu"]}
    each = columns.decode_each()
    assert each[0] == UsageEvent("a", "org", "readings", 2.5, 1_700_000_000_000_005,
                                 {"device_id": "d-a", "fleet": "f", "region": "eu"})


def test_impossible_nanos_send_a_telemetry_batch_event_by_event_naming_the_event() -> None:
    adapter = started_device_adapter()
    batch = usage_pb2.DeviceReadingBatch(first_sequence=0, readings=[reading("a"), reading("b", nanos=-5)])
    read = adapter.batch(usage_pb2.DeviceTelemetryRequest(batch=batch))
    assert read is not None
    _, events = read
    assert isinstance(events, list) and isinstance(events[0], UsageEvent)
    assert isinstance(events[1], InvalidArgument) and events[1].field == "timestamp"


def test_a_telemetry_meter_must_declare_the_dimensions_the_stream_fills() -> None:
    start = usage_pb2.DeviceTelemetryRequest(start=usage_pb2.DeviceTelemetryStart(meter="plain"))
    with pytest.raises(FailedPrecondition, match="must declare dimension 'device_id'"):
        asyncio.run(DeviceTelemetryAdapter().start(start, CATALOG))  # type: ignore[arg-type]


def test_a_stream_must_begin_with_its_start_message() -> None:
    batch = usage_pb2.StreamUsageRequest(batch=usage_pb2.UsageEventBatch(first_sequence=0))
    with pytest.raises(InvalidArgument, match="first message of a stream must be `start`"):
        asyncio.run(GenericAdapter().start(batch, CATALOG))  # type: ignore[arg-type]
    assert started_device_adapter().batch(usage_pb2.DeviceTelemetryRequest(start={})) is None


def test_a_generic_stream_refuses_events_of_meters_its_start_did_not_name() -> None:
    adapter = GenericAdapter()
    start = usage_pb2.StreamUsageRequest(start=usage_pb2.StreamUsageStart(meters=["calls"]))
    asyncio.run(adapter.start(start, CATALOG))  # type: ignore[arg-type]
    metadata = struct_pb2.Struct()
    metadata.update({"region": "eu"})
    events = [
        usage_pb2.UsageEvent(idempotency_key="a", subject="s", meter="calls", quantity=1, metadata=metadata),
        usage_pb2.UsageEvent(idempotency_key="b", subject="s", meter="other", quantity=1),
        usage_pb2.UsageEvent(idempotency_key="c", subject="s", meter="calls", quantity=1, metadata=metadata),
    ]
    read = adapter.batch(usage_pb2.StreamUsageRequest(batch=usage_pb2.UsageEventBatch(first_sequence=3, events=events)))
    assert read is not None
    first, converted = read
    assert first == 3 and isinstance(converted, list)
    a, b, c = converted
    assert isinstance(a, UsageEvent) and isinstance(c, UsageEvent) and a.metadata is c.metadata
    assert isinstance(b, OpenSpannerError) and b.field == "meter"


def test_a_websocket_close_is_its_sessions_duration_under_the_duration_meter() -> None:
    adapter = WebSocketSessionAdapter()
    start = usage_pb2.WebSocketSessionRequest(
        start=usage_pb2.WebSocketSessionStart(connections_meter="calls", duration_meter="sessions")
    )
    asyncio.run(adapter.start(start, CATALOG))  # type: ignore[arg-type]
    close = usage_pb2.WebSocketSessionEvent(
        session_id="s1", subject="org", kind=usage_pb2.WebSocketSessionEvent.close,
        timestamp=Timestamp(seconds=1_700_000_090), opened_at=Timestamp(seconds=1_700_000_000),
    )
    opened = usage_pb2.WebSocketSessionEvent(session_id="s1", subject="org", kind=usage_pb2.WebSocketSessionEvent.open)
    batch = usage_pb2.WebSocketSessionBatch(events=[opened, close])
    read = adapter.batch(usage_pb2.WebSocketSessionRequest(batch=batch))
    assert read is not None
    _, (open_event, close_event) = read  # type: ignore[misc]
    assert isinstance(open_event, UsageEvent) and isinstance(close_event, UsageEvent)
    assert (open_event.idempotency_key, open_event.meter, open_event.quantity) == ("s1:open", "calls", 1.0)
    assert (close_event.idempotency_key, close_event.meter, close_event.quantity) == ("s1:close", "sessions", 90.0)
