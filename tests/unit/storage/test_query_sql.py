"""The read path's SQL, pinned: each plan's exact statement and bound parameters, no database.

Table-driven, as OpenMeter tests its ClickHouse query builders: a case is a
plan and the SQL and parameters it must become. User values (subjects,
dimension names and values, times) may travel only as parameters, so every
case checks that the hostile text appears in the parameters and never in the
statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from openspanner.domain.breakdowns import plan_breakdown, plan_dimension_values
from openspanner.domain.filters import parse_filter
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.queries import Cursor, EventListing, RawFilter, plan_event_listing, plan_usage_query
from openspanner.domain.windows import WindowSize
from openspanner.storage.queries import breakdown_sql, dimension_values_sql, events_sql, usage_sql

HOSTILE = "x'); DROP TABLE usage_events; --"
METER = Meter(
    name="ai_tokens",
    aggregation=Aggregation.SUM,
    dimensions=(Dimension("model", DimensionType.STRING), Dimension("tokens", DimensionType.NUMBER)),
)
RATE = Meter(name="rate_meter", aggregation=Aggregation.RATE)
# Built directly, unchecked: even a dimension name no meter may declare reaches SQL only as a parameter.
UNIQUE = Meter(
    name="active_users",
    aggregation=Aggregation.UNIQUE_COUNT,
    dimensions=(Dimension(HOSTILE, DimensionType.STRING), Dimension("plan", DimensionType.STRING)),
    unique_dimension=HOSTILE,
)
UNIQUE_VALUE = (
    "toFloat64(uniqExactIf(metadata[{unique_dimension:String}], mapContains(metadata, {unique_dimension:String})))"
)
START_US = 1_767_225_600_000_000
END_US = START_US + 86_400_000_000
WHERE_RANGE = (
    "meter = {meter:String}"
    " AND timestamp >= fromUnixTimestamp64Micro({start_us:Int64}, 'UTC')"
    " AND timestamp < fromUnixTimestamp64Micro({end_us:Int64}, 'UTC')"
)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], tuple[str, dict[str, Any]]]
    sql: str
    params: dict[str, Any]


def usage(meter: Meter = METER, **given: Any) -> tuple[str, dict[str, Any]]:
    plan = plan_usage_query(
        meter, start_us=START_US, end_us=END_US, window_size=given.pop("window_size", None),
        time_zone_name="", subjects=given.pop("subjects", []), filters=given.pop("filters", []),
        group_by=given.pop("group_by", []), fill=False, filter_tree=given.pop("filter_tree", None),
    )
    assert not given
    return usage_sql(plan)


def listing() -> EventListing:
    return plan_event_listing(
        METER, start_us=START_US, end_us=None, subjects=[HOSTILE], filters=[], page_size=10, page_token="",
        now_us=END_US,
    )


def tree(raw: object) -> Any:
    return parse_filter(raw, METER)


CASES = [
    Case(
        "usage total, no windows",
        lambda: usage(),
        "SELECT 0 AS k0, '' AS k1, count() AS events, sum(quantity) AS value FROM usage_events FINAL"
        f" WHERE {WHERE_RANGE} GROUP BY k0, k1 LIMIT {{limit:UInt64}}",
        {"meter": "ai_tokens", "start_us": START_US, "end_us": END_US, "limit": 100_001},
    ),
    Case(
        "rate sums per month window (divided per window afterwards)",
        lambda: usage(RATE, window_size=WindowSize.MONTH),
        "SELECT toUnixTimestamp(toDateTime(toStartOfMonth(timestamp, {tz:String}), {tz:String})) AS k0,"
        " '' AS k1, count() AS events, sum(quantity) AS value FROM usage_events FINAL"
        f" WHERE {WHERE_RANGE} GROUP BY k0, k1 LIMIT {{limit:UInt64}}",
        {"meter": "rate_meter", "start_us": START_US, "end_us": END_US, "tz": "UTC", "limit": 100_001},
    ),
    Case(
        "unique_count per day and plan: distinct values counted within each group",
        lambda: usage(UNIQUE, window_size=WindowSize.DAY, group_by=["plan"]),
        "SELECT toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS k0, '' AS k1,"
        " if(mapContains(metadata, {g0:String}), metadata[{g0:String}], NULL) AS k2,"
        f" count() AS events, {UNIQUE_VALUE} AS value FROM usage_events FINAL"
        f" WHERE {WHERE_RANGE} GROUP BY k0, k1, k2 LIMIT {{limit:UInt64}}",
        {"meter": "active_users", "start_us": START_US, "end_us": END_US, "tz": "UTC", "g0": "plan",
         "unique_dimension": HOSTILE, "limit": 100_001},
    ),
    Case(
        "breakdown of a unique_count meter by subject",
        lambda: breakdown_sql(plan_breakdown(UNIQUE, "subject", START_US, END_US, limit=5)),
        f"SELECT subject AS bd_value, {UNIQUE_VALUE} AS bd_quantity, count() AS bd_events"
        f" FROM usage_events FINAL WHERE {WHERE_RANGE}"
        " GROUP BY bd_value ORDER BY bd_quantity DESC, bd_value LIMIT {limit:UInt64}",
        {"meter": "active_users", "start_us": START_US, "end_us": END_US, "unique_dimension": HOSTILE, "limit": 5},
    ),
    Case(
        "a subject filter and a filter tree of a hostile value",
        lambda: usage(
            filters=[RawFilter("subject", (HOSTILE,))],
            filter_tree=tree({"op": "or", "rules": [
                {"field": "metadata.model", "op": "contains", "value": HOSTILE},
                {"field": "metadata.tokens", "op": "gte", "value": 9},
                {"field": "quantity", "op": "in", "value": [1, 2]},
            ]}),
        ),
        "SELECT 0 AS k0, '' AS k1, count() AS events, sum(quantity) AS value FROM usage_events FINAL"
        f" WHERE {WHERE_RANGE} AND subject IN {{f0_values:Array(String)}}"
        " AND ((mapContains(metadata, {ft0:String}) AND position(metadata[{ft0:String}], {ft1:String}) > 0)"
        " OR (mapContains(metadata, {ft2:String}) AND toFloat64OrNull(metadata[{ft2:String}]) >= {ft3:Float64})"
        " OR quantity IN {ft4:Array(Float64)})"
        " GROUP BY k0, k1 LIMIT {limit:UInt64}",
        {
            "meter": "ai_tokens", "start_us": START_US, "end_us": END_US, "f0_values": [HOSTILE],
            "ft0": "model", "ft1": HOSTILE, "ft2": "tokens", "ft3": 9.0, "ft4": [1.0, 2.0], "limit": 100_001,
        },
    ),
    Case(
        "events after a cursor, from a snapshot",
        lambda: events_sql(replace(listing(), after=Cursor(END_US - 1, HOSTILE))),
        "SELECT idempotency_key, subject, toUnixTimestamp64Micro(timestamp), quantity, metadata,"
        " toUnixTimestamp64Micro(ingested_at) FROM usage_events FINAL"
        " WHERE meter = {meter:String} AND timestamp >= fromUnixTimestamp64Micro({start_us:Int64}, 'UTC')"
        " AND subject IN {subjects:Array(String)}"
        " AND ingested_at <= fromUnixTimestamp64Micro({as_of_us:Int64}, 'UTC')"
        " AND timestamp <= fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')"
        " AND (timestamp, idempotency_key) < (fromUnixTimestamp64Micro({after_us:Int64}, 'UTC'), {after_key:String})"
        " ORDER BY timestamp DESC, idempotency_key DESC LIMIT {limit:UInt64}",
        {
            "meter": "ai_tokens", "start_us": START_US, "subjects": [HOSTILE], "as_of_us": END_US,
            "after_us": END_US - 1, "after_key": HOSTILE, "limit": 11,
        },
    ),
    Case(
        "breakdown of a number dimension, ties by numeric value",
        lambda: breakdown_sql(plan_breakdown(METER, "metadata.tokens", START_US, END_US, subjects=[HOSTILE], limit=5)),
        "SELECT metadata[{field:String}] AS bd_value, sum(quantity) AS bd_quantity, count() AS bd_events"
        f" FROM usage_events FINAL WHERE {WHERE_RANGE} AND subject IN {{subjects:Array(String)}}"
        " AND mapContains(metadata, {field:String})"
        " GROUP BY bd_value ORDER BY bd_quantity DESC, toFloat64OrNull(bd_value), bd_value LIMIT {limit:UInt64}",
        {"meter": "ai_tokens", "start_us": START_US, "end_us": END_US, "subjects": [HOSTILE], "field": "tokens",
         "limit": 5},
    ),
    Case(
        "dimension values of subject, no range",
        lambda: dimension_values_sql(plan_dimension_values(METER, "subject")),
        "SELECT subject AS dv_value, count() AS dv_events FROM usage_events FINAL WHERE meter = {meter:String}"
        " GROUP BY dv_value ORDER BY dv_events DESC, dv_value LIMIT {limit:UInt64}",
        {"meter": "ai_tokens", "limit": 100},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_becomes_this_sql(case: Case) -> None:
    sql, params = case.build()
    assert sql == case.sql
    assert params == case.params
    assert HOSTILE not in sql
