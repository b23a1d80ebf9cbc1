"""The ingest pipeline, assembled in one place.

Every write path runs the same stages: validate -> batch -> write ->
acknowledge after commit, on domain events (openspanner/domain/events.py)
that each transport decodes at its edge and answers from domain results.
Single events, bulk calls (the importer's too) and the four stream types
differ only in how their edge decodes (a StreamAdapter for streams) and in
what a full server does to them: a stream waits for room,
a unary call is refused with a retry delay. All share the validator, the one
server-wide Batcher and the one EventWriter, so the rules, the bound on
pending events and the exactly-once decision are the same whichever way an
event comes in, and concurrent single events share blocks (group commit).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from openspanner.catalog import MeterCatalog
from openspanner.domain.events import (
    BulkAnswer,
    BulkRequest,
    EventRecord,
    EventResult,
    IncomingEvent,
    Outcome,
    RefusedEvent,
    StreamAck,
    stored_event,
)
from openspanner.domain.meters import Meter
from openspanner.errors import IdempotencyKeyReused, InvalidArgument, OpenSpannerError, Unavailable
from openspanner.ingest.acknowledge import OUTCOME_OF, conflicting_fields, record_of
from openspanner.ingest.batch import Batcher, BatchOutcome, BatchSettings, is_unstored
from openspanner.ingest.bulk_answers import decode_answer, encode_answer, request_digest
from openspanner.ingest.counting import IngestCounter
from openspanner.ingest.stats import IngestStats
from openspanner.ingest.streams import STREAM_TYPES, StreamAdapter, StreamSession
from openspanner.ingest.validate import MAX_KEY_LENGTH, MetadataCache, validate_event
from openspanner.ingest.write import CommitListener, EventWriter, WriteOutcome
from openspanner.logging import get_logger
from openspanner.metrics import Metrics
from openspanner.storage.bulk_requests import BulkRequestStore
from openspanner.storage.client import Storage
from openspanner.storage.events import EventRow, EventStore

log = get_logger(__name__)

T = TypeVar("T")


class IngestPipeline:
    def __init__(
        self,
        storage: Storage,
        catalog: MeterCatalog,
        max_bulk_events: int,
        bulk_key_retention_days: int,
        batch_settings: BatchSettings,
        stream_window_events: int,
        metrics: Metrics,
        *,
        sole_writer: bool,
    ) -> None:
        """`sole_writer`: no other process writes these events (the embedded engine), see EventStore."""
        self.stats = IngestStats()
        self.metrics = metrics
        # What every write path answered, for the dashboard's stats and for /metrics.
        self.counter = IngestCounter(self.stats, metrics)
        self.counter.stream_types(STREAM_TYPES)
        self._storage = storage
        self._catalog = catalog
        self._events = EventStore(storage.client, sole_writer=sole_writer)
        self._writer = EventWriter(self._events)
        self._batcher = Batcher(storage, self._writer, batch_settings, metrics)
        metrics.watch_pending(lambda: self._batcher.pending_events)
        self._stream_window_events = stream_window_events
        # Set on shutdown: streams stop reading, get their acks, and end.
        self.draining = asyncio.Event()
        self._open_streams: set[asyncio.Task[None]] = set()
        self._bulk_answers = BulkRequestStore(storage.client, bulk_key_retention_days)
        self._max_bulk_events = max_bulk_events
        # One lock per batch key in use, with the number of calls holding or
        # awaiting it, so the entry is dropped only when no call needs it.
        self._bulk_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def start(self) -> None:
        self._batcher.start()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Tell `listener` every row committed, by any write path, from the writing thread inside the
        writer's lock (EventWriter.add_commit_listener): for state that must match storage exactly."""
        self._writer.add_commit_listener(listener)

    def on_commit(self, listener: Callable[[Sequence[EventRow]], None]) -> None:
        """Call `listener` on this event loop, soon after each commit, with the rows it stored: for
        loop-side state that only needs to hear of new events (alert rules due soon)."""
        loop = asyncio.get_running_loop()

        def hand_to_loop(rows: Sequence[EventRow]) -> None:
            loop.call_soon_threadsafe(listener, rows)

        self._writer.add_commit_listener(hand_to_loop)

    async def read_between_commits(self, read: Callable[[], T]) -> T:
        """Run the blocking `read` in the storage pool with no write committing meanwhile."""
        return await self._storage.run(self._writer.locked, read)

    async def stop_streams(self, deadline: float) -> int:
        """Stop reading streams and wait, until `deadline` (time.monotonic), for them to get
        their acks and end; returns how many were still open at the deadline."""
        self.draining.set()
        if self._open_streams:
            await asyncio.wait(self._open_streams, timeout=max(deadline - time.monotonic(), 0))
        return len(self._open_streams)

    async def close(self, deadline: float) -> None:
        """Write everything pending; what is not committed by `deadline` is answered RETRY."""
        self.draining.set()
        await self._batcher.close(deadline)

    async def serve_stream(
        self, adapter: StreamAdapter, requests: AsyncIterator[Any], write: Callable[[StreamAck], Awaitable[None]]
    ) -> None:
        """Run one stream to its end (see streams.py): `adapter` reads `requests`, `write` sends each ack."""
        if self.draining.is_set():
            raise Unavailable("server is shutting down; connect to another server")
        session = StreamSession(
            adapter, self._catalog, self._batcher, self._stream_window_events, self.draining, _new_batch_id(),
            self.counter,
        )
        task = asyncio.current_task()
        assert task is not None
        self._open_streams.add(task)
        try:
            await session.run(requests, write)
        finally:
            self._open_streams.discard(task)

    async def ingest(
        self,
        events: Sequence[IncomingEvent],
        batch_id: str,
        *,
        store: bool = True,
        answer_accepted: bool = False,
        path: str = "bulk",
    ) -> list[EventResult]:
        """One result per event, in order; returns after accepted events are committed.

        A DUPLICATE result carries the stored event and the fields that differ
        from it; with `answer_accepted`, an ACCEPTED one carries the event as
        stored too. With `store=False` nothing is written: the same validation
        and the same duplicate check answer what storing would have answered.
        `path` names the way the events came in, for the ingest stats and metrics.
        """
        arrived = time.monotonic()
        now_us = time.time_ns() // 1000
        results: list[EventResult | None] = [None] * len(events)
        rows: list[EventRow] = []
        row_positions: list[int] = []
        meters: dict[str, Meter | None] = {}
        metadata_cache = MetadataCache()
        for index, event in enumerate(events):
            try:
                # Looked up first, so an event its edge could not read is still counted under its meter.
                if event.meter and event.meter not in meters:
                    meters[event.meter] = await self._catalog.lookup(event.meter)
                if isinstance(event, RefusedEvent):
                    raise event.error
                rows.append(validate_event(event, meters.get(event.meter), now_us, metadata_cache))
                row_positions.append(index)
            except OpenSpannerError as error:
                results[index] = EventResult(index, event.idempotency_key, Outcome.REJECTED, error)
        outcomes: Sequence[BatchOutcome]
        if store:
            outcomes = await self._batcher.submit(rows, wait_for_room=False)
        else:
            outcomes = await self._storage.run(self._writer.classify, rows)
        if any(map(is_unstored, outcomes)):
            self.counter.answered(path, [row.meter for row in rows], outcomes)
            _raise_unstored(outcomes)
        stored = await self._stored_events_of_duplicates(rows, outcomes)
        for position, row, outcome in zip(row_positions, rows, outcomes, strict=True):
            if isinstance(outcome, OpenSpannerError):  # storage refused this event
                results[position] = EventResult(position, row.idempotency_key, Outcome.REJECTED, outcome)
                continue
            result = EventResult(position, row.idempotency_key, OUTCOME_OF[outcome])
            meter = meters[row.meter]
            assert meter is not None  # the row was validated against it
            if outcome is WriteOutcome.DUPLICATE and (record := stored.get((row.meter, row.idempotency_key))):
                result.event = stored_event(meter, record)
                result.conflicting_fields = conflicting_fields(row, record)
            elif outcome is WriteOutcome.ACCEPTED and answer_accepted and store:
                result.event = stored_event(meter, record_of(row))
            results[position] = result
        rejected = len(events) - len(rows)
        if rejected:
            log.info("events rejected", batch_id=batch_id, rejected=rejected, events=len(events))
        answered = [r for r in results if r is not None]
        if store:
            self._count(path, events, answered, meters, rows, outcomes, arrived)
        return answered

    def _count(
        self,
        path: str,
        events: Sequence[IncomingEvent],
        results: Sequence[EventResult],
        meters: dict[str, Meter | None],
        rows: Sequence[EventRow],
        outcomes: Sequence[BatchOutcome],
        arrived: float,
    ) -> None:
        """Tell the ingest stats and metrics what was answered, refusals with their events as examples."""
        for result in results:
            if result.error is not None:
                event = events[result.index]
                self.counter.rejected(path, meters.get(event.meter), result.error, event.idempotency_key, event.subject)
        self.counter.answered(path, [row.meter for row in rows], outcomes)
        self.counter.acknowledged(path, time.monotonic() - arrived)

    async def _stored_events_of_duplicates(
        self, rows: Sequence[EventRow], outcomes: Sequence[BatchOutcome]
    ) -> dict[tuple[str, str], EventRecord]:
        """The stored event of each duplicate, by (meter, key), read once the batch is committed."""
        keys_by_meter: dict[str, list[str]] = {}
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is WriteOutcome.DUPLICATE:
                keys_by_meter.setdefault(row.meter, []).append(row.idempotency_key)
        stored: dict[tuple[str, str], EventRecord] = {}
        for meter, keys in keys_by_meter.items():
            found = await self._storage.run(self._events.stored_events, meter, keys)
            stored.update(((meter, key), record) for key, record in found.items())
        return stored

    async def record_one(self, event: IncomingEvent) -> EventResult:
        """A single event: a refused event raises its error instead of a result."""
        (result,) = await self.ingest([event], batch_id=_new_batch_id(), answer_accepted=True, path="unary")
        if result.error is not None:
            raise result.error
        return result

    async def record_bulk(
        self,
        request: BulkRequest,
        *,
        answer_accepted: bool = False,
        replay_reused_key: bool = False,
        fingerprint: str | None = None,
    ) -> BulkAnswer:
        """Many events; a keyed call repeated later returns the first answer, marked `replayed`.

        A key reused for a different batch is refused, unless `replay_reused_key`:
        the product's gRPC contract answers it with the first answer, whatever the
        new body (its server compares nothing). `answer_accepted`: accepted results
        carry the stored event. `fingerprint`: what makes two batches under one key
        the same, when a transport decides it (REST hashes the events as sent, see
        http/bulk_keys.py); by default the digest of the domain request.
        """
        if len(request.events) > self._max_bulk_events:
            raise InvalidArgument(
                f"at most {self._max_bulk_events} per call, got {len(request.events)}",
                field="events",
            )
        if request.validate_only:
            return BulkAnswer.of(await self.ingest(request.events, batch_id=_new_batch_id(), store=False))
        key = request.idempotency_key
        if not key:
            return BulkAnswer.of(
                await self.ingest(request.events, batch_id=_new_batch_id(), answer_accepted=answer_accepted)
            )
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidArgument(
                f"must be at most {MAX_KEY_LENGTH} characters", field="idempotency_key"
            )
        lock, users = self._bulk_locks.get(key, (asyncio.Lock(), 0))
        self._bulk_locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._record_keyed_bulk(key, request, answer_accepted, replay_reused_key, fingerprint)
        finally:
            lock, users = self._bulk_locks[key]
            if users == 1:
                del self._bulk_locks[key]
            else:
                self._bulk_locks[key] = (lock, users - 1)

    async def _record_keyed_bulk(
        self, key: str, request: BulkRequest, answer_accepted: bool, replay_reused_key: bool, fingerprint: str | None
    ) -> BulkAnswer:
        digest = fingerprint or request_digest(request)
        stored = await self._storage.run(self._bulk_answers.get, key)
        first = None if stored is None else decode_answer(stored.response)
        if stored is not None and first is None:
            # Not an answer this version wrote: the events are judged again, and those
            # stored then are answered DUPLICATE, so nothing is counted twice.
            log.warning("stored bulk answer unreadable, batch judged again", bulk_key=key)
        elif stored is not None and first is not None:
            check_reused_key(key, stored.request_sha256, digest, replay_reused_key)
            log.info("bulk call repeated, first answer returned", bulk_key=key)
            return replace(first, replayed=True)
        answer = BulkAnswer.of(await self.ingest(request.events, batch_id=key, answer_accepted=answer_accepted))
        await self._storage.run(self._bulk_answers.save, key, digest, encode_answer(answer))
        return answer


