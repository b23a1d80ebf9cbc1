"""The stream session, transport-free: a fake adapter hands it domain batches, a fake batcher answers rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from openspanner.domain.events import AckRange, Outcome, StreamAck, UsageEvent
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument, NotFound, OpenSpannerError, StorageRefused, Unavailable
from openspanner.ingest.batch import RETRY, BatchOutcome
from openspanner.ingest.counting import IngestCounter
from openspanner.ingest.stats import IngestStats
from openspanner.ingest.streams import Converted, StreamSession
from openspanner.ingest.validate import EventColumns
from openspanner.ingest.write import WriteOutcome
from openspanner.metrics import Metrics
from openspanner.storage.events import EventRow

METER = Meter(
    "calls", Aggregation.SUM, event_retention_days=30, dimensions=(Dimension("region", DimensionType.STRING),)
)


class FakeCatalog:
    def __init__(self, *meters: Meter) -> None:
        self._meters = {m.name: m for m in meters}

    async def lookup(self, name: str) -> Meter | None:
        return self._meters.get(name)

    async def get(self, name: str, field: str = "name") -> Meter:
        meter = await self.lookup(name)
        if meter is None:
            raise NotFound(f"meter {name!r} does not exist", field=field)
        return meter


class FakeBatcher:
    """Answers each row by its key: "dup*" DUPLICATE, "retry*" RETRY, "refused*" refused by storage."""

    def __init__(self) -> None:
        self.submitted: list[list[EventRow]] = []

    async def submit(self, rows: Sequence[EventRow]) -> list[BatchOutcome]:
        self.submitted.append(list(rows))
        return [self._outcome(row.idempotency_key) for row in rows]

    @staticmethod
    def _outcome(key: str) -> BatchOutcome:
        if key.startswith("dup"):
            return WriteOutcome.DUPLICATE
        if key.startswith("retry"):
            return RETRY
        if key.startswith("refused"):
            return StorageRefused("storage said no", field="quantity")
        return WriteOutcome.ACCEPTED


class FakeAdapter:
    """Messages are ("start",) or ("batch", first_sequence, events); the value field is named "value"."""

    name = "usage"
    field_names: Mapping[str, str] = {"quantity": "value"}
    meters = ("calls",)

    async def start(self, message: Any, catalog: Any) -> None:
        if message[0] != "start":
            raise InvalidArgument("the first message of a stream must be `start`", field="start")

    def batch(self, message: Any) -> tuple[int, Sequence[Converted] | EventColumns] | None:
        if message[0] != "batch":
            return None
        return message[1], message[2]


def event(key: str, quantity: float = 1.0, region: str = "eu") -> UsageEvent:
    return UsageEvent(key, "org", "calls", quantity, time.time_ns() // 1000, {"region": region})


async def _messages(*messages: Any) -> AsyncIterator[Any]:
    for message in messages:
        yield message


async def serve(*messages: Any, batcher: FakeBatcher | None = None, window: int = 1000) -> list[StreamAck]:
    acks: list[StreamAck] = []

    async def write(ack: StreamAck) -> None:
        acks.append(ack)

    counter = IngestCounter(IngestStats(), Metrics())
    session = StreamSession(
        FakeAdapter(), FakeCatalog(METER), batcher or FakeBatcher(), window, asyncio.Event(), "s1", counter  # type: ignore[arg-type]
    )
    await session.run(_messages(*messages), write)
    return acks


def test_the_start_is_acknowledged_with_no_ranges_then_each_batch_with_its_ranges() -> None:
    acks = asyncio.run(serve(("start",), ("batch", 0, [event("a"), event("b")]), ("batch", 2, [event("dup-c")])))
    assert acks == [
        StreamAck(),
        StreamAck((AckRange(0, 1, Outcome.ACCEPTED),)),
        StreamAck((AckRange(2, 2, Outcome.DUPLICATE),)),
    ]


def test_a_refused_event_is_rejected_alone_with_the_streams_field_name() -> None:
    acks = asyncio.run(serve(("start",), ("batch", 10, [event("a"), event("b", quantity=float("inf")), event("c")])))
    ranges = acks[1].ranges
    assert [(r.first_sequence, r.last_sequence, r.outcome) for r in ranges] == [
        (10, 10, Outcome.ACCEPTED), (11, 11, Outcome.REJECTED), (12, 12, Outcome.ACCEPTED)
    ]
    error = ranges[1].error
    assert isinstance(error, InvalidArgument) and error.field == "value"


def test_an_event_the_adapter_could_not_read_is_rejected_in_its_place() -> None:
    unreadable: OpenSpannerError = InvalidArgument("nanos must be between 0 and 999,999,999", field="timestamp")
    acks = asyncio.run(serve(("start",), ("batch", 0, [unreadable, event("b")])))
    assert acks[1].ranges == (AckRange(0, 0, Outcome.REJECTED, unreadable), AckRange(1, 1, Outcome.ACCEPTED))


def test_events_storage_did_not_take_are_answered_retry_and_storage_refusals_rejected() -> None:
    acks = asyncio.run(serve(("start",), ("batch", 0, [event("retry-1"), event("retry-2"), event("refused-3")])))
    ranges = acks[1].ranges
    assert [(r.first_sequence, r.last_sequence, r.outcome) for r in ranges] == [
        (0, 1, Outcome.RETRY), (2, 2, Outcome.REJECTED)
    ]
    assert isinstance(ranges[0].error, Unavailable)
    assert isinstance(ranges[1].error, StorageRefused) and ranges[1].error.field == "value"


def test_only_validated_rows_reach_the_batcher() -> None:
    batcher = FakeBatcher()
    asyncio.run(serve(("start",), ("batch", 0, [event("a"), event("b", region="x" * 2000)]), batcher=batcher))
    assert [[row.idempotency_key for row in rows] for rows in batcher.submitted] == [["a"]]


def test_a_first_message_that_is_not_a_start_ends_the_stream() -> None:
    with pytest.raises(InvalidArgument, match="must be `start`"):
        asyncio.run(serve(("batch", 0, [event("a")])))


def test_a_second_start_ends_the_stream_after_the_acks_before_it() -> None:
    with pytest.raises(InvalidArgument, match="only the first message"):
        asyncio.run(serve(("start",), ("start",)))


def test_a_draining_server_ends_the_stream_with_unavailable() -> None:
    async def run() -> list[StreamAck]:
        draining = asyncio.Event()
        acks: list[StreamAck] = []

        async def write(ack: StreamAck) -> None:
            acks.append(ack)
            draining.set()  # the server starts draining once the start is acknowledged

        async def forever() -> AsyncIterator[Any]:
            yield ("start",)
            await asyncio.Event().wait()
            yield ("never",)

        counter = IngestCounter(IngestStats(), Metrics())
        session = StreamSession(
            FakeAdapter(), FakeCatalog(METER), FakeBatcher(), 1000, draining, "s1", counter  # type: ignore[arg-type]
        )
        await session.run(forever(), write)
        return acks

    with pytest.raises(Unavailable, match="shutting down"):
        asyncio.run(run())


def test_a_client_that_sends_nothing_gets_no_ack() -> None:
    assert asyncio.run(serve()) == []


def test_a_session_stops_reading_while_its_unacknowledged_events_fill_the_window() -> None:
    class HeldBatcher(FakeBatcher):
        """Holds every submission until released, as a batcher waiting on storage does."""

        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def submit(self, rows: Sequence[EventRow]) -> list[BatchOutcome]:
            self.submitted.append(list(rows))
            await self.release.wait()
            return [WriteOutcome.ACCEPTED] * len(rows)

    async def run() -> tuple[int, int, list[StreamAck]]:
        batcher = HeldBatcher()
        read = 0

        async def messages() -> AsyncIterator[Any]:
            nonlocal read
            for message in [("start",), *(("batch", 2 * n, [event(f"w{n}a"), event(f"w{n}b")]) for n in range(3))]:
                read += 1
                yield message

        acks: list[StreamAck] = []

        async def write(ack: StreamAck) -> None:
            acks.append(ack)

        counter = IngestCounter(IngestStats(), Metrics())
        session = StreamSession(
            FakeAdapter(), FakeCatalog(METER), batcher, 3, asyncio.Event(), "s1", counter  # type: ignore[arg-type]
        )
        task = asyncio.create_task(session.run(messages(), write))
        for _ in range(50):
            await asyncio.sleep(0)
        # The start and one message of 2 events are in; a second would make 4 > 3 unacknowledged.
        held_read, held_submitted = read, len(batcher.submitted)
        batcher.release.set()
        await task
        return held_read, held_submitted, acks

    held_read, held_submitted, acks = asyncio.run(run())
    assert held_submitted == 1 and held_read <= 3
    assert [r.last_sequence for ack in acks for r in ack.ranges] == [1, 3, 5]


def test_messages_committed_together_are_acknowledged_in_one_ack_in_message_order() -> None:
    class GatedBatcher(FakeBatcher):
        """Answers each submission when its gate opens, as a group commit answers several at once."""

        def __init__(self) -> None:
            super().__init__()
            self.gates: list[asyncio.Event] = []

        async def submit(self, rows: Sequence[EventRow]) -> list[BatchOutcome]:
            gate = asyncio.Event()
            self.gates.append(gate)
            await gate.wait()
            return await super().submit(rows)

    async def run() -> list[StreamAck]:
        batcher = GatedBatcher()
        acks: list[StreamAck] = []
        written = asyncio.Event()

        async def write(ack: StreamAck) -> None:
            acks.append(ack)
            written.set()

        async def messages() -> AsyncIterator[Any]:
            yield ("start",)
            for n in range(3):
                yield ("batch", 10 * n, [event(f"m{n}"), event(f"dup-m{n}")])
            await asyncio.Event().wait()  # the client keeps the stream open

        counter = IngestCounter(IngestStats(), Metrics())
        session = StreamSession(
            FakeAdapter(), FakeCatalog(METER), batcher, 1000, asyncio.Event(), "s1", counter  # type: ignore[arg-type]
        )
        task = asyncio.create_task(session.run(messages(), write))
        while len(batcher.gates) < 3:
            await asyncio.sleep(0)
        written.clear()
        # The last message's commit first: nothing may be acknowledged before the first one's.
        batcher.gates[2].set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(acks) == 1  # the start's only
        batcher.gates[0].set()
        batcher.gates[1].set()
        await written.wait()
        task.cancel()
        return acks

    acks = asyncio.run(run())
    assert acks[1:] == [
        StreamAck((
            AckRange(0, 0, Outcome.ACCEPTED), AckRange(1, 1, Outcome.DUPLICATE),
            AckRange(10, 10, Outcome.ACCEPTED), AckRange(11, 11, Outcome.DUPLICATE),
            AckRange(20, 20, Outcome.ACCEPTED), AckRange(21, 21, Outcome.DUPLICATE),
        )),
    ]
