"""Usage answered from the hourly rollups agrees with raw events, in every case that changes events.

A real embedded engine in the test's own directory: events are written as
ingest writes them (EventStore.insert), rollups are built as the server's
builder builds them (build_settled), and each answer read over rollups and
raw events together is compared with the same query over raw events only
(the path the reference-based query tests check against plain Python).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from openspanner.domain.filters import parse_filter
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.queries import RawFilter, UsageQuery, plan_usage_query
from openspanner.domain.rollups import ROLLUP_AGGREGATIONS
from openspanner.domain.windows import WindowSize
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.queries import QueryStore
from openspanner.storage.rollups import RollupStore, build_settled
from openspanner.storage.schema import migrate
from tests.harness import storage_at

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
NOW_US = time.time_ns() // 1000
# Four days of history ending two hours ago, on whole hours.
BASE_US = (NOW_US // HOUR_US - 98) * HOUR_US
SPAN_US = 96 * HOUR_US
DIMENSIONS = (Dimension("model", DimensionType.STRING), Dimension("cached", DimensionType.BOOLEAN))
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe")


def make_meter(name: str, aggregation: Aggregation, retention_days: int = 3650, **fields: Any) -> Meter:
    return Meter(
        name, aggregation, unit="token", event_retention_days=retention_days,
        dimensions=fields.pop("dimensions", DIMENSIONS), create_time=datetime.now(UTC), **fields,
    )


def random_rows(meter: Meter, rng: random.Random, count: int, prefix: str = "e") -> list[EventRow]:
    rows = []
    for i in range(count):
        at = BASE_US + rng.randrange(SPAN_US // 1000) * 1000
        if i % 17 == 0:  # equal timestamps: first and last break ties by key
            at = BASE_US + 5 * HOUR_US
        metadata = {}
        if rng.random() < 0.8:
            metadata["model"] = rng.choice(["gpt", "claude", ""])
        if rng.random() < 0.5:
            metadata["cached"] = rng.choice(["true", "false"])
        rows.append(row(meter, f"{prefix}{i}", f"org_{rng.randrange(4)}", at, rng.choice([1, 2.5, 10, -3, 0.25]),
                        metadata))
    return rows


def row(meter: Meter, key: str, subject: str, at_us: int, quantity: float, metadata: dict[str, str]) -> EventRow:
    return EventRow(
        meter=meter.name, idempotency_key=key, subject=subject, timestamp_us=at_us, quantity=float(quantity),
        metadata=metadata, retention_days=meter.event_retention_days, client_time_us=at_us, received_us=NOW_US,
    )


@pytest.fixture
def client(tmp_path: Any) -> Iterator[Any]:
    with storage_at(tmp_path, "rollups") as c:
        migrate(c)
        yield c


def query(meter: Meter, start_us: int, end_us: int, window: WindowSize | None = None, zone: str = "UTC",
          group_by: tuple[str, ...] = (), subjects: tuple[str, ...] = (), filters: tuple[RawFilter, ...] = (),
          tree: Any = None) -> UsageQuery:
    return plan_usage_query(
        meter, start_us=start_us, end_us=end_us, window_size=window, time_zone_name=zone, subjects=subjects,
        filters=filters, group_by=group_by, fill=False,
        filter_tree=parse_filter(tree, meter) if tree is not None else None,
    )


def answer(store: QueryStore, q: UsageQuery) -> dict[tuple[Any, ...], tuple[int, float | None]]:
    return {(g.bucket, g.subject, g.dimensions): (g.count, g.value) for g in store.usage(q)}


def assert_same(client: Any, q: UsageQuery) -> bool:
    """Assert the answer over rollups equals the one over raw events; True if rollups were read."""
    with_rollups, raw_only = QueryStore(client), QueryStore(client, rollups=False)
    actual, expected = answer(with_rollups, q), answer(raw_only, q)
    assert actual.keys() == expected.keys(), q
    for key, (count, value) in expected.items():
        assert actual[key][0] == count, (q, key)
        other = actual[key][1]
        assert (value is None and other is None) or (
            value is not None and other is not None and math.isclose(other, value, rel_tol=1e-9, abs_tol=1e-9)
        ), (q, key, other, value)
    return "usage_rollup" in with_rollups.usage_plan(q)[0]


def random_query(meter: Meter, rng: random.Random) -> UsageQuery:
    aligned = rng.random() < 0.6
    start = BASE_US + rng.randrange(0, 40) * HOUR_US
    end = start + rng.randrange(1, 60) * HOUR_US
    if not aligned:
        start += rng.randrange(HOUR_US)
        end += rng.randrange(HOUR_US)
    window = rng.choice([None, WindowSize.MINUTE, WindowSize.HOUR, WindowSize.HOUR, WindowSize.DAY, WindowSize.MONTH])
    if window is WindowSize.MINUTE:
        end = min(end, start + 6 * HOUR_US)
    shape = rng.randrange(5)
    group_by: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    filters: tuple[RawFilter, ...] = ()
    tree: Any = None
    if shape == 1:
        group_by = tuple(rng.sample(["model", "cached"], rng.randrange(1, 3)))
    elif shape == 2:
        group_by, subjects = ("subject",), tuple(rng.sample(["org_0", "org_1", "org_2"], 2))
    elif shape == 3:
        filters = (RawFilter("model", (rng.choice(["gpt", "claude"]), None)),)
        tree = {"op": "or", "rules": [{"field": "metadata.cached", "op": "eq", "value": True},
                                      {"field": "metadata.model", "op": "neq", "value": "gpt"}]}
    elif shape == 4:
        tree = {"field": "quantity", "op": "gt", "value": 1}
    return query(meter, start, end, window, rng.choice(ZONES), group_by, subjects, filters, tree)


@pytest.mark.parametrize("aggregation", sorted(ROLLUP_AGGREGATIONS))
def test_random_queries_agree_with_raw_events(client: Any, aggregation: Aggregation) -> None:
    rng = random.Random(f"rollups-{aggregation}")
    meter = make_meter(f"m_{aggregation}", aggregation)
    EventStore(client).insert(random_rows(meter, rng, 600))
    assert build_settled(RollupStore(client), [meter], settle_ms=0) > 0
    read_rollups = [assert_same(client, random_query(meter, rng)) for _ in range(40)]
    assert sum(read_rollups) >= 10  # the rollups answered a good part of them


def test_zones_off_whole_hours_and_minute_windows_read_raw_events(client: Any) -> None:
    meter = make_meter("m_zones", Aggregation.SUM)
    EventStore(client).insert(random_rows(meter, random.Random(1), 200))
    build_settled(RollupStore(client), [meter], settle_ms=0)
    day_start = (BASE_US // DAY_US + 1) * DAY_US
    for zone in ("Asia/Kolkata", "Asia/Kathmandu"):
        assert not assert_same(client, query(meter, day_start - 5 * HOUR_US, day_start + 2 * DAY_US, WindowSize.DAY,
                                             zone))
    assert not assert_same(client, query(meter, day_start, day_start + 3 * HOUR_US, WindowSize.MINUTE))
    assert assert_same(client, query(meter, day_start - 2 * HOUR_US, day_start + 2 * DAY_US, WindowSize.DAY,
                                     "Europe/Berlin"))


def totals(client: Any, meter: Meter, start_us: int = BASE_US, end_us: int = BASE_US + SPAN_US) -> tuple[int, float]:
    """(events, sum) of the meter over the range, read over rollups where they answer; checked against raw."""
    q = query(meter, start_us, end_us)
    assert_same(client, q)
    rows = QueryStore(client).usage(q)
    return (rows[0].count, rows[0].value or 0.0) if rows else (0, 0.0)


def test_a_late_event_into_a_built_hour_counts_at_once_and_after_the_next_build(client: Any) -> None:
    meter = make_meter("m_late", Aggregation.SUM)
    events, rollups = EventStore(client), RollupStore(client)
    events.insert([row(meter, "a", "org", BASE_US + 10 * HOUR_US, 5, {})])
    build_settled(rollups, [meter], settle_ms=0)
    q = query(meter, BASE_US, BASE_US + SPAN_US)
    assert "usage_rollup" in QueryStore(client).usage_plan(q)[0]
    assert totals(client, meter) == (1, 5.0)
    events.insert([row(meter, "b", "org", BASE_US + 10 * HOUR_US + 60 * US, 7, {})])
    assert totals(client, meter) == (2, 12.0)  # the hour is read from raw events until built again
    build_settled(rollups, [meter], settle_ms=0)
    assert "usage_rollup" in QueryStore(client).usage_plan(q)[0]
    assert totals(client, meter) == (2, 12.0)


def test_two_writers_racing_on_one_key_count_once_in_the_rollups(client: Any) -> None:
    """Two servers that both missed the other's copy store it twice; FINAL collapses the copies in every
    build, whether they arrived before the hour was built or after."""
    meter = make_meter("m_race", Aggregation.SUM)
    events, rollups = EventStore(client), RollupStore(client)
    copy = row(meter, "same", "org", BASE_US + 3 * HOUR_US, 4, {"model": "gpt"})
    events.insert([copy])
    events.insert([copy])
    build_settled(rollups, [meter], settle_ms=0)
    assert totals(client, meter) == (1, 4.0)
    late = row(meter, "later", "org", BASE_US + 7 * HOUR_US, 1, {})
    events.insert([late])
    events.insert([late])
    build_settled(rollups, [meter], settle_ms=0)
    assert totals(client, meter) == (2, 5.0)
    assert "usage_rollup" in QueryStore(client).usage_plan(query(meter, BASE_US, BASE_US + SPAN_US))[0]
    grouped = query(meter, BASE_US, BASE_US + SPAN_US, WindowSize.HOUR, group_by=("model",))
    assert assert_same(client, grouped)


def test_hours_past_the_retention_are_read_from_raw_events_as_ttl_drops_them(client: Any) -> None:
    meter = make_meter("m_ttl", Aggregation.COUNT, retention_days=3)
    events, rollups = EventStore(client), RollupStore(client)
    old, recent = NOW_US - 2 * DAY_US, NOW_US - DAY_US // 2
    events.insert([row(meter, "old", "org", old, 1, {}), row(meter, "recent", "org", recent, 1, {})])
    build_settled(rollups, [meter], settle_ms=0)
    assert "usage_rollup" in QueryStore(client).usage_plan(query(meter, old - HOUR_US, NOW_US))[0]
    assert totals(client, meter, old - HOUR_US, NOW_US) == (2, 2.0)
    shorter = replace(meter, event_retention_days=1)
    events.set_retention(meter.name, 1)
    client.command("OPTIMIZE TABLE usage_events FINAL")  # applies the TTL: the old event expires
    assert totals(client, shorter, old - HOUR_US, NOW_US) == (1, 1.0)
    assert totals(client, shorter, recent - HOUR_US, NOW_US) == (1, 1.0)


def test_a_longer_retention_sends_built_hours_back_to_raw_events_until_rebuilt(client: Any) -> None:
    meter = make_meter("m_longer", Aggregation.SUM, retention_days=2)
    events, rollups = EventStore(client), RollupStore(client)
    at = NOW_US - 3 * DAY_US + 3 * HOUR_US
    events.insert([row(meter, "k", "org", at, 3, {})])
    build_settled(rollups, [meter], settle_ms=0)
    client.command("OPTIMIZE TABLE usage_events FINAL")  # TTL drops the event past 2 days
    longer = replace(meter, event_retention_days=10)
    rollups.mark_hours_before(meter.name, NOW_US - 2 * DAY_US + 2 * HOUR_US)
    assert totals(client, longer, at - HOUR_US, NOW_US) == (0, 0.0)
    build_settled(rollups, [longer], settle_ms=0)
    assert totals(client, longer, at - HOUR_US, NOW_US) == (0, 0.0)


def test_a_meter_deleted_and_created_again_reads_only_its_new_events(client: Any) -> None:
    meter = make_meter("m_deleted", Aggregation.SUM)
    events, rollups = EventStore(client), RollupStore(client)
    events.insert([row(meter, "a", "org", BASE_US + HOUR_US, 5, {"model": "gpt"})])
    build_settled(rollups, [meter], settle_ms=0)
    rollups.delete_meter(meter.name)
    events.delete_meter_events(meter.name)
    time.sleep(0.01)
    again = make_meter("m_deleted", Aggregation.SUM)
    events.insert([row(again, "b", "org", BASE_US + HOUR_US, 2, {"model": "claude"})])
    assert totals(client, again) == (1, 2.0)
    build_settled(rollups, [again], settle_ms=0)
    assert totals(client, again) == (1, 2.0)
    by_model = query(again, BASE_US, BASE_US + SPAN_US, WindowSize.DAY, group_by=("model",))
    assert assert_same(client, by_model)
    assert [g.dimensions for g in QueryStore(client).usage(by_model)] == [("claude",)]


def test_a_meter_deleted_while_its_rollups_stay_reads_none_of_them(client: Any) -> None:
    """Even rollup rows a deletion left behind (a build racing with it) are never read for the new meter."""
    meter = make_meter("m_leftover", Aggregation.SUM)
    events, rollups = EventStore(client), RollupStore(client)
    events.insert([row(meter, "a", "org", BASE_US + HOUR_US, 5, {})])
    build_settled(rollups, [meter], settle_ms=0)
    events.delete_meter_events(meter.name)
    time.sleep(0.01)
    again = make_meter("m_leftover", Aggregation.SUM)
    assert totals(client, again) == (0, 0.0)
    events.insert([row(again, "b", "org", BASE_US + 2 * HOUR_US, 2, {})])
    build_settled(rollups, [again], settle_ms=0)
    assert totals(client, again) == (1, 2.0)


def test_a_dimension_declared_after_events_exist_groups_alike(client: Any) -> None:
    meter = make_meter("m_added", Aggregation.MAX, dimensions=(Dimension("model", DimensionType.STRING),))
    EventStore(client).insert([
        row(meter, "a", "org", BASE_US + HOUR_US, 5, {"model": "gpt", "region": "eu"}),
        row(meter, "b", "org", BASE_US + 2 * HOUR_US, 9, {"model": "gpt"}),
        row(meter, "c", "org", BASE_US + 2 * HOUR_US, 2, {"region": "us"}),
    ])
    build_settled(RollupStore(client), [meter], settle_ms=0)
    added = replace(meter, dimensions=(*meter.dimensions, Dimension("region", DimensionType.STRING)))
    q = query(added, BASE_US, BASE_US + SPAN_US, WindowSize.DAY, group_by=("region",))
    assert assert_same(client, q)
    assert {g.dimensions: g.value for g in QueryStore(client).usage(q)} == {(None,): 9.0, ("eu",): 5.0, ("us",): 2.0}


def test_builds_before_the_meter_existed_or_of_unended_hours_are_not_made(client: Any) -> None:
    meter = make_meter("m_now", Aggregation.SUM)
    events, rollups = EventStore(client), RollupStore(client)
    this_hour = NOW_US // HOUR_US * HOUR_US
    events.insert([row(meter, "now", "org", this_hour + 1, 1, {}), row(meter, "past", "org", BASE_US, 1, {})])
    build_settled(rollups, [meter], settle_ms=0)
    assert totals(client, meter, BASE_US, NOW_US + HOUR_US) == (2, 2.0)
    late_meter = replace(meter, create_time=datetime.fromtimestamp(NOW_US / US + 3600, UTC))
    assert "usage_rollup" not in QueryStore(client).usage_plan(query(late_meter, BASE_US, this_hour))[0]
