"""Long-lived ingest streams: one session per open stream, whatever its transport.

A stream type differs only in how its first message names meters and how
its events become usage events; that is its StreamAdapter, which the
transport supplies (the gRPC ones read protobuf, see openspanner/grpc/streams.py).
Everything after is shared: the validator, the server-wide batcher, and
acknowledgement after commit. A session reads while its unacknowledged
events stay under the window; past it, it stops reading, and the
transport's flow control pushes back on the client instead of the server
buffering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from openspanner.catalog import MeterCatalog
from openspanner.domain.events import Outcome, StreamAck, UsageEvent
from openspanner.domain.meters import DimensionType, Meter
from openspanner.errors import FailedPrecondition, InvalidArgument, OpenSpannerError, Unavailable
from openspanner.ingest.acknowledge import OUTCOME_OF, stream_ack, uniform_stream_ack
from openspanner.ingest.batch import BatchOutcome, is_refused
from openspanner.ingest.counting import IngestCounter
from openspanner.ingest.stats import OpenStream
from openspanner.ingest.validate import EventColumns, MetadataCache, validate_columns, validate_event
from openspanner.ingest.write import WriteOutcome
from openspanner.logging import get_logger
from openspanner.storage.events import EventRow

log = get_logger(__name__)

# An event of a batch message after conversion: a usage event, or the reason
# it cannot be one.
Converted = UsageEvent | OpenSpannerError

# The stream types (StreamAdapter.name), each a `stream:<type>` path in the counts.
USAGE_STREAM = "usage"
DEVICE_TELEMETRY_STREAM = "device telemetry"
WEBSOCKET_SESSIONS_STREAM = "websocket sessions"
QUEUE_THROUGHPUT_STREAM = "queue throughput"
STREAM_TYPES = (USAGE_STREAM, DEVICE_TELEMETRY_STREAM, WEBSOCKET_SESSIONS_STREAM, QUEUE_THROUGHPUT_STREAM)


class StreamAdapter(Protocol):
    """What one stream type contributes: its messages, turned into domain batches.

    Messages are opaque to the session; only the adapter reads them.
    """

    name: str
    # Validator field names -> this stream's own, for rejections ("quantity" -> "value").
    field_names: Mapping[str, str]

    @property
    def meters(self) -> Iterable[str]:
        """The meters its start message named (for the ingest stats)."""

    async def start(self, message: Any, catalog: MeterCatalog) -> None:
        """Check the first message; raise to end the stream (also when it is not a start message)."""

    def batch(self, message: Any) -> tuple[int, Sequence[Converted] | EventColumns] | None:
        """(first sequence, events) of a later message; None if it is not a batch."""


class RowSubmitter(Protocol):
    """Where a session sends its validated rows: the server's Batcher, or a test's stand-in."""

    async def submit(self, rows: Sequence[EventRow]) -> list[BatchOutcome]:
        """Outcomes for `rows`, in order, once they are committed (or given up on)."""


async def meter_with_dimensions(
    catalog: MeterCatalog, name: str, dimensions: Sequence[str], stream: str, field: str
) -> Meter:
    """The meter a start message names, which must declare the string dimensions the stream fills."""
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


class StreamSession:
    """One open stream: reads batches through its adapter, validates, submits, and acknowledges in order."""

    def __init__(
        self,
        adapter: StreamAdapter,
        catalog: MeterCatalog,
        batcher: RowSubmitter,
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
        # Taken from the queue but not yet answerable (or the end of the stream): the next to ack.
        self._held: list[_Pending | None] = []
        self._log = log.bind(stream=stream_id, stream_type=adapter.name)

    async def run(self, requests: AsyncIterator[Any], write: Callable[[StreamAck], Awaitable[None]]) -> None:
        """Serve one stream until the client ends it, or the server drains; `write` sends an ack."""
        first = await anext(requests, None)
        if first is None:
            return
        await self._adapter.start(first, self._catalog)
        self._stream_meters = {name: await self._catalog.lookup(name) for name in self._adapter.meters}
        # Counted open before the client hears so: whoever it tells sees the stream.
        shown = self._counter.stream_opened(self._adapter.name, self._adapter.meters)
        try:
            await write(StreamAck())  # tells the client its start was accepted
            self._log.info("stream opened")
            reader = asyncio.create_task(self._read(requests))
            try:
                while ready := await self._ready_messages():
                    await write(self._coalesced_ack(ready))
                    for pending in ready:
                        self._record(shown, pending)
                    async with self._room:
                        self._unacked -= sum(pending.size for pending in ready)
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

    async def _ready_messages(self) -> list[_Pending]:
        """The next message once its outcomes are in, with the messages after it whose outcomes
        are in too (a group commit often answers several at once); empty when the stream ends.

        One StreamAck carries all their ranges: a write per message cost an eighth of the
        event loop at a single fast stream. The ranges still follow commit, message by message.
        """
        first = self._held.pop() if self._held else await self._pending.get()
        if first is None:
            return []
        await asyncio.wait([first.outcomes])
        ready = [first]
        while not self._pending.empty():
            following = self._pending.get_nowait()
            if following is None or not following.outcomes.done():
                self._held.append(following)  # the end of the stream, or a message still on its way
                break
            ready.append(following)
        return ready

    def _coalesced_ack(self, ready: Sequence[_Pending]) -> StreamAck:
        """One ack for messages whose outcomes are all in."""
        if len(ready) == 1:
            return self._acks(ready[0])
        return StreamAck(tuple(ack_range for pending in ready for ack_range in self._acks(pending).ranges))

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
        if isinstance(event, UsageEvent):
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

    def _acks(self, pending: _Pending) -> StreamAck:
        """The ack of one message whose outcomes are in (a failed submission raises here)."""
        outcomes = pending.outcomes.result()
        retry = Unavailable("storage unavailable; send again")

        def answer(outcome: BatchOutcome) -> tuple[Outcome, OpenSpannerError | None]:
            if isinstance(outcome, WriteOutcome):
                return OUTCOME_OF[outcome], None
            if is_refused(outcome):
                return Outcome.REJECTED, self._own_names(outcome)
            # Not stored for storage's sake: RETRY, with why when storage needs an operator.
            return Outcome.RETRY, outcome if isinstance(outcome, OpenSpannerError) else retry

        if not pending.rejected and len(set(outcomes)) == 1 and not is_refused(outcomes[0]):
            # The usual message: all its events stored, or all to be resent. One
            # range, built without a Python step per event on the event loop.
            return uniform_stream_ack(pending.first_sequence, len(outcomes), *answer(outcomes[0]))
        by_offset: list[tuple[int, Outcome, OpenSpannerError | None]] = [
            (offset, Outcome.REJECTED, error) for offset, error in pending.rejected
        ]
        by_offset.extend(
            (offset, *answer(outcome)) for offset, outcome in zip(pending.accepted_offsets, outcomes, strict=True)
        )
        if pending.rejected:
            by_offset.sort(key=lambda item: item[0])
        return stream_ack(pending.first_sequence, by_offset)



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
