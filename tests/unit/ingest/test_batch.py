"""The batcher's own rules, with a writer that records its blocks and can be held mid-write.

The writer stands in for EventWriter (it answers DUPLICATE for keys starting
"dup", ACCEPTED otherwise), so these tests see exactly which rows went into
which block, in which order, and when. No storage is touched: the batcher
only hands the writer's call to the storage pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from openspanner.errors import ResourceExhausted, Unavailable
from openspanner.ingest import batch
from openspanner.ingest.batch import RETRY, Batcher, BatchOutcome, BatchSettings
from openspanner.ingest.write import EventWriter, WriteOutcome, WrittenBlock
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.events import EventRow

# Long enough that a test that waits for it would time out instead.
FOREVER = 60.0
CALL_TIMEOUT = 10.0


class RecordingWriter:
    """Records the keys of each block it writes; while `held`, a write waits until released."""

    def __init__(self) -> None:
        self.blocks: list[list[str]] = []
        self.started_at: list[float] = []
        self.started = threading.Semaphore(0)
        self._open = threading.Event()
        self._open.set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def write(self, rows: Sequence[EventRow], batch_id: str) -> WrittenBlock:
        self.started_at.append(time.monotonic())
        self.blocks.append([row.idempotency_key for row in rows])
        self.started.release()
        self._open.wait(FOREVER)
        outcomes = [
            WriteOutcome.DUPLICATE if row.idempotency_key.startswith("dup") else WriteOutcome.ACCEPTED for row in rows
        ]
        return WrittenBlock(outcomes, 0.0, 0.0)

    async def wait_for_writes(self, count: int) -> None:
        """Until `count` more writes have started (the writer runs in the storage pool)."""
        for _ in range(count):
            assert await asyncio.to_thread(self.started.acquire, True, CALL_TIMEOUT), "no write started"


def rows(*keys: str) -> list[EventRow]:
    return [EventRow("m", key, "org_1", 1, 1.0, {}, 30, 1, 1) for key in keys]


@asynccontextmanager
async def batcher_with(writer: RecordingWriter, **settings: Any) -> AsyncIterator[Batcher]:
    # The batcher only runs the writer in the storage pool; no client is ever used.
    storage = Storage(cast(Any, None), threads=2)
    batcher = Batcher(storage, cast(EventWriter, writer), BatchSettings(**settings), Metrics())
    batcher.start()
    try:
        yield batcher
    finally:
        writer.release()
        await batcher.close()
        storage._executor.shutdown(wait=True)


def submit(batcher: Batcher, *keys: str, wait_for_room: bool = True) -> asyncio.Task[list[BatchOutcome]]:
    return asyncio.ensure_future(batcher.submit(rows(*keys), wait_for_room=wait_for_room))


async def settle() -> None:
    """Let queued tasks run until they block (on the writer, a future, or room)."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_an_idle_batcher_writes_at_once_and_the_next_block_gathers_what_came_meanwhile_in_order() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=0) as batcher:
            writer.hold()
            first = submit(batcher, "a1", "a2")
            await writer.wait_for_writes(1)
            second, third, fourth = submit(batcher, "b1"), submit(batcher, "dup-c1", "c2"), submit(batcher, "d1")
            await settle()
            assert not second.done() and writer.blocks == [["a1", "a2"]]
            writer.release()
            answers = await asyncio.wait_for(asyncio.gather(first, second, third, fourth), CALL_TIMEOUT)
        assert writer.blocks == [["a1", "a2"], ["b1", "dup-c1", "c2", "d1"]]
        # Each submitter gets the outcomes of its own rows, in its order.
        accepted, duplicate = WriteOutcome.ACCEPTED, WriteOutcome.DUPLICATE
        assert answers == [[accepted, accepted], [accepted], [duplicate, accepted], [accepted]]

    asyncio.run(scenario())


def test_a_block_holds_at_most_max_batch_events_and_never_splits_a_submission() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=0, max_batch_events=4) as batcher:
            writer.hold()
            first = submit(batcher, "a")
            await writer.wait_for_writes(1)
            waiting = [submit(batcher, "b1", "b2"), submit(batcher, "c1", "c2", "c3"), submit(batcher, "d1")]
            # Larger than a block: it still goes, alone.
            waiting.append(submit(batcher, *[f"e{i}" for i in range(6)]))
            await settle()
            writer.release()
            await asyncio.wait_for(asyncio.gather(first, *waiting), CALL_TIMEOUT)
        assert writer.blocks == [["a"], ["b1", "b2"], ["c1", "c2", "c3", "d1"], [f"e{i}" for i in range(6)]]

    asyncio.run(scenario())


