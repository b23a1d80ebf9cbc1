"""The query builders' exact SQL and parameters (no database): user values travel only as parameters."""

from __future__ import annotations

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.queries import RawFilter, plan_event_listing, plan_usage_query
from openspanner.domain.windows import WindowSize
from openspanner.storage.queries import events_sql, usage_sql

METER = Meter(
    name="ai_tokens",
    aggregation=Aggregation.LAST,
    dimensions=(Dimension("model", DimensionType.STRING), Dimension("cached", DimensionType.BOOLEAN)),
)
HOSTILE = "x'); DROP TABLE usage_events; --"


def test_usage_sql_is_pinned() -> None:
    query = plan_usage_query(
        METER,
        start_us=1_767_225_600_000_000,
        end_us=1_767_312_000_000_000,
        window_size=WindowSize.DAY,
        time_zone_name="Europe/Berlin",
        subjects=[HOSTILE],
        filters=[RawFilter("model", (HOSTILE, None)), RawFilter("cached", (True,))],
        group_by=["subject", "model"],
        fill=False,
    )
    sql, params = usage_sql(query)
    assert sql == (
        "SELECT toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS k0, subject AS k1,"
        " if(mapContains(metadata, {g0:String}), metadata[{g0:String}], NULL) AS k2,"
        " count() AS events, argMax(quantity, (timestamp, idempotency_key)) AS value"
        " FROM usage_events FINAL"
        " WHERE meter = {meter:String}"
        " AND timestamp >= fromUnixTimestamp64Micro({start_us:Int64}, 'UTC')"
        " AND timestamp < fromUnixTimestamp64Micro({end_us:Int64}, 'UTC')"
        " AND subject IN {subjects:Array(String)}"
        " AND ((mapContains(metadata, {f0:String}) AND metadata[{f0:String}] IN {f0_values:Array(String)})"
        " OR NOT mapContains(metadata, {f0:String}))"
        " AND (mapContains(metadata, {f1:String}) AND metadata[{f1:String}] IN {f1_values:Array(String)})"
        " GROUP BY k0, k1, k2 LIMIT {limit:UInt64}"
    )
    assert params == {
        "meter": "ai_tokens",
        "start_us": 1_767_225_600_000_000,
        "end_us": 1_767_312_000_000_000,
        "subjects": [HOSTILE],
        "f0": "model",
        "f0_values": [HOSTILE],
        "f1": "cached",
        "f1_values": ["true"],
        "tz": "Europe/Berlin",
        "g0": "model",
        "limit": 100_001,
    }


def test_events_sql_is_pinned() -> None:
    first = plan_event_listing(
        METER, start_us=None, end_us=None, subjects=[], filters=[], page_size=0, page_token="", now_us=5_000_000
    )
    sql, params = events_sql(first)
    assert sql == (
        "SELECT idempotency_key, subject, toUnixTimestamp64Micro(timestamp), quantity, metadata,"
        " toUnixTimestamp64Micro(ingested_at) FROM usage_events FINAL"
        " WHERE meter = {meter:String} AND ingested_at <= fromUnixTimestamp64Micro({as_of_us:Int64}, 'UTC')"
        " ORDER BY timestamp DESC, idempotency_key DESC LIMIT {limit:UInt64}"
    )
    assert params == {"meter": "ai_tokens", "as_of_us": 5_000_000, "limit": 101}
