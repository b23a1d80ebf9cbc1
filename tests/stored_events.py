"""A small fixed set of events in a real embedded engine, for the query tests that need no server.

Events are written the way ingest writes them (EventStore.insert, dimension
values as ingest's canonical text), into a fresh database under the test's
own temporary directory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.values import stored_text
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.queries import QueryStore
from openspanner.storage.rollups import RollupStore, build_settled
from openspanner.storage.schema import migrate
from tests.harness import storage_at

US = 1_000_000
HOUR_US = 3600 * US
DIMENSIONS = (
    Dimension("model", DimensionType.STRING),
    Dimension("cached", DimensionType.BOOLEAN),
    Dimension("tokens", DimensionType.NUMBER),
    Dimension("tokens.in", DimensionType.NUMBER),
    Dimension("region", DimensionType.STRING),
)


# What a unique_count meter of these tests counts: a string with absent values and the empty string.
UNIQUE_DIMENSION = "model"


def meter(name: str, aggregation: Aggregation = Aggregation.SUM) -> Meter:
    counted = UNIQUE_DIMENSION if aggregation is Aggregation.UNIQUE_COUNT else ""
    return Meter(
        name, aggregation, unit="token", event_retention_days=3650, dimensions=DIMENSIONS, unique_dimension=counted
    )


# Three days before the start of this hour: recent enough for any retention,
# in the past for every listing.
BASE_US = (time.time_ns() // 1000 // HOUR_US - 72) * HOUR_US


@dataclass(frozen=True)
class Sample:
    """One event as a test sees it: metadata typed, times in microseconds."""

    key: str
    subject: str
    at_us: int
    quantity: float
    metadata: dict[str, Any] = field(default_factory=dict)
    received_us: int = 0

    @property
    def received(self) -> int:
        return self.received_us or self.at_us + 2 * US


# Chosen so that text order and number order disagree (9 < 10 < 100, but
# "10" < "100" < "9"), with absent keys, the empty string, a comma, non-ASCII
# text, a canonical 1e+21, equal timestamps, and events received out of order.
SAMPLES: tuple[Sample, ...] = (
    Sample("e01", "org_1", BASE_US + 0 * HOUR_US, 10,
           {"model": "gpt-4.1", "cached": True, "tokens": 9, "region": "eu"}),
    Sample("e02", "org_1", BASE_US + 1 * HOUR_US, 5, {"model": "gpt-4o", "cached": False, "tokens": 10}),
    Sample("e03", "org_2", BASE_US + 1 * HOUR_US, 7.5,
           {"model": "claude", "tokens": 100, "tokens.in": 3, "region": "us"}),
    Sample("e04", "org_2", BASE_US + 2 * HOUR_US, 1, {"model": "", "cached": True, "tokens": 2.5, "region": "eu"}),
    Sample("e05", "org_3", BASE_US + 3 * HOUR_US, 1842, {"model": "é-model", "tokens": -1, "tokens.in": 0.5}),
    Sample("e06", "org_3", BASE_US + 4 * HOUR_US, 0.5, {"cached": False, "region": "a,b"}),
    Sample("e07", "org_1", BASE_US + 5 * HOUR_US, 3, {"model": "gpt-4.1", "tokens": 1e21, "region": "us"}),
    Sample("e08", "org_4", BASE_US + 6 * HOUR_US, 2, {"model": "Zeta", "cached": True, "tokens": 9},
           received_us=BASE_US + 60 * HOUR_US),
    Sample("e09", "org_2", BASE_US + 7 * HOUR_US, 4, {"model": "gpt-4o", "tokens": 10, "tokens.in": 3}),
    Sample("e10", "org_1", BASE_US + 8 * HOUR_US + 500_000, 6, {}),
    Sample("e11", "org_4", BASE_US + 9 * HOUR_US, 8, {"model": "claude", "cached": False, "region": "eu"}),
    Sample("e12", "org_3", BASE_US + 10 * HOUR_US, 9, {"model": "gpt-4.1", "cached": True, "tokens": 0}),
)
START_US = BASE_US
END_US = BASE_US + 11 * HOUR_US


def event_row(m: Meter, sample: Sample) -> EventRow:
    types = {d.name: d.type for d in m.dimensions}
    metadata = {}
    for name, value in sample.metadata.items():
        text = stored_text(float(value) if isinstance(value, int) and not isinstance(value, bool) else value,
                           types[name])
        assert text is not None, (name, value)
        metadata[name] = text
    return EventRow(
        meter=m.name,
        idempotency_key=sample.key,
        subject=sample.subject,
        timestamp_us=sample.at_us,
        quantity=float(sample.quantity),
        metadata=metadata,
        retention_days=m.event_retention_days,
        client_time_us=sample.at_us,
        received_us=sample.received,
    )


@contextmanager
def stored(data_dir: Path, meters: Sequence[Meter], samples: Sequence[Sample] = SAMPLES) -> Iterator[QueryStore]:
    """A QueryStore over a fresh database holding `samples` in each of `meters`, its hourly
    rollups built: usage queries read them for whole hours, raw events for the rest."""
    with storage_at(data_dir, "queries") as client:
        migrate(client)
        EventStore(client).insert([event_row(m, s) for m in meters for s in samples])
        build_settled(RollupStore(client), meters, settle_ms=0)
        yield QueryStore(client)