def test_a_partial_block_waits_for_the_linger_delay_and_a_full_one_goes_at_once() -> None:
    linger = 1.0

    async def scenario() -> tuple[list[float], list[float], list[list[str]]]:
        writer = RecordingWriter()
        submitted: list[float] = []
        async with batcher_with(writer, linger_seconds=linger, max_batch_events=3) as batcher:
            for keys in (["a"], ["b"], ["c1", "c2", "c3"]):
                submitted.append(time.monotonic())
                await asyncio.wait_for(batcher.submit(rows(*keys)), CALL_TIMEOUT)
        return submitted, writer.started_at, writer.blocks

    submitted, started, blocks = asyncio.run(scenario())
    assert blocks == [["a"], ["b"], ["c1", "c2", "c3"]]
    # "a" found no write before it; "b", submitted right after "a" was written, waited until
    # `linger` after that write started (which was after "a" was submitted); "c", a full block, did not wait.
    assert started[0] - submitted[0] < linger / 2
    assert started[1] - submitted[0] >= linger
    assert started[2] - submitted[2] < linger / 2


@pytest.mark.parametrize(("calls", "blocks"), [
    (True, [["a1", "b1", "c1"], ["a2", "b2", "c2"]]),
    # Stream messages are sent as the window allows, not once per answer: none is waited for.
    (False, [["a1", "b1", "c1"], ["a2"], ["b2", "c2"]]),
], ids=["calls", "stream messages"])
def test_the_block_after_a_write_gathers_the_calls_it_answered_as_they_come_back(
    monkeypatch: pytest.MonkeyPatch, calls: bool, blocks: list[list[str]]
) -> None:
    """Three callers answered by one write send again one after another: their next block waits for
    all three (as unary callers under load do), instead of going with the first and leaving the others
    a whole write to wait. The write is held past the linger delay, so only the gathering holds it."""
    linger = 1.0
    monkeypatch.setattr(batch, "GATHER_QUIET_SECONDS", linger)

    async def scenario() -> list[list[str]]:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=linger) as batcher:
            writer.hold()
            callers = [submit(batcher, f"{name}1", wait_for_room=not calls) for name in "abc"]
            await writer.wait_for_writes(1)
            await asyncio.sleep(linger * 1.2)
            writer.release()
            await asyncio.wait_for(asyncio.gather(*callers), CALL_TIMEOUT)
            again = []
            for name in "abc":
                again.append(submit(batcher, f"{name}2", wait_for_room=not calls))
                await asyncio.sleep(linger / 10)
            await asyncio.wait_for(asyncio.gather(*again), CALL_TIMEOUT)
        return writer.blocks

    assert asyncio.run(scenario()) == blocks


def test_a_full_batcher_refuses_a_unary_submission_and_makes_a_stream_wait_for_room() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=0, max_pending_events=4) as batcher:
            writer.hold()
            first = submit(batcher, "a1", "a2", "a3")
            await writer.wait_for_writes(1)
            assert batcher.pending_events == 3
            with pytest.raises(ResourceExhausted) as refused:
                await asyncio.wait_for(batcher.submit(rows("u1", "u2"), wait_for_room=False), CALL_TIMEOUT)
            assert "max_pending_events 4" in refused.value.message
            assert refused.value.retry_after_seconds is not None and refused.value.retry_after_seconds > 0
            fits = submit(batcher, "f1", wait_for_room=False)  # 3 + 1 fits
            waiting = submit(batcher, "s1", "s2")
            await settle()
            assert not waiting.done() and batcher.pending_events == 4
            writer.release()
            answers = await asyncio.wait_for(asyncio.gather(first, fits, waiting), CALL_TIMEOUT)
            assert answers[2] == [WriteOutcome.ACCEPTED] * 2
            assert batcher.pending_events == 0
        assert ["u1", "u2"] not in writer.blocks and ["s1", "s2"] in writer.blocks

    asyncio.run(scenario())


def test_at_the_shutdown_deadline_the_block_in_flight_and_the_queued_ones_are_answered_retry() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=0) as batcher:
            writer.hold()
            in_flight = submit(batcher, "a1", "a2")
            await writer.wait_for_writes(1)
            queued = submit(batcher, "b1")
            await settle()
            started = time.monotonic()
            await asyncio.wait_for(batcher.close(deadline=started + 0.3), CALL_TIMEOUT)
            assert time.monotonic() - started < FOREVER / 2
            assert await asyncio.wait_for(in_flight, CALL_TIMEOUT) == [RETRY, RETRY]
            assert await asyncio.wait_for(queued, CALL_TIMEOUT) == [RETRY]
            with pytest.raises(Unavailable, match="shutting down"):
                await batcher.submit(rows("late"))
        assert writer.blocks == [["a1", "a2"]]

    asyncio.run(scenario())


def test_close_without_a_deadline_writes_everything_submitted() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        async with batcher_with(writer, linger_seconds=FOREVER) as batcher:
            first = submit(batcher, "a")
            await writer.wait_for_writes(1)
            lingering = submit(batcher, "b")  # would wait out the long linger
            await settle()
            await asyncio.wait_for(batcher.close(), CALL_TIMEOUT)
            assert await asyncio.wait_for(lingering, CALL_TIMEOUT) == [WriteOutcome.ACCEPTED]
            await asyncio.wait_for(first, CALL_TIMEOUT)
        assert writer.blocks == [["a"], ["b"]]

    asyncio.run(scenario())
