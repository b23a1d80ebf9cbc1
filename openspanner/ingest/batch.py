"""Stage 3, batch: events of every write path of the server, written in large blocks.

ClickHouse wants few, large inserts: each insert makes a part that must later
be merged. So single events, bulk calls and every stream submit their
validated rows here, and one flusher writes them together (group commit, as
in PostgreSQL's commit_delay or Kafka's linger.ms): a submitter's future
resolves only after the block holding its rows is committed. A block goes
as soon as the writer is free, so an event that finds the server idle waits
for nothing but its own write; while a block is being written the next one
fills, so under load blocks grow by themselves up to `max_batch_events`.
Writes start at most once per `linger_seconds`, which bounds the parts per
second ClickHouse must merge when events trickle in on a fast disk.

The batcher is bounded: rows pending and in flight never exceed
`max_pending_events`. A stream waits for room (and a stream that waits stops
reading, which is gRPC flow control); a unary call is refused with
ResourceExhausted and a retry delay instead, so callers never queue without
bound.

A failed write is classified once (storage/errors.py). Storage down, slow,
full or busy: the block is tried again with exponential backoff and jitter
until `retry_seconds` have passed, then its rows are answered RETRY: nothing
was acknowledged, so nothing is lost, and clients resend them with the same
keys. Storage refusing the rows themselves (a constraint, a value the engine
cannot take): the block is split in halves, and halves again, until the
events at fault stand alone; every other event is written and answered as
usual, and each event at fault is answered with storage's refusal
(StorageRefused), at once, not after the deadline. A block is never written
again once it committed: each part of a split is written on its own (its
duplicate check and insert under the writer's lock), in order, so a part
that committed is never sent again and an event's later copies in the
block are found as its duplicates. A failure that is neither (a table
missing, credentials, a query the engine refuses) is nothing a retry or a
split can mend: the block is answered Unavailable with what needs fixing,
at once, and the next write waits a moment so clients resending do not spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from openspanner.errors import OpenSpannerError, ResourceExhausted, StorageRefused, Unavailable
from openspanner.ingest.write import EventWriter, WriteOutcome, WrittenBlock
from openspanner.logging import get_logger
from openspanner.metrics import Metrics
from openspanner.retry import RetryPolicy
from openspanner.storage.client import Storage
from openspanner.storage.errors import GIVE_UP_RETRY_AFTER_SECONDS, StorageFailure, classify, refusal, unavailable
from openspanner.storage.events import EventBlock, EventRow

log = get_logger(__name__)

# Outcome of rows that storage did not take in time.
RETRY = "retry"
SHUTDOWN_RETRY = "shutdown deadline reached, pending events answered RETRY"
# Besides RETRY, a row not stored is answered with an error: StorageRefused
# (storage refused the event itself: its own answer) or Unavailable (storage
# cannot take writes until an operator acts: send it again later).
BatchOutcome = WriteOutcome | str | OpenSpannerError
# Bounds of the retry delay a refused unary call is told to wait.
MIN_RETRY_AFTER_SECONDS = 0.1
MAX_RETRY_AFTER_SECONDS = 10.0
# Backoff between attempts at a block while storage fails in a retryable way.
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# The waits of the one retry policy; the deadline is the block's (`retry_seconds`,
# shared by the parts of a split), so the policy bounds neither attempts nor time.
STORAGE_RETRY = RetryPolicy(
    max_attempts=None,
    deadline_seconds=None,
    initial_backoff_seconds=FIRST_BACKOFF_SECONDS,
    max_backoff_seconds=MAX_BACKOFF_SECONDS,
    jitter=(0.5, 1.5),
)
# A block gathering the calls its previous write answered goes once none has come for this long.
GATHER_QUIET_SECONDS = 0.002
# ...judged after letting the event loop run this many turns (requests read meanwhile get submitted).
GATHER_LOOP_TURNS = 3
# After a failure no retry or split can mend, the next write waits this long
# (the delay those clients are told): resent events do not spin on a broken storage.
GIVE_UP_PAUSE_SECONDS = GIVE_UP_RETRY_AFTER_SECONDS


def is_refused(outcome: BatchOutcome) -> TypeGuard[StorageRefused]:
    """Storage refused this event itself: answered with its error, like a rule it broke."""
    return isinstance(outcome, StorageRefused)


def is_unstored(outcome: BatchOutcome) -> bool:
    """Not stored for storage's sake (RETRY, Unavailable): the event should be sent again."""
    return not isinstance(outcome, WriteOutcome) and not is_refused(outcome)


