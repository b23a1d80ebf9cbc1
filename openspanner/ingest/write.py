"""Stage 4, write: store a batch of valid events exactly once.

For each event the writer decides ACCEPTED or DUPLICATE, and stores only the
accepted ones. Within one server the decision is made under a lock, so two
calls racing with one event cannot both be accepted. An event is identified
by its meter, its idempotency key and the timestamp its client sent (none, for
events sent without one). Across servers, two copies of one event share the
table's sorting key (meter, subject, hour, key, client time), so ClickHouse
keeps one of them, and every read uses FINAL, so such a copy is never counted
(docs/storage.md).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from enum import Enum

from openspanner.logging import get_logger
from openspanner.storage.events import EventRow, EventStore, Identity

log = get_logger(__name__)


class WriteOutcome(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


class EventWriter:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def write(self, rows: Sequence[EventRow], batch_id: str) -> list[WriteOutcome]:
        """Outcomes in the order of `rows`. Blocking: run it in the storage pool.

        Returns only after the accepted rows are committed, so callers may
        acknowledge them.
        """
        with self._lock:
            started = time.perf_counter()
            outcomes = self.classify(rows)
            accepted = rows
            if WriteOutcome.DUPLICATE in outcomes:
                accepted = [row for row, o in zip(rows, outcomes, strict=True) if o is WriteOutcome.ACCEPTED]
            classified = time.perf_counter()
            self._store.insert(accepted, ingested_at_us=time.time_ns() // 1000)
            inserted = time.perf_counter()
        log.debug(
            "batch written",
            batch_id=batch_id,
            meters=sorted({row.meter for row in rows}),
            events=len(rows),
            accepted=len(accepted),
            duplicates=len(rows) - len(accepted),
            lookup_ms=round((classified - started) * 1000, 1),
            insert_ms=round((inserted - classified) * 1000, 1),
        )
        return outcomes

    def classify(self, rows: Sequence[EventRow]) -> list[WriteOutcome]:
        """What `write` would answer for `rows`, storing nothing.

        Blocking. `write` calls it under the lock; validate-only calls use it
        without: their answer is advice, and a write racing with it may change
        it, which a dry run accepts.

        Most batches are all new, with each event once: that case is decided
        with set operations instead of a Python step per event (this runs
        with the GIL for every event of a stream, ~2 us each on our machine).
        """
        entries = [(row.meter, row.identity) for row in rows]
        stored = self._stored(entries)
        if not stored and len(set(entries)) == len(entries):
            return [WriteOutcome.ACCEPTED] * len(entries)
        seen_in_batch: set[tuple[str, Identity]] = set()
        outcomes = []
        for entry in entries:
            if entry in stored or entry in seen_in_batch:
                outcomes.append(WriteOutcome.DUPLICATE)
            else:
                seen_in_batch.add(entry)
                outcomes.append(WriteOutcome.ACCEPTED)
        return outcomes

    def _stored(self, entries: list[tuple[str, Identity]]) -> set[tuple[str, Identity]]:
        """The (meter, identity) entries already in storage, one look-up per meter."""
        identities_by_meter: dict[str, list[Identity]] = defaultdict(list)
        for meter, identity in entries:
            identities_by_meter[meter].append(identity)
        return {
            (meter, identity)
            for meter, identities in identities_by_meter.items()
            for identity in self._store.stored_identities(meter, identities)
        }