def check_reused_key(key: str, first_digest: str, digest: str, replay_reused_key: bool) -> None:
    """A key seen before replays its first answer when the batch is the same one (a retry), and
    refuses another batch, which would otherwise be answered for events it never stored
    (IETF Idempotency-Key draft, Stripe); `replay_reused_key` replays whatever the batch.

    A transport's own fingerprint ("rest:...") cannot be compared with the domain digest a
    first answer of another API was kept under: such a first answer is replayed, as REST
    replayed every reused key before it had a fingerprint."""
    incomparable = ":" in digest and ":" not in first_digest
    if first_digest != digest and not replay_reused_key and not incomparable:
        log.info("bulk key reused for a different batch, refused", bulk_key=key)
        raise IdempotencyKeyReused(
            f"{key!r} was already used for a different batch; use a new key",
            field="idempotency_key",
        )


def _raise_unstored(outcomes: Sequence[BatchOutcome]) -> NoReturn:
    """A call whose events storage did not all take (RETRY, Unavailable) fails as a whole,
    with a retry delay: its client sends it again, and the events that were stored are
    then answered DUPLICATE. Events storage refused are answered one by one instead."""
    error = next((o for o in outcomes if isinstance(o, Unavailable)), None)
    raise error or Unavailable("storage did not take these events in time; send them again", retry_after_seconds=1.0)


# Batch ids: a random prefix per process, then a counter. A uuid4 per call was ~1.5% of the
# event loop at full unary rate; these still tell every batch of every server apart in logs.
_BATCH_ID_PREFIX = uuid.uuid4().hex[:8]
_batch_numbers = itertools.count(1)


def _new_batch_id() -> str:
    return f"{_BATCH_ID_PREFIX}{next(_batch_numbers):08x}"
