"""Which part of a usage query the rollups may answer (pure planning, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from openspanner.domain.filters import parse_filter
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.queries import RawFilter, UsageQuery, plan_usage_query
from openspanner.domain.rollups import (
    HOUR_US,
    ROLLUP_AGGREGATIONS,
    Build,
    RollupLevel,
    RollupPlan,
    plan_rollup,
    raw_ranges,
)
from openspanner.domain.windows import WindowSize

US = 1_000_000
DAY_US = 24 * HOUR_US
# 2026-06-01T00:00:00Z, and "now" 40 days later.
JUNE_US = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp()) * US
NOW_US = JUNE_US + 40 * DAY_US
METER = Meter("m", Aggregation.SUM, event_retention_days=365, dimensions=(Dimension("model", DimensionType.STRING),))


def query(start_us: int = JUNE_US, end_us: int = JUNE_US + 30 * DAY_US, window: WindowSize | None = WindowSize.DAY,
          zone: str = "UTC", meter: Meter = METER, **fields: object) -> UsageQuery:
    tree = fields.pop("tree", None)
    return plan_usage_query(
        meter, start_us=start_us, end_us=end_us, window_size=window, time_zone_name=zone,
        subjects=fields.pop("subjects", ()), filters=fields.pop("filters", ()),  # type: ignore[arg-type]
        group_by=fields.pop("group_by", ()), fill=False,  # type: ignore[arg-type]
        filter_tree=parse_filter(tree, meter) if tree is not None else None,
    )


def test_whole_hours_of_a_month_in_a_whole_hour_zone_read_the_smallest_rollup_that_holds_the_query() -> None:
    assert plan_rollup(query(zone="Europe/Berlin"), NOW_US) == RollupPlan(
        RollupLevel.TOTALS, JUNE_US, JUNE_US + 30 * DAY_US
    )
    assert plan_rollup(query(subjects=("org_1",)), NOW_US).level is RollupLevel.SUBJECTS  # type: ignore[union-attr]
    assert plan_rollup(query(group_by=("subject",)), NOW_US).level is RollupLevel.SUBJECTS  # type: ignore[union-attr]
    assert plan_rollup(query(group_by=("model",)), NOW_US).level is RollupLevel.DIMENSIONS  # type: ignore[union-attr]
    by_tree = query(tree={"field": "metadata.model", "op": "eq", "value": "gpt"})
    assert plan_rollup(by_tree, NOW_US).level is RollupLevel.DIMENSIONS  # type: ignore[union-attr]


def test_ragged_ends_are_left_to_raw_events() -> None:
    q = query(JUNE_US + 30 * 60 * US, JUNE_US + 5 * HOUR_US + 1, window=None)
    assert plan_rollup(q, NOW_US) == RollupPlan(RollupLevel.TOTALS, JUNE_US + HOUR_US, JUNE_US + 5 * HOUR_US)
    builds = [Build(JUNE_US + h * HOUR_US, 1) for h in (1, 2, 4)]
    assert raw_ranges(q, builds) == [
        (JUNE_US + 30 * 60 * US, JUNE_US + HOUR_US),
        (JUNE_US + 3 * HOUR_US, JUNE_US + 4 * HOUR_US),
        (JUNE_US + 5 * HOUR_US, JUNE_US + 5 * HOUR_US + 1),
    ]


def test_raw_events_only_where_an_hour_would_straddle_two_windows_or_a_rollup_lacks_a_field() -> None:
    for zone in ("Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"):
        assert plan_rollup(query(zone=zone), NOW_US) is None, zone
    assert plan_rollup(query(window=WindowSize.MINUTE, end_us=JUNE_US + DAY_US), NOW_US) is None
    assert plan_rollup(query(group_by=("subject", "model")), NOW_US) is None
    assert plan_rollup(query(subjects=("a",), filters=(RawFilter("model", ("gpt",)),)), NOW_US) is None
    for field, value in (("quantity", 1), ("idempotency_key", "k"), ("timestamp", "2026-06-02T00:00:00Z")):
        assert plan_rollup(query(tree={"field": field, "op": "eq", "value": value}), NOW_US) is None, field


def test_whole_range_in_an_off_hour_zone_with_no_boundary_inside_may_still_read_rollups() -> None:
    """One window covering the whole range: no boundary inside it, whatever the zone."""
    assert plan_rollup(query(window=None, zone="Asia/Kolkata"), NOW_US) is not None


def test_hours_past_the_retention_and_unended_hours_are_left_to_raw_events() -> None:
    short = Meter("m", Aggregation.SUM, event_retention_days=30)
    plan = plan_rollup(query(meter=short, end_us=NOW_US + HOUR_US // 2), NOW_US)
    assert plan is not None
    assert plan.first_hour_us == NOW_US - 30 * DAY_US + HOUR_US
    assert plan.end_hour_us == NOW_US // HOUR_US * HOUR_US


def test_only_aggregations_that_hours_combine_into_read_rollups() -> None:
    """A distinct count, for one, is never added up from hours: raw events answer it."""
    assert {Aggregation.FIRST, Aggregation.LAST, Aggregation.RATE, Aggregation.AVG} <= ROLLUP_AGGREGATIONS
    for aggregation in Aggregation:
        meter = Meter("m", aggregation, event_retention_days=365, dimensions=METER.dimensions)
        planned = plan_rollup(query(meter=meter), NOW_US) is not None
        assert planned == (aggregation in ROLLUP_AGGREGATIONS), aggregation
