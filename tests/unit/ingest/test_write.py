"""The writer's duplicate classification on the embedded engine, in this process.

An event is its meter and idempotency key: a key already stored for the meter,
whatever its timestamp, or seen earlier in the same block is a DUPLICATE and
is not stored again; `classify` answers the same without storing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openspanner.ingest.write import EventWriter, WriteOutcome
from openspanner.storage.events import NO_CLIENT_TIME, EventRow, EventStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at
from tests.support.times import HOUR_US, start_of_this_hour_us

ACCEPTED, DUPLICATE = WriteOutcome.ACCEPTED, WriteOutcome.DUPLICATE


@pytest.fixture(params=[True, False], ids=["sole-writer", "shared-storage"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, EventWriter]]:
    """The engine, and a writer as a server would make it: the sole writer (its key filter rules
    keys out) or one of several servers sharing ClickHouse (every key looked up)."""
    with storage_at(tmp_path, "writes") as client:
        migrate(client)
        yield client, EventWriter(EventStore(client, sole_writer=request.param))


def row(key: str, quantity: float = 1.0, meter: str = "m", at_us: int | None = None) -> EventRow:
    at = start_of_this_hour_us() if at_us is None else at_us
    return EventRow(meter, key, "org_1", at, quantity, {}, 30, at, at)


def stored(client: Any) -> list[tuple[str, str, float]]:
    return [
        (meter, key, quantity)
        for meter, key, quantity in client.query(
            "SELECT meter, idempotency_key, quantity FROM usage_events FINAL ORDER BY meter, idempotency_key"
        ).result_rows
    ]


def test_new_events_are_accepted_and_stored(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    written = writer.write([row("a", 1), row("b", 2)], "batch-1")
    assert written.outcomes == [ACCEPTED, ACCEPTED]
    assert written.lookup_seconds >= 0 and written.insert_seconds > 0
    assert stored(client) == [("m", "a", 1.0), ("m", "b", 2.0)]


def test_a_key_twice_in_one_block_is_stored_once_the_first_copy_wins(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    assert writer.write([row("a", 1), row("b", 2), row("a", 3)], "batch-1").outcomes == [ACCEPTED, ACCEPTED, DUPLICATE]
    assert stored(client) == [("m", "a", 1.0), ("m", "b", 2.0)]


def test_a_key_already_stored_is_a_duplicate_and_not_stored_again(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    writer.write([row("a", 1)], "batch-1")
    assert writer.write([row("a", 5), row("c", 2)], "batch-2").outcomes == [DUPLICATE, ACCEPTED]
    assert stored(client) == [("m", "a", 1.0), ("m", "c", 2.0)]


def test_a_key_stored_with_another_timestamp_or_none_is_still_a_duplicate(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    hour = start_of_this_hour_us()
    writer.write([row("a", 1, at_us=hour - 5 * HOUR_US), row("b", 1)], "batch-1")
    timeless = EventRow("m", "b", "org_1", hour, 7.0, {}, 30, NO_CLIENT_TIME, hour)
    assert writer.write([row("a", 9, at_us=hour), timeless], "batch-2").outcomes == [DUPLICATE, DUPLICATE]
    assert stored(client) == [("m", "a", 1.0), ("m", "b", 1.0)]


def test_the_same_key_of_another_meter_is_another_event(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    writer.write([row("a", 1, meter="m")], "batch-1")
    assert writer.write([row("a", 2, meter="other"), row("a", 3, meter="m")], "batch-2").outcomes == [
        ACCEPTED, DUPLICATE
    ]
    assert stored(client) == [("m", "a", 1.0), ("other", "a", 2.0)]


def test_classify_answers_what_write_would_and_stores_nothing(storage: tuple[Any, EventWriter]) -> None:
    client, writer = storage
    writer.write([row("a", 1)], "batch-1")
    block = [row("a", 2), row("new", 3), row("new", 4)]
    assert writer.classify(block) == [DUPLICATE, ACCEPTED, DUPLICATE]
    assert stored(client) == [("m", "a", 1.0)]
    assert writer.classify(block) == writer.write(block, "batch-2").outcomes
    assert stored(client) == [("m", "a", 1.0), ("m", "new", 3.0)]
