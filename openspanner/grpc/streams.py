"""The gRPC side of ingest streams: the four stream types' adapters, reading our protobuf messages.

Each adapter turns its stream's messages into domain batches for the
transport-neutral StreamSession (openspanner/ingest/streams.py): a list of
usage events (or the error refusing each), or, for the high-rate streams,
an EventColumns read a protobuf field at a time. The session's acks are
turned into StreamAck messages by the servicer (grpc/usage.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from openspanner.catalog import MeterCatalog
from openspanner.domain.events import UsageEvent
from openspanner.errors import InvalidArgument, OpenSpannerError
from openspanner.grpc.convert import MAX_NANOS, read_timestamp_us
from openspanner.grpc.usage_convert import StructDecoder, event_from_proto
from openspanner.ingest.streams import (
    DEVICE_TELEMETRY_STREAM,
    QUEUE_THROUGHPUT_STREAM,
    USAGE_STREAM,
    WEBSOCKET_SESSIONS_STREAM,
    Converted,
    meter_with_dimensions,
)
from openspanner.ingest.validate import EventColumns
from openspanner.v1 import usage_pb2

# Field names of streams whose events carry the validator's field names.
_SAME_NAMES: Mapping[str, str] = MappingProxyType({})


def _check_start(message: Any) -> None:
    if message.WhichOneof("message") != "start":
        raise InvalidArgument("the first message of a stream must be `start`", field="start")


class GenericAdapter:
    name = USAGE_STREAM
    field_names: Mapping[str, str] = _SAME_NAMES

    def __init__(self) -> None:
        self.meters: frozenset[str] = frozenset()

    async def start(self, message: usage_pb2.StreamUsageRequest, catalog: MeterCatalog) -> None:
        _check_start(message)
        if not message.start.meters:
            raise InvalidArgument("must name at least one meter", field="start.meters")
        for index, name in enumerate(message.start.meters):
            await meter_with_dimensions(catalog, name, (), self.name, f"start.meters[{index}]")
        self.meters = frozenset(message.start.meters)

    def batch(self, message: usage_pb2.StreamUsageRequest) -> tuple[int, Sequence[Converted]] | None:
        if message.WhichOneof("message") != "batch":
            return None
        structs = StructDecoder()
        return message.batch.first_sequence, _each(lambda event: self._convert(event, structs), message.batch.events)

    def _convert(self, message: usage_pb2.UsageEvent, structs: StructDecoder) -> Converted:
        if message.meter not in self.meters:
            return InvalidArgument(f"meter {message.meter!r} was not named when the stream started", field="meter")
        event = event_from_proto(message, structs)
        return event if isinstance(event, UsageEvent) else event.error


class _OneMeterAdapter:
    """A stream whose start names one meter and whose events fill fixed dimensions.

    Each dimension is read from the event's field of the same name, so a
    stream type of this kind differs only in the names below. These are the
    high-rate streams, so a message is read a column at a time
    (validate_columns); `_decode_each` is the per-event reading of it.
    """

    name: str
    dimensions: tuple[str, ...]
    events_field: str  # the repeated field of the batch message
    quantity_field: str

    def __init__(self) -> None:
        self.meter = ""
        self.subject = ""
        self.field_names: Mapping[str, str] = {
            "quantity": self.quantity_field, **{f"metadata.{d}": d for d in self.dimensions}
        }
        self._dimension_values = attrgetter(*self.dimensions)
        self._column_readers = {name: attrgetter(name) for name in self.dimensions}
        self._quantity = attrgetter(self.quantity_field)

    async def start(self, message: Any, catalog: MeterCatalog) -> None:
        _check_start(message)
        start = message.start
        await meter_with_dimensions(catalog, start.meter, self.dimensions, self.name, "start.meter")
        self.meter, self.subject = start.meter, start.subject

    @property
    def meters(self) -> tuple[str, ...]:
        return (self.meter,)

    def batch(self, message: Any) -> tuple[int, EventColumns | Sequence[Converted]] | None:
        if message.WhichOneof("message") != "batch":
            return None
        # One list: each pass over the protobuf container would wrap every event anew.
        events = list(getattr(message.batch, self.events_field))
        stamps = list(map(_TIMESTAMP, events))
        # Read once: each pass over the stamps costs a protobuf field read per event.
        nanos = list(map(_NANOS, stamps))
        if nanos and not 0 <= min(nanos) <= max(nanos) <= MAX_NANOS:
            # Impossible nanos somewhere: the per-event reading names each such event.
            return message.batch.first_sequence, self._decode_each(events)
        subjects = list(map(_SUBJECT, events))
        if self.subject:
            subjects = [subject or self.subject for subject in subjects]
        columns = EventColumns(
            meter=self.meter,
            idempotency_keys=list(map(_KEY, events)),
            subjects=subjects,
            quantities=list(map(self._quantity, events)),
            timestamps_us=[
                seconds * 1_000_000 + nano // 1000 for seconds, nano in zip(map(_SECONDS, stamps), nanos, strict=True)
            ],
            dimensions={name: list(map(read, events)) for name, read in self._column_readers.items()},
            decode_each=lambda: self._decode_each(events),
        )
        return message.batch.first_sequence, columns

    def _decode_each(self, events: Sequence[Any]) -> list[Converted]:
        return _each(self._decode_one, events)

    def _decode_one(self, e: Any) -> UsageEvent:
        return UsageEvent(
            idempotency_key=e.idempotency_key,
            subject=e.subject or self.subject,
            meter=self.meter,
            quantity=self._quantity(e),
            timestamp_us=read_timestamp_us(e, "timestamp"),
            metadata=dict(zip(self.dimensions, self._dimension_values(e), strict=True)),
        )


_KEY = attrgetter("idempotency_key")
_SUBJECT = attrgetter("subject")
# An unset timestamp reads as 0 here; validate_columns sends such messages the per-event way.
_TIMESTAMP = attrgetter("timestamp")
_SECONDS = attrgetter("seconds")
_NANOS = attrgetter("nanos")


class DeviceTelemetryAdapter(_OneMeterAdapter):
    name = DEVICE_TELEMETRY_STREAM
    dimensions = ("device_id", "fleet", "region")
    events_field = "readings"
    quantity_field = "value"


class QueueThroughputAdapter(_OneMeterAdapter):
    name = QUEUE_THROUGHPUT_STREAM
    dimensions = ("queue", "outcome", "worker_region")
    events_field = "events"
    quantity_field = "count"


class WebSocketSessionAdapter:
    name = WEBSOCKET_SESSIONS_STREAM
    field_names: Mapping[str, str] = _SAME_NAMES
    OPEN = usage_pb2.WebSocketSessionEvent.open
    CLOSE = usage_pb2.WebSocketSessionEvent.close

    def __init__(self) -> None:
        self.connections_meter = ""
        self.duration_meter = ""

    async def start(self, message: usage_pb2.WebSocketSessionRequest, catalog: MeterCatalog) -> None:
        _check_start(message)
        start = message.start
        if not start.connections_meter and not start.duration_meter:
            raise InvalidArgument(
                "name connections_meter, duration_meter or both in the first message", field="start"
            )
        for field in ("connections_meter", "duration_meter"):
            name = getattr(start, field)
            if name:
                await meter_with_dimensions(catalog, name, (), self.name, f"start.{field}")
        self.connections_meter, self.duration_meter = start.connections_meter, start.duration_meter

    @property
    def meters(self) -> tuple[str, ...]:
        return tuple(m for m in (self.connections_meter, self.duration_meter) if m)

    def batch(self, message: usage_pb2.WebSocketSessionRequest) -> tuple[int, Sequence[Converted]] | None:
        if message.WhichOneof("message") != "batch":
            return None
        structs = StructDecoder()
        return message.batch.first_sequence, _each(lambda event: self._convert(event, structs), message.batch.events)

    def _convert(self, event: usage_pb2.WebSocketSessionEvent, structs: StructDecoder) -> Converted:
        if not event.session_id:
            return InvalidArgument("is required", field="session_id")
        timestamp_us = read_timestamp_us(event, "timestamp")
        if event.kind == self.OPEN:
            meter, suffix, quantity = self.connections_meter, "open", 1.0
        elif event.kind == self.CLOSE:
            meter, suffix = self.duration_meter, "close"
            duration = self._duration_seconds(event, timestamp_us)
            if isinstance(duration, OpenSpannerError):
                return duration
            quantity = duration
        else:
            return InvalidArgument("must be open or close", field="kind")
        if not meter:
            return InvalidArgument(f"no meter for {suffix} events was named when the stream started", field="kind")
        return UsageEvent(
            idempotency_key=f"{event.session_id}:{suffix}",
            subject=event.subject,
            meter=meter,
            quantity=quantity,
            timestamp_us=timestamp_us,
            metadata=structs.decode(event.metadata),
        )

    @staticmethod
    def _duration_seconds(event: usage_pb2.WebSocketSessionEvent, closed_us: int | None) -> float | OpenSpannerError:
        opened_us = read_timestamp_us(event, "opened_at")
        if opened_us is None or opened_us <= 0:
            return InvalidArgument("is required on close events", field="opened_at")
        if closed_us is None:
            closed_us = time.time_ns() // 1000
        if closed_us < opened_us:
            return InvalidArgument("is after the close timestamp: the session ends before it opened", field="opened_at")
        return (closed_us - opened_us) / 1_000_000



def _each(convert: Callable[[Any], Converted], events: Iterable[Any]) -> list[Converted]:
    """Each event converted, or the error that refuses it, so one bad event refuses only itself."""
    converted: list[Converted] = []
    for event in events:
        try:
            converted.append(convert(event))
        except OpenSpannerError as error:
            converted.append(error)
    return converted

