"""Long-lived ingest streams: one session per open stream.

A stream type differs only in how its first message names meters and how
its events become usage events; that is its Adapter. Everything after is
shared: the validator, the server-wide batcher, and acknowledgement after
commit. A session reads while its unacknowledged events stay under the
window; past it, it stops reading, and gRPC flow control pushes back on the
client instead of the server buffering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Protocol

from openspanner.catalog import MeterCatalog
from openspanner.domain.meters import DimensionType, Meter
from openspanner.errors import FailedPrecondition, InvalidArgument, OpenSpannerError, Unavailable
from openspanner.ingest.acknowledge import OUTCOME_OF, stream_ack, uniform_stream_ack
from openspanner.ingest.batch import Batcher, BatchOutcome, is_refused
from openspanner.ingest.counting import IngestCounter
from openspanner.ingest.decode import MAX_NANOS, DecodedEvent, decode_event, read_timestamp_us
from openspanner.ingest.stats import OpenStream
from openspanner.ingest.validate import EventColumns, MetadataCache, validate_columns, validate_event
from openspanner.ingest.write import WriteOutcome
from openspanner.logging import get_logger
from openspanner.storage.events import EventRow
from openspanner.v1 import usage_pb2

log = get_logger(__name__)

# Field names of streams whose events carry the validator's field names.
_SAME_NAMES: Mapping[str, str] = MappingProxyType({})

# An event of a batch message after conversion: a usage event, or the reason
# it cannot be one.
Converted = DecodedEvent | OpenSpannerError


class Adapter(Protocol):
    """What one stream type contributes."""

    name: str
    # Validator field names -> this stream's own, for rejections ("quantity" -> "value").
    field_names: Mapping[str, str]

    @property
    def meters(self) -> Iterable[str]:
        """The meters its start message named (for the ingest stats)."""

    async def start(self, message: Any, catalog: MeterCatalog) -> None:
        """Check the first message; raise to end the stream."""

    def batch(self, message: Any) -> tuple[int, Sequence[Converted] | EventColumns] | None:
        """(first sequence, events) of a later message; None if it is not a batch."""


async def _meter_with_dimensions(
    catalog: MeterCatalog, name: str, dimensions: Sequence[str], stream: str, field: str
) -> Meter:
    if not name:
        raise InvalidArgument("is required in the first message", field=field)
    meter = await catalog.get(name, field)
    for dimension in dimensions:
        declared = meter.dimensions_by_name.get(dimension)
        if declared is None or declared.type is not DimensionType.STRING:
            raise FailedPrecondition(
                f"meter {name!r} must declare dimension {dimension!r} (type string): {stream} fills it",
                field=field,
            )
    return meter


class GenericAdapter:
    name = "usage"
    field_names: Mapping[str, str] = _SAME_NAMES

    def __init__(self) -> None:
        self.meters: frozenset[str] = frozenset()

    async def start(self, message: usage_pb2.StreamUsageRequest, catalog: MeterCatalog) -> None:
        if not message.start.meters:
            raise InvalidArgument("must name at least one meter", field="start.meters")
        for index, name in enumerate(message.start.meters):
            await _meter_with_dimensions(catalog, name, (), self.name, f"start.meters[{index}]")
        self.meters = frozenset(message.start.meters)

    def batch(self, message: usage_pb2.StreamUsageRequest) -> tuple[int, Sequence[Converted]] | None:
        if message.WhichOneof("message") != "batch":
            return None
        return message.batch.first_sequence, _each(self._convert, message.batch.events)

    def _convert(self, message: usage_pb2.UsageEvent) -> Converted:
        if message.meter not in self.meters:
            return InvalidArgument(f"meter {message.meter!r} was not named when the stream started", field="meter")
        return decode_event(message)


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
        start = message.start
        await _meter_with_dimensions(catalog, start.meter, self.dimensions, self.name, "start.meter")
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
        if stamps and not 0 <= min(map(_NANOS, stamps)) <= max(map(_NANOS, stamps)) <= MAX_NANOS:
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
                seconds * 1_000_000 + nanos // 1000
                for seconds, nanos in zip(map(_SECONDS, stamps), map(_NANOS, stamps), strict=True)
            ],
            dimensions={name: list(map(read, events)) for name, read in self._column_readers.items()},
            decode_each=lambda: self._decode_each(events),
        )
        return message.batch.first_sequence, columns

    def _decode_each(self, events: Sequence[Any]) -> list[Converted]:
        return _each(self._decode_one, events)

    def _decode_one(self, e: Any) -> DecodedEvent:
        return DecodedEvent(
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
    name = "device telemetry"
    dimensions = ("device_id", "fleet", "region")
    events_field = "readings"
    quantity_field = "value"


class QueueThroughputAdapter(_OneMeterAdapter):
    name = "queue throughput"
    dimensions = ("queue", "outcome", "worker_region")
    events_field = "events"
    quantity_field = "count"


class WebSocketSessionAdapter:
    name = "websocket sessions"
    field_names: Mapping[str, str] = _SAME_NAMES
    OPEN = usage_pb2.WebSocketSessionEvent.open
    CLOSE = usage_pb2.WebSocketSessionEvent.close

    def __init__(self) -> None:
        self.connections_meter = ""
        self.duration_meter = ""

    async def start(self, message: usage_pb2.WebSocketSessionRequest, catalog: MeterCatalog) -> None:
        start = message.start
        if not start.connections_meter and not start.duration_meter:
            raise InvalidArgument(
                "name connections_meter, duration_meter or both in the first message", field="start"
            )
        for field in ("connections_meter", "duration_meter"):
            name = getattr(start, field)
            if name:
                await _meter_with_dimensions(catalog, name, (), self.name, f"start.{field}")
        self.connections_meter, self.duration_meter = start.connections_meter, start.duration_meter

    @property
    def meters(self) -> tuple[str, ...]:
        return tuple(m for m in (self.connections_meter, self.duration_meter) if m)

    def batch(self, message: usage_pb2.WebSocketSessionRequest) -> tuple[int, Sequence[Converted]] | None:
        if message.WhichOneof("message") != "batch":
            return None
        return message.batch.first_sequence, _each(self._convert, message.batch.events)

    def _convert(self, event: usage_pb2.WebSocketSessionEvent) -> Converted:
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
        return DecodedEvent(
            idempotency_key=f"{event.session_id}:{suffix}",
            subject=event.subject,
            meter=meter,
            quantity=quantity,
            timestamp_us=timestamp_us,
            metadata=event.metadata,
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


@dataclass
class _Pending:
    """One batch message on its way: rejections known now, the rest after commit."""

    first_sequence: int
    size: int
    rejected: list[tuple[int, OpenSpannerError]]
    accepted_offsets: Sequence[int]
    outcomes: asyncio.Task[list[BatchOutcome]]
    # The meter of each submitted row, or one meter for all of them (a columnar batch).
    row_meters: Sequence[str] | str
    arrived_at: float
    # The submitted rows and their meters, to count the events storage refused.
    rows: Sequence[EventRow]
    meters: Mapping[str, Meter | None]


# The stream types (Adapter.name), each a `stream:<type>` path in the counts.
STREAM_TYPES = tuple(
    adapter.name
    for adapter in (GenericAdapter, DeviceTelemetryAdapter, WebSocketSessionAdapter, QueueThroughputAdapter)
)


class StreamSession:
    def __init__(
        self,
        adapter: Adapter,
        catalog: MeterCatalog,
        batcher: Batcher,
        window_events: int,
        draining: asyncio.Event,
        stream_id: str,
        counter: IngestCounter,
    ) -> None:
        self._adapter = adapter
        self._counter = counter
        # The meters the start message named, checked then; refusals the adapter makes are counted under them.
        self._stream_meters: dict[str, Meter | None] = {}
        self._path = f"stream:{adapter.name}"
        self._catalog = catalog
        self._batcher = batcher
        self._window = window_events
        self._draining = draining
        self._unacked = 0
        self._room = asyncio.Condition()
        self._pending: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._log = log.bind(stream=stream_id, stream_type=adapter.name)

    async def run(self, requests: AsyncIterator[Any], write: Callable[[usage_pb2.StreamAck], Awaitable[None]]) -> None:
        """Serve one stream until the client ends it, or the server drains."""
        first = await anext(requests, None)
        if first is None:
            return
        if first.WhichOneof("message") != "start":
            raise InvalidArgument("the first message of a stream must be `start`", field="start")
        await self._adapter.start(first, self._catalog)
        self._stream_meters = {name: await self._catalog.lookup(name) for name in self._adapter.meters}
        # Counted open before the client hears so: whoever it tells sees the stream.
        shown = self._counter.stream_opened(self._adapter.name, self._adapter.meters)
        try:
            await write(usage_pb2.StreamAck())  # tells the client its start was accepted
            self._log.info("stream opened")
            reader = asyncio.create_task(self._read(requests))
            try:
                while (pending := await self._pending.get()) is not None:
                    await write(await self._acks(pending))
                    self._record(shown, pending)
                    async with self._room:
                        self._unacked -= pending.size
                        self._room.notify_all()
                await reader  # re-raises a malformed-stream error
            finally:
                reader.cancel()
        finally:
            self._counter.stream_closed(shown)
        if self._draining.is_set():
            self._log.info("stream ended by shutdown")
            raise Unavailable("server is shutting down; reconnect and resend unacknowledged events")
        self._log.info("stream closed by client")

    async def _read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for message in _until(requests, self._draining):
                batch = self._adapter.batch(message)
                if batch is None:
                    raise InvalidArgument("only the first message of a stream may be `start`", field="start")
                first_sequence, events = batch
                await self._wait_for_window(len(events))
                await self._pending.put(await self._submit(first_sequence, events))
        finally:
            await self._pending.put(None)

    async def _wait_for_window(self, count: int) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._unacked == 0 or self._unacked + count <= self._window)
            self._unacked += count

    async def _submit(self, first_sequence: int, events: Sequence[Converted] | EventColumns) -> _Pending:
        arrived = time.monotonic()
        now_us = time.time_ns() // 1000
        meters: dict[str, Meter | None] = {}
        if isinstance(events, EventColumns):
            # The per-event path below judges against the same meter.
            meters[events.meter] = await self._catalog.lookup(events.meter)
            all_valid = validate_columns(events, meters[events.meter], now_us)
            if all_valid is not None:
                outcomes = asyncio.ensure_future(self._batcher.submit(all_valid))
                return _Pending(
                    first_sequence, len(all_valid), [], range(len(all_valid)), outcomes, events.meter, arrived,
                    all_valid, meters,
                )
            events = events.decode_each()
        rows: list[EventRow] = []
        offsets: list[int] = []
        rejected: list[tuple[int, OpenSpannerError]] = []
        metadata_cache = MetadataCache()
        for offset, event in enumerate(events):
            try:
                if isinstance(event, OpenSpannerError):
                    raise event
                if event.meter not in meters:
                    meters[event.meter] = await self._catalog.lookup(event.meter)
                rows.append(validate_event(event, meters[event.meter], now_us, metadata_cache))
                offsets.append(offset)
            except OpenSpannerError as error:
                error.field = self._adapter.field_names.get(error.field, error.field)
                rejected.append((offset, error))
                self._reject(event, error, meters)
        outcomes = asyncio.ensure_future(self._batcher.submit(rows))
        return _Pending(
            first_sequence, len(events), rejected, offsets, outcomes, [row.meter for row in rows], arrived,
            rows, meters,
        )

    def _own_names(self, error: OpenSpannerError) -> OpenSpannerError:
        """A storage refusal with the field named as this stream names it ("quantity" -> "value")."""
        field = self._adapter.field_names.get(error.field, error.field)
        return error if field == error.field else type(error)(error.message, field=field)

    def _reject(self, event: Converted, error: OpenSpannerError, meters: Mapping[str, Meter | None]) -> None:
        """Count a refused event where it is found, with it as an example."""
        if isinstance(event, DecodedEvent):
            meter, key, subject = meters.get(event.meter), event.idempotency_key, event.subject
        else:  # the adapter could not even make a usage event of it
            meter, key, subject = self._stream_meters.get(next(iter(self._adapter.meters), "")), "", ""
        self._counter.rejected(self._path, meter, error, key, subject)

    def _record(self, shown: OpenStream, pending: _Pending) -> None:
        """Count an acknowledged message's events (per meter, not per event) and how long their ack took."""
        outcomes = pending.outcomes.result()
        self._counter.answered(self._path, pending.row_meters, outcomes)
        self._counter.refused_by_storage(self._path, pending.rows, pending.meters, outcomes)
        self._counter.acknowledged(self._path, time.monotonic() - pending.arrived_at, shown, pending.size)

    async def _acks(self, pending: _Pending) -> usage_pb2.StreamAck:
        outcomes = await pending.outcomes
        retry = Unavailable("storage unavailable; send again")

        def answer(outcome: BatchOutcome) -> tuple[Any, OpenSpannerError | None]:
            if isinstance(outcome, WriteOutcome):
                return OUTCOME_OF[outcome], None
            if is_refused(outcome):
                return usage_pb2.REJECTED, self._own_names(outcome)
            # Not stored for storage's sake: RETRY, with why when storage needs an operator.
            return usage_pb2.RETRY, outcome if isinstance(outcome, OpenSpannerError) else retry

        if not pending.rejected and len(set(outcomes)) == 1 and not is_refused(outcomes[0]):
            # The usual message: all its events stored, or all to be resent. One
            # range, built without a Python step per event on the event loop.
            return uniform_stream_ack(pending.first_sequence, len(outcomes), *answer(outcomes[0]))
        by_offset: list[tuple[int, Any, OpenSpannerError | None]] = [
            (offset, usage_pb2.REJECTED, error) for offset, error in pending.rejected
        ]
        by_offset.extend(
            (offset, *answer(outcome)) for offset, outcome in zip(pending.accepted_offsets, outcomes, strict=True)
        )
        if pending.rejected:
            by_offset.sort(key=lambda item: item[0])
        return stream_ack(pending.first_sequence, by_offset)


def _each(convert: Callable[[Any], Converted], events: Iterable[Any]) -> list[Converted]:
    """Each event converted, or the error that refuses it, so one bad event refuses only itself."""
    converted: list[Converted] = []
    for event in events:
        try:
            converted.append(convert(event))
        except OpenSpannerError as error:
            converted.append(error)
    return converted


async def _until(requests: AsyncIterator[Any], stop: asyncio.Event) -> AsyncIterator[Any]:
    """The requests, until the stream ends or `stop` is set (checked between messages)."""
    iterator = aiter(requests)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            receive = asyncio.ensure_future(anext(iterator, None))
            done, _ = await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                return
            message = receive.result()
            if message is None:
                return
            yield message
    finally:
        stopped.cancel()
