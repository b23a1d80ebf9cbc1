"""Stage 4, write: store a batch of valid events exactly once.

For each event the writer decides ACCEPTED or DUPLICATE, and stores only the
accepted ones. An event is identified by its meter and its idempotency key:
a key stored for the meter, with whatever timestamp, makes the event a
duplicate for as long as the meter retains it. Within one server the decision
and the insert are made under one lock, so two calls racing with one event
cannot both be accepted. What holds across servers is written down in
docs/storage.md ("Exactly once").
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import numpy as np

from openspanner.logging import get_logger
from openspanner.storage.events import EventBlock, EventRow, EventStore, key_hashes
from openspanner.storage.key_filter import Hashes

log = get_logger(__name__)

T = TypeVar("T")
# Told, inside the writer's lock, the rows a write has just committed.
CommitListener = Callable[[Sequence[EventRow]], None]


class WriteOutcome(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class WrittenBlock:
    """The outcome of each row, and what the block's two storage steps took (for the metrics)."""

    outcomes: list[WriteOutcome]
    lookup_seconds: float
    insert_seconds: float


class EventWriter:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._listeners: list[CommitListener] = []

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call `listener` with the accepted rows of every write, inside the lock, once they
        are committed: whoever also reads storage under `locked` sees each commit exactly once
        (the limits ledger). It must be quick, and it must not raise (an error is logged)."""
        self._listeners.append(listener)

    def locked(self, read: Callable[[], T]) -> T:
        """Run `read` (blocking) with no write committing meanwhile."""
        with self._lock:
            return read()

    def write(self, rows: Sequence[EventRow], batch_id: str) -> WrittenBlock:
        """Outcomes in the order of `rows`. Blocking: run it in the storage pool.

        Returns only after the accepted rows are committed, so callers may
        acknowledge them. If it raises, none of `rows` was remembered as
        stored, and the same rows (or some of them) may be written again: an
        insert that failed stored nothing, or (a block over several partitions
        failing midway) stored rows that the same rows written again copy
        exactly, sorting key included, so FINAL and merges collapse them.
        """
        rows = EventBlock.of(rows)  # a stream's events come in columns already
        hashes = key_hashes(rows)
        by_meter = _positions_by_meter(rows)
        with self._lock:
            started = time.perf_counter()
            outcomes = self._classify(rows, hashes, by_meter)
            classified = time.perf_counter()
            accepted, accepted_hashes, accepted_by_meter = rows, hashes, by_meter
            if outcomes.count(WriteOutcome.ACCEPTED) < len(rows):  # else no step per row
                accepted_at = np.fromiter((o is WriteOutcome.ACCEPTED for o in outcomes), dtype=bool, count=len(rows))
                accepted = rows.taken(accepted_at.tolist())
                accepted_hashes, accepted_by_meter = hashes[accepted_at], _positions_by_meter(accepted)
            self._store.insert(accepted)
            inserted = time.perf_counter()
            for meter, positions in accepted_by_meter.items():
                self._store.remember(meter, accepted_hashes if positions is None else accepted_hashes[positions])
            if accepted and self._listeners:
                self._tell_listeners(accepted, batch_id)
        log.debug(
            "batch written",
            batch_id=batch_id,
            meters=sorted(by_meter),
            events=len(rows),
            accepted=len(accepted),
            duplicates=len(rows) - len(accepted),
            lookup_ms=round((classified - started) * 1000, 1),
            insert_ms=round((inserted - classified) * 1000, 1),
        )
        return WrittenBlock(outcomes, classified - started, inserted - classified)

    def _tell_listeners(self, accepted: Sequence[EventRow], batch_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(accepted)
            except Exception as exc:  # the rows are committed: the write still succeeds
                log.error("commit listener failed", batch_id=batch_id, error=repr(exc))

    def classify(self, rows: Sequence[EventRow]) -> list[WriteOutcome]:
        """What `write` would answer for `rows`, storing nothing.

        Blocking. Validate-only calls use it without the lock: their answer is
        advice, and a write racing with it may change it, which a dry run accepts.
        """
        block = EventBlock.of(rows)
        return self._classify(block, key_hashes(block), _positions_by_meter(block))

    def _classify(self, rows: EventBlock, hashes: Hashes, by_meter: _ByMeter) -> list[WriteOutcome]:
        """Most batches are all new, with each key once: that case is decided
        with set operations instead of a Python step per event (this runs
        with the GIL for every event of a stream, ~2 us each on our machine).
        A block of one meter, the usual one, compares keys alone: no
        (meter, key) pair is built per row for it."""
        stored = self._stored(rows, hashes, by_meter)
        if not stored:
            if len(by_meter) == 1:
                distinct = len(set(rows.idempotency_keys))
            else:
                distinct = len(set(zip(rows.meters, rows.idempotency_keys, strict=True)))
            if distinct == len(rows):
                return [WriteOutcome.ACCEPTED] * len(rows)
        entries = list(zip(rows.meters, rows.idempotency_keys, strict=True))
        seen_in_batch: set[tuple[str, str]] = set()
        outcomes = []
        for entry in entries:
            if entry in stored or entry in seen_in_batch:
                outcomes.append(WriteOutcome.DUPLICATE)
            else:
                seen_in_batch.add(entry)
                outcomes.append(WriteOutcome.ACCEPTED)
        return outcomes

    def _stored(self, rows: EventBlock, hashes: Hashes, by_meter: _ByMeter) -> set[tuple[str, str]]:
        """The (meter, key) entries of `rows` already in storage, one look-up per meter."""
        stored: set[tuple[str, str]] = set()
        for meter, positions in by_meter.items():
            meter_rows: Sequence[EventRow]
            if positions is None:
                meter_rows, meter_hashes = rows, hashes
            else:
                meter_rows, meter_hashes = [rows[i] for i in positions], hashes[positions]
            for key in self._store.stored_keys(meter, meter_rows, meter_hashes):
                stored.add((meter, key))
        return stored


# The positions of each meter's rows; None: every row (a block of one meter).
_ByMeter = dict[str, list[int] | None]


def _positions_by_meter(rows: EventBlock) -> _ByMeter:
    """The positions of each meter's rows; the usual block, of one meter, is told in one C-level pass."""
    if not rows:
        return {}
    meters = set(rows.meters)
    if len(meters) == 1:
        return {meters.pop(): None}
    positions: dict[str, list[int]] = defaultdict(list)
    for index, meter in enumerate(rows.meters):
        positions[meter].append(index)
    return dict(positions)