@dataclass(frozen=True)
class BatchSettings:
    max_batch_events: int = 20_000
    # The shortest time between the starts of two writes.
    linger_seconds: float = 0.02
    max_pending_events: int = 200_000
    retry_seconds: float = 30.0


@dataclass
class _Submission:
    rows: Sequence[EventRow]
    future: asyncio.Future[list[BatchOutcome]]
    # A call that sends again once answered (unary and bulk calls), not a stream's message.
    comes_back: bool


class Batcher:
    def __init__(self, storage: Storage, writer: EventWriter, settings: BatchSettings, metrics: Metrics) -> None:
        self._storage = storage
        self._metrics = metrics
        self._writer = writer
        self._settings = settings
        self._queue: deque[_Submission] = deque()
        self._queued_events = 0
        self._in_flight_events = 0  # queued + being written
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._closing = False
        self._flusher: asyncio.Task[None] | None = None
        self._last_write_started = -math.inf
        # Calls (not stream messages) the latest write answered: how many may be on their way back.
        self._last_write_answered = 0
        # Calls submitted so far, and how many when the latest write ended.
        self._arrivals = 0
        self._arrivals_at_last_write_end = 0
        # When a submission last arrived or was handed its answer (monotonic seconds).
        self._last_activity = -math.inf
        # Events per second of the latest write: the basis of a retry delay.
        self._write_rate = 0.0

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="batcher")

    @property
    def pending_events(self) -> int:
        return self._in_flight_events

    async def submit(self, rows: Sequence[EventRow], *, wait_for_room: bool = True) -> list[BatchOutcome]:
        """Outcomes for `rows`, in order, once they are committed (or given up on).

        Without `wait_for_room`, a submission that does not fit under
        max_pending_events raises ResourceExhausted at once.
        """
        if not rows:
            return []
        if self._flusher is None or self._flusher.done():
            raise Unavailable("server is shutting down; send these events again", retry_after_seconds=1.0)
        if wait_for_room:
            await self._wait_for_room(len(rows))
            if self._flusher.done():  # closed while this waited: nothing would write it
                await self._release_room(len(rows))
                raise Unavailable("server is shutting down; send these events again", retry_after_seconds=1.0)
        else:
            self._take_room(len(rows))
        future: asyncio.Future[list[BatchOutcome]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Submission(rows, future, comes_back=not wait_for_room))
        self._queued_events += len(rows)
        self._arrivals += not wait_for_room
        self._last_activity = time.monotonic()
        if len(self._queue) == 1 or self._queued_events >= self._settings.max_batch_events or self._closing:
            self._wake.set()
        try:
            return await asyncio.shield(future)
        finally:
            self._last_activity = time.monotonic()
            await self._release_room(len(rows))

    async def _release_room(self, count: int) -> None:
        async with self._room:
            self._in_flight_events -= count
            self._room.notify_all()

    def _fits(self, count: int) -> bool:
        # A submission larger than the whole budget still goes alone.
        return self._in_flight_events + count <= self._settings.max_pending_events or self._in_flight_events == 0

    async def _wait_for_room(self, count: int) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._fits(count))
            self._in_flight_events += count

    def _take_room(self, count: int) -> None:
        if not self._fits(count):
            raise ResourceExhausted(
                f"the server holds {self._in_flight_events} pending events (max_pending_events"
                f" {self._settings.max_pending_events}); send these {count} again after the delay",
                retry_after_seconds=self._drain_estimate_seconds(),
            )
        self._in_flight_events += count

    def _drain_estimate_seconds(self) -> float:
        """How long the pending events take to write at the latest write's rate."""
        if self._write_rate <= 0:
            return MAX_RETRY_AFTER_SECONDS
        estimate = self._in_flight_events / self._write_rate
        return min(max(estimate, MIN_RETRY_AFTER_SECONDS), MAX_RETRY_AFTER_SECONDS)

    async def close(self, deadline: float = math.inf) -> None:
        """Write everything submitted so far, then stop; at `deadline` (time.monotonic) stop waiting.

        What is not committed by the deadline is answered RETRY, never
        acknowledged: a write still running then may yet commit, and the
        client's resend of it is answered DUPLICATE.
        """
        self._closing = True
        self._wake.set()
        if self._flusher is None:
            return
        timeout = None if deadline == math.inf else max(deadline - time.monotonic(), 0)
        await asyncio.wait({self._flusher}, timeout=timeout)
        if self._flusher.done():
            return
        self._flusher.cancel()  # its batch in flight is answered RETRY by _write
        await asyncio.wait({self._flusher})
        given_up = list(self._queue)
        self._queue.clear()
        self._queued_events = 0
        _answer_retry(given_up)
        if given_up:
            log.warning(SHUTDOWN_RETRY, queued=True, events=sum(len(s.rows) for s in given_up))

    async def _flush_forever(self) -> None:
        # The queue is checked before every wait: a wake-up that arrived while
        # a batch was being written (close() among them) is never missed.
        while self._queue or not self._closing:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._linger()
            await self._write(self._take_batch())

    async def _linger(self) -> None:
        """Wait until the batch is full or `linger_seconds` have passed since the previous write started.

        A block that finds the writer idle for that long goes at once.
        """
        deadline = self._last_write_started + self._settings.linger_seconds
        while (
            not self._closing
            and self._queued_events < self._settings.max_batch_events
            and (remaining := deadline - time.monotonic()) > 0
        ):
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                break
        await self._gather()

    async def _gather(self) -> None:
        """Wait for the calls the previous write answered while they keep coming back.

        Callers that each send again once answered (unary calls under load)
        come back over some milliseconds after a write ends, while the event
        loop is still handing out the answers. A block written when the first
        of them arrives would hold only those few, the rest would wait a whole
        write for the next one, and an insert costs mostly per block: at 64
        callers, blocks settled into two groups of ~24 and ~40 events, each
        waiting a write out. So, when the previous write answered several
        calls, the next block waits until as many calls have arrived since
        it ended (what came during it is queued already) or the block is
        full, while submissions keep arriving or getting their answers (a
        pause of GATHER_QUIET_SECONDS without either ends it), for at most
        `linger_seconds`. Stream messages are not counted: a stream sends
        as its window allows, not once per answer, so a block of streams
        alone never waits here. A single caller, and callers that do not
        come back, wait at most the quiet pause.
        """
        expected = self._last_write_answered
        until = time.monotonic() + self._settings.linger_seconds
        while (
            not self._closing
            and self._arrivals - self._arrivals_at_last_write_end < expected
            and self._queued_events < self._settings.max_batch_events
            and (now := time.monotonic()) < until
        ):
            quiet_at = self._last_activity + GATHER_QUIET_SECONDS
            if quiet_at <= now:
                if await self._activity_pending():
                    continue
                return
            await asyncio.sleep(min(quiet_at, until) - now)

    async def _activity_pending(self) -> bool:
        """Whether a submission arrives within a few turns of the event loop.

        A process the machine held back for a while wakes with requests
        already read but not yet submitted: their tasks run after this one's
        timer. They are not a pause of the callers."""
        seen = self._last_activity
        for _ in range(GATHER_LOOP_TURNS):
            await asyncio.sleep(0)
            if self._last_activity != seen:
                return True
        return False

    def _take_batch(self) -> list[_Submission]:
        taken: list[_Submission] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0].rows) <= self._settings.max_batch_events):
            submission = self._queue.popleft()
            taken.append(submission)
            count += len(submission.rows)
        self._queued_events -= count
        return taken

    async def _write(self, batch: list[_Submission]) -> None:
        rows = EventBlock.joined([submission.rows for submission in batch])
        batch_id = uuid.uuid4().hex[:16]
        self._last_write_started = started = time.monotonic()
        try:
            outcomes = await self._write_block(rows, batch_id)
        except asyncio.CancelledError:  # close() reached its deadline
            _answer_retry(batch)
            log.warning(SHUTDOWN_RETRY, batch_id=batch_id, events=len(rows))
            raise
        ended = self._last_activity = time.monotonic()  # its answers go out now
        self._last_write_answered = sum(submission.comes_back for submission in batch)
        self._arrivals_at_last_write_end = self._arrivals
        self._write_rate = len(rows) / max(ended - started, 1e-3)
        position = 0
        for submission in batch:
            size = len(submission.rows)
            if not submission.future.done():
                submission.future.set_result(list(outcomes[position : position + size]))
            position += size
        if outcomes and isinstance(outcomes[-1], Unavailable):  # given up: the rest of the block is too
            await self._pause(GIVE_UP_PAUSE_SECONDS)

    async def _pause(self, seconds: float) -> None:
        """Hold the next write back for `seconds`, or until close(): it then writes what is left."""
        until = time.monotonic() + seconds
        while not self._closing and (remaining := until - time.monotonic()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def _write_block(self, rows: EventBlock, batch_id: str) -> list[BatchOutcome]:
        """The outcome of each row: written in one block, or in parts when storage refuses some rows.

        Parts are written first to last, each once it is known to hold no row
        at fault, so what the writer answers for it is final. Rows not
        written by the deadline stay RETRY.
        """
        deadline = time.monotonic() + self._settings.retry_seconds
        outcomes: list[BatchOutcome] = [RETRY] * len(rows)
        parts = [(0, len(rows))]  # not written yet, the next one last
        while parts and time.monotonic() < deadline:
            start, end = parts.pop()
            written = await self._write_with_retries(rows[start:end], batch_id, deadline)
            if isinstance(written, list):
                outcomes[start:end] = written
            elif written.retryable:
                break  # the deadline passed: this part and the rest stay RETRY
            elif not written.splits:
                answer = unavailable(written, "these events")
                for first, last in [*parts, (start, end)]:
                    outcomes[first:last] = [answer] * (last - first)
                break
            elif end - start == 1:
                outcomes[start] = self._refuse(rows[start], written, batch_id)
            else:
                middle = (start + end) // 2
                parts += [(middle, end), (start, middle)]
                log.info("batch split to find the events storage refuses", batch_id=batch_id, events=end - start)
        return outcomes

    def _refuse(self, row: EventRow, failure: StorageFailure, batch_id: str) -> StorageRefused:
        log.warning(
            "event refused by storage",
            batch_id=batch_id,
            meter=row.meter,
            idempotency_key=row.idempotency_key,
            kind=failure.kind,
            code=failure.code,
            error=failure.reason,
        )
        return refusal(failure)

    async def _write_with_retries(
        self, rows: EventBlock, batch_id: str, deadline: float
    ) -> list[WriteOutcome] | StorageFailure:
        """The writer's outcomes for `rows`, or the failure that ended the attempts.

        Retryable failures are retried with backoff until `deadline`; any other ends them at once.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                written = await asyncio.wait_for(
                    self._storage.call(self._writer.write, rows, batch_id),
                    max(deadline - time.monotonic(), 0.001),
                )
            except Exception as error:  # every failure is classified: retried, split or given up
                failure = classify(error)
                remaining = deadline - time.monotonic()
                self._metrics.storage_errors.labels(
                    kind=failure.kind, retryable="true" if failure.retryable else "false"
                ).inc()
                log.warning(
                    "batch write failed",
                    batch_id=batch_id,
                    events=len(rows),
                    attempt=attempt,
                    kind=failure.kind,
                    retryable=failure.retryable,
                    code=failure.code,
                    error=failure.reason,
                    retry_for_seconds=round(max(remaining, 0), 1) if failure.retryable else 0,
                )
                if not failure.retryable:
                    return failure
                if remaining <= 0:
                    log.error("batch given up, answered RETRY", batch_id=batch_id, events=len(rows))
                    return failure
                self._metrics.storage_retries.inc()
                await asyncio.sleep(min(STORAGE_RETRY.backoff(attempt), remaining))
            else:
                self._observe(written, len(rows))
                return written.outcomes

    def _observe(self, written: WrittenBlock, events: int) -> None:
        self._metrics.batch_events.observe(events)
        self._metrics.lookup_seconds.observe(written.lookup_seconds)
        self._metrics.insert_seconds.observe(written.insert_seconds)


def _answer_retry(submissions: Sequence[_Submission]) -> None:
    for submission in submissions:
        if not submission.future.done():
            submission.future.set_result([RETRY] * len(submission.rows))
