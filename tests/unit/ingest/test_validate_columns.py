"""The column-at-a-time fast path never accepts what the validator of record would refuse.

validate_columns (telemetry and queue streams) must answer either exactly the
rows validate_event returns for every event, or None, so that the message
goes through validate_event event by event. Hypothesis draws messages full of
edge cases: empty and over-long keys and subjects, non-finite quantities,
timestamps at and past both retention bounds, unset timestamps, multi-byte
dimension values around the byte limit, and meters whose dimensions do not
match what the stream fills (wrong type, extra required dimension, deleted).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.domain.events import UsageEvent
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import OpenSpannerError
from openspanner.ingest.validate import (
    MAX_FUTURE_US,
    MAX_QUANTITY,
    US_PER_DAY,
    EventColumns,
    validate_columns,
    validate_event,
)
from openspanner.storage.events import EventRow

NOW_US = 1_790_000_000_000_000
RETENTION_DAYS = 30
FILLED = ("device_id", "fleet", "region")
UNSET = 0  # how the fast path reads a timestamp the client did not send


GOOD_TEXTS = ["a", "dev-1", "ü" * 200, "x" * 256, "𝄞" * 255]
# Edge values by column: the fast path may defer on any of them, and must on those the validator refuses.
EDGES: dict[str, list[object]] = {
    "key": ["", "x" * 257, "ü" * 300],
    "subject": ["", "x" * 257],
    "quantity": [math.inf, -math.inf, math.nan, math.nextafter(MAX_QUANTITY, math.inf), -1e308],
    "time": [
        NOW_US - RETENTION_DAYS * US_PER_DAY,
        NOW_US - RETENTION_DAYS * US_PER_DAY - 1,
        NOW_US + MAX_FUTURE_US,
        NOW_US + MAX_FUTURE_US + 1,
        UNSET,
    ],
    "dimension": ["", "ü" * 300, "𝄞" * 256, "𝄞" * 257, "x" * 1025],
}


@st.composite
def meters(draw: st.DrawFn) -> Meter | None:
    """Mostly a meter that fits the stream; sometimes one change that makes it not fit."""
    dimensions = [Dimension(name, DimensionType.STRING, required=draw(st.booleans())) for name in FILLED]
    change = draw(st.sampled_from(["none", "none", "none", "deleted", "retyped", "required extra", "extra"]))
    if change == "deleted":
        return None
    if change == "retyped":
        index = draw(st.integers(0, len(FILLED) - 1))
        new_type = draw(st.sampled_from([DimensionType.NUMBER, DimensionType.BOOLEAN]))
        dimensions[index] = Dimension(FILLED[index], new_type)
    if change in ("required extra", "extra"):
        dimensions.append(Dimension("tier", DimensionType.STRING, required=change == "required extra"))
    return Meter("readings", Aggregation.SUM, event_retention_days=RETENTION_DAYS, dimensions=tuple(dimensions))


@st.composite
def messages(draw: st.DrawFn) -> EventColumns:
    """A clean message of up to 6 events with up to two edge values put in."""
    count = draw(st.integers(0, 6))
    good = st.lists(st.sampled_from(GOOD_TEXTS), min_size=count, max_size=count)
    keys, subjects = draw(good), draw(good)
    amounts = draw(st.lists(st.sampled_from([0.0, 1.5, -2.0, MAX_QUANTITY, -MAX_QUANTITY]), min_size=count,
                            max_size=count))
    in_retention = st.integers(NOW_US - RETENTION_DAYS * US_PER_DAY + 1, NOW_US)
    stamps = draw(st.lists(in_retention, min_size=count, max_size=count))
    dimensions = {name: draw(good) for name in FILLED}
    columns: dict[str, list[Any]] = {"key": keys, "subject": subjects, "quantity": amounts, "time": stamps}
    for _ in range(draw(st.sampled_from([0, 1, 1, 2])) if count else 0):
        column = draw(st.sampled_from([*columns, *FILLED]))
        values: list[Any] = columns[column] if column in columns else dimensions[column]
        values[draw(st.integers(0, count - 1))] = draw(st.sampled_from(EDGES.get(column, EDGES["dimension"])))
    return message(keys, subjects, amounts, stamps, dimensions)


def message(
    keys: list[str], subjects: list[str], amounts: list[float], stamps: list[int], dimensions: dict[str, list[str]]
) -> EventColumns:
    """A message in columns whose per-event reading sees the same values, as an adapter's does."""

    def decode_each() -> list[UsageEvent]:
        return [
            UsageEvent(
                idempotency_key=keys[i],
                subject=subjects[i],
                meter="readings",
                quantity=amounts[i],
                timestamp_us=None if stamps[i] == UNSET else stamps[i],
                metadata={name: values[i] for name, values in dimensions.items()},
            )
            for i in range(len(keys))
        ]

    return EventColumns("readings", keys, subjects, amounts, stamps, dimensions, decode_each)


def assert_fast_path_agrees(columns: EventColumns, meter: Meter | None) -> None:
    """The fast path defers, or answers exactly what validate_event answers for every event."""
    fast = validate_columns(columns, meter, NOW_US)
    if fast is not None:
        assert fast == rows_of_record(columns, meter)


def rows_of_record(columns: EventColumns, meter: Meter | None) -> list[EventRow] | None:
    """validate_event's rows for every event, or None if it refuses any."""
    rows = []
    for event in columns.decode_each():
        assert isinstance(event, UsageEvent)
        try:
            rows.append(validate_event(event, meter, NOW_US))
        except OpenSpannerError:
            return None
    return rows


@settings(max_examples=1500, deadline=None)
@given(columns=messages(), meter=meters())
def test_fast_path_answers_what_the_validator_answers_or_defers(columns: EventColumns, meter: Meter | None) -> None:
    assert_fast_path_agrees(columns, meter)


@pytest.mark.parametrize(
    ("column", "edge"), [(column, edge) for column, edges in EDGES.items() for edge in edges]
)
def test_each_edge_value_alone(column: str, edge: object) -> None:
    """Every edge value in the middle of an otherwise clean message, against a meter that fits."""
    meter = fitting_meter()
    keys, subjects, amounts, stamps = ["k1", "k2", "k3"], ["s", "s", "s"], [1.0, 1.0, 1.0], [NOW_US - 5] * 3
    dimensions = {name: ["v", "v", "v"] for name in FILLED}
    target: list[Any] = {"key": keys, "subject": subjects, "quantity": amounts, "time": stamps}.get(
        column, dimensions["fleet"]
    )
    target[1] = edge
    assert_fast_path_agrees(message(keys, subjects, amounts, stamps, dimensions), meter)


def fitting_meter() -> Meter:
    return Meter(
        "readings",
        Aggregation.SUM,
        event_retention_days=RETENTION_DAYS,
        dimensions=tuple(Dimension(name, DimensionType.STRING, required=True) for name in FILLED),
    )


def test_a_clean_message_takes_the_fast_path() -> None:
    """Without this, a fast path that always deferred would pass the tests above."""
    meter = fitting_meter()
    columns = message(
        ["k1", "k2"],
        ["org", "org"],
        [1.0, 2.5],
        [NOW_US - 1, NOW_US - 2],
        {"device_id": ["d1", "d2"], "fleet": ["f", "f"], "region": ["eu", "üs"]},
    )
    rows = validate_columns(columns, meter, NOW_US)
    assert rows is not None and [row.identity for row in rows] == [(NOW_US - 1, "k1"), (NOW_US - 2, "k2")]
    assert rows[1].metadata == {"device_id": "d2", "fleet": "f", "region": "üs"}
