"""The usage ledger: each (subject, meter, window) a limit needs, in memory, exact.

An entry is filled from storage once and then advanced by the event writer's
commit listener, which runs inside the writer's lock with the rows it has
just committed, whatever path they came by. A load runs under that same
lock (EventWriter.locked), so no commit can fall between the read and the
entry's installation: the entry equals storage from then on, without
another query. Consumes in flight are held as reservations until their
event commits (or fails), so racing consumes count each other.

Bounded: at most `max_entries` entries, least recently used dropped first
(never one with a reservation). A dropped entry costs one storage read the
next time it is needed; nothing is lost, since storage is the truth.

Thread safety: the listener runs in a storage thread, checks in the event
loop; `_lock` guards the maps. Lock order is always writer lock, then ours.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from openspanner.domain.entitlements import UsageTotals
from openspanner.logging import get_logger
from openspanner.storage.events import EventBlock, EventRow

log = get_logger(__name__)

T = TypeVar("T")

# (subject, meter, window start, window end), times in microseconds since the epoch: two
# limits of one meter with different periods have windows starting together.
EntryKey = tuple[str, str, int, int]


@dataclass(slots=True)
class WindowUsage:
    subject: str
    meter: str
    start_us: int
    end_us: int
    committed: UsageTotals
    # Consumes evaluated and allowed whose event is not committed yet:
    # key -> (timestamp_us, quantity, the value it adds to a distinct count).
    reserved: dict[str, tuple[int, float, str | None]] = field(default_factory=dict)
    # time.monotonic() of the last read from storage (for refreshes when other servers write).
    loaded_at: float = 0.0
    # The dimension a unique_count meter counts the values of; empty for other meters.
    unique_dimension: str = ""

    @property
    def key(self) -> EntryKey:
        return (self.subject, self.meter, self.start_us, self.end_us)

    def with_reserved(self) -> UsageTotals:
        totals = self.committed.copy()
        for key, (timestamp_us, quantity, value) in self.reserved.items():
            totals.add(timestamp_us, key, quantity, value)
        return totals


class UsageLedger:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[EntryKey, WindowUsage] = OrderedDict()
        # subject -> meter -> its loaded windows: the listener's look-up, one dict probe per row
        # for the subjects no limit tracks.
        self._by_subject: dict[str, dict[str, list[WindowUsage]]] = {}
        self._on_change: list[Callable[[set[tuple[str, str]]], None]] = []
        # subject -> the meters a limit follows: commits of these are reported to on_change
        # callbacks even when no entry of theirs is loaded.
        self._followed: Callable[[], Mapping[str, frozenset[str]]] = dict
        self.evictions = 0

    def follow(self, followed: Callable[[], Mapping[str, frozenset[str]]]) -> None:
        self._followed = followed

    def __len__(self) -> int:
        return len(self._entries)

    def on_change(self, callback: Callable[[set[tuple[str, str]]], None]) -> None:
        """Call `callback` (from the writer's thread, inside its lock: it must be quick and never
        block) with the (subject, meter) pairs whose committed usage a commit changed."""
        self._on_change.append(callback)

    def committed(self, rows: Sequence[EventRow]) -> None:
        """The commit listener: `rows` were just committed (called inside the writer's lock).

        Read a column at a time: the writer hands over a block of columns, and building a row
        object per event would cost a stream more than the rest of this listener."""
        changed: set[tuple[str, str]] = set()
        followed = self._followed()
        if not followed and not self._by_subject:
            return
        by_subject = self._by_subject
        block = EventBlock.of(rows)
        # Distinct subjects first (a C-level pass): most blocks hold none a limit follows.
        hit = {s for s in set(block.subjects) if s in followed or s in by_subject}
        if not hit:
            return
        with self._lock:
            for i, subject in enumerate(block.subjects):
                if subject not in hit:
                    continue
                meter, timestamp_us = block.meters[i], block.timestamps_us[i]
                if meter in followed.get(subject, ()):
                    changed.add((subject, meter))
                for window in by_subject.get(subject, {}).get(meter, ()):
                    if window.start_us <= timestamp_us < window.end_us:
                        key = block.idempotency_keys[i]
                        value = block.metadata[i].get(window.unique_dimension) if window.unique_dimension else None
                        window.committed.add(timestamp_us, key, block.quantities[i], value)
                        window.reserved.pop(key, None)
        if changed and self._on_change:
            for callback in self._on_change:
                callback(changed)

    def get(self, key: EntryKey) -> WindowUsage | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def install(self, entry: WindowUsage) -> WindowUsage:
        """Add a freshly loaded entry, or refresh the committed usage of the one there (its
        reservations kept). Call it only under the writer's lock, right after the read."""
        key = entry.key
        with self._lock:
            present = self._entries.get(key)
            if present is not None:
                present.committed, present.loaded_at = entry.committed, entry.loaded_at
                self._entries.move_to_end(key)
                return present
            self._entries[key] = entry
            self._by_subject.setdefault(entry.subject, {}).setdefault(entry.meter, []).append(entry)
            self._evict_over_bound()
            return entry

    @staticmethod
    def reserve_locked(
        entry: WindowUsage, key: str, timestamp_us: int, quantity: float, value: str | None = None
    ) -> None:
        """Reserve, from inside a `decide` callback (which holds the lock)."""
        entry.reserved[key] = (timestamp_us, quantity, value)

    def release(self, entry: WindowUsage, key: str) -> None:
        """Drop a reservation: its event was committed (already moved), a duplicate, or failed."""
        with self._lock:
            entry.reserved.pop(key, None)

    def snapshot(self, entry: WindowUsage) -> UsageTotals:
        """Committed plus reserved usage, copied under the lock."""
        with self._lock:
            return entry.with_reserved()

    def decide(self, entry: WindowUsage, decision: Callable[[UsageTotals], T]) -> T:
        """Run `decision` on the committed plus reserved usage with no commit or other decision
        meanwhile: evaluate and reserve (see `reserve_locked`) as one step."""
        with self._lock:
            return decision(entry.with_reserved())

    def committed_copy(self, entry: WindowUsage) -> UsageTotals:
        with self._lock:
            return entry.committed.copy()

    def entries_of(self, pairs: Iterable[tuple[str, str]]) -> list[WindowUsage]:
        with self._lock:
            return [
                window
                for subject, meter in pairs
                for window in self._by_subject.get(subject, {}).get(meter, ())
            ]

    def forget(self, subject: str) -> None:
        """Drop a subject's entries (its plan changed: windows may start elsewhere)."""
        with self._lock:
            meters = self._by_subject.pop(subject, None)
            for windows in (meters or {}).values():
                for window in windows:
                    self._entries.pop(window.key, None)

    def _evict_over_bound(self) -> None:
        """Drop least recently used entries past the bound, skipping any with a reservation."""
        skipped: list[tuple[EntryKey, WindowUsage]] = []
        while len(self._entries) + len(skipped) > self.max_entries and self._entries:
            key, entry = self._entries.popitem(last=False)
            if entry.reserved:
                skipped.append((key, entry))
                continue
            windows = self._by_subject[entry.subject][entry.meter]
            windows.remove(entry)
            if not windows:
                del self._by_subject[entry.subject][entry.meter]
                if not self._by_subject[entry.subject]:
                    del self._by_subject[entry.subject]
            self.evictions += 1
        for key, entry in skipped:
            self._entries[key] = entry


def fresh_entry(
    subject: str, meter: str, start_us: int, end_us: int, committed: UsageTotals, unique_dimension: str = ""
) -> WindowUsage:
    return WindowUsage(
        subject, meter, start_us, end_us, committed, loaded_at=time.monotonic(), unique_dimension=unique_dimension
    )
