"""What this server's ingest did lately, for the dashboard's overview and ingest-health pages.

Counts live in memory, per server, since it started: accepted, duplicate and
rejected events per meter and path (unary, bulk, or a stream type), in
one-second slots for the last minute (rates) and one-minute slots for the
last day (overview); rejections by meter, field and rule with their latest
examples; and each open stream with its acknowledgement latency. Bounded:
slots are rings, examples and latencies are short deques, and the number
of distinct (meter, field, rule) kept is capped, so bad input cannot grow it.

Recording is a few dict operations on the event loop per batch, not per
event (ingest/counting.py calls it, with the Prometheus counters); nothing
here does I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from openspanner.errors import OpenSpannerError

RATE_WINDOW_SECONDS = 60
DAY_MINUTES = 24 * 60
MAX_EXAMPLES = 5
MAX_REJECTION_KINDS = 1000
MAX_LATENCIES = 1000


@dataclass
class _Ring:
    """Counts per outcome in `size` slots of `slot_seconds`; a slot is cleared when reused."""

    size: int
    slot_seconds: int
    slots: dict[int, list[int]] = field(default_factory=dict)

    def add(self, now: float, counts: tuple[int, int, int]) -> None:
        slot = int(now // self.slot_seconds)
        current = self.slots.setdefault(slot, [0, 0, 0])
        for index, count in enumerate(counts):
            current[index] += count
        if len(self.slots) > self.size:
            for old in [s for s in self.slots if s <= slot - self.size]:
                del self.slots[old]

    def total(self, now: float, seconds: float) -> tuple[int, int, int]:
        """Counts of the slots that started within the last `seconds`."""
        first = int((now - seconds) // self.slot_seconds) + 1
        sums = [0, 0, 0]
        for slot, counts in self.slots.items():
            if slot >= first:
                for index, count in enumerate(counts):
                    sums[index] += count
        return sums[0], sums[1], sums[2]


@dataclass(frozen=True)
class RejectionExample:
    at: float
    idempotency_key: str
    subject: str
    message: str


@dataclass
class RejectionKind:
    meter: str
    field: str
    rule: str
    count: int = 0
    # dataclasses.field in full: `field` is a name of this class.
    latest: deque[RejectionExample] = dataclasses.field(default_factory=lambda: deque(maxlen=MAX_EXAMPLES))


@dataclass
class OpenStream:
    id: str
    kind: str
    meters: tuple[str, ...]
    opened_at: float
    events_acknowledged: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_LATENCIES))

    def latency_ms(self, quantile: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


class IngestStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.started_at = clock()
        self._per_second: dict[tuple[str, str], _Ring] = {}
        self._per_minute: dict[str, _Ring] = {}
        self._rejections: dict[tuple[str, str, str], RejectionKind] = {}
        self._streams: dict[str, OpenStream] = {}
        self._stream_ids = itertools.count(1)

    def record(self, meter: str, path: str, accepted: int = 0, duplicates: int = 0, rejected: int = 0) -> None:
        if not (accepted or duplicates or rejected):
            return
        now = self._clock()
        counts = (accepted, duplicates, rejected)
        self._per_second.setdefault((meter, path), _Ring(RATE_WINDOW_SECONDS + 1, 1)).add(now, counts)
        self._per_minute.setdefault(meter, _Ring(DAY_MINUTES + 1, 60)).add(now, counts)

    def reject(self, meter: str, error: OpenSpannerError, idempotency_key: str, subject: str) -> None:
        """One refused event: counted by its field and rule (the message), with it as an example."""
        key = (meter, error.field, error.message)
        kind = self._rejections.get(key)
        if kind is None:
            if len(self._rejections) >= MAX_REJECTION_KINDS:
                return
            kind = self._rejections[key] = RejectionKind(meter, error.field, error.message)
        kind.count += 1
        kind.latest.append(RejectionExample(self._clock(), idempotency_key, subject, str(error)))

    def open_stream(self, kind: str, meters: Iterable[str]) -> OpenStream:
        stream = OpenStream(str(next(self._stream_ids)), kind, tuple(meters), self._clock())
        self._streams[stream.id] = stream
        return stream

    def close_stream(self, stream: OpenStream) -> None:
        self._streams.pop(stream.id, None)

    # -- read by the REST stats routes ------------------------------------

    def rates(self) -> list[tuple[str, str, float, float, float]]:
        """(meter, path, accepted/s, duplicates/s, rejected/s) over the last RATE_WINDOW_SECONDS."""
        now = self._clock()
        window = min(RATE_WINDOW_SECONDS, max(1.0, now - self.started_at))
        rows = []
        for (meter, path), ring in sorted(self._per_second.items()):
            accepted, duplicates, rejected = ring.total(now, RATE_WINDOW_SECONDS)
            if accepted or duplicates or rejected:
                rows.append((meter, path, accepted / window, duplicates / window, rejected / window))
        return rows

    def totals(self, meter: str, seconds: float) -> tuple[int, int, int]:
        ring = self._per_minute.get(meter)
        return (0, 0, 0) if ring is None else ring.total(self._clock(), seconds)

    def meters(self) -> list[str]:
        return sorted(self._per_minute)

    def rejection_kinds(self) -> list[RejectionKind]:
        return sorted(self._rejections.values(), key=lambda k: (-k.count, k.meter, k.field, k.rule))

    def open_streams(self) -> list[OpenStream]:
        return list(self._streams.values())
