"""The one module that builds queries over usage events.

Builders are pure functions returning `(sql, parameters)`; values reach
ClickHouse only as typed query parameters (`{name:Type}`), never as text
formatted into the SQL, whatever the client sent. Every read uses FINAL, so
copies of one event that ReplacingMergeTree has not merged yet are counted
once (docs/storage.md, "Exactly once").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.domain.meters import Aggregation
from openspanner.domain.queries import (
    MAX_ROWS,
    EventListing,
    Filter,
    GroupAggregate,
    UsageQuery,
    too_many_rows,
)
from openspanner.domain.windows import WindowSize
from openspanner.storage.schema import EVENTS_TABLE

Parameters = dict[str, Any]

# FINAL merges the rows of all parts it reads; by default across partitions
# too, which also defeats partition pruning: 2 s instead of 20 ms for a day of
# 10 million events. Copies of an event share meter, subject, hour and key,
# and an hour lies in one month (partitions are UTC months), so they always
# share a partition and merging inside each partition is exact.
READ_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}

# Events are ordered by (timestamp, idempotency_key): `first` is the
# quantity of the first event in that order, `last` of the last one.
AGGREGATE_SQL = {
    Aggregation.SUM: "sum(quantity)",
    Aggregation.COUNT: "toFloat64(count())",
    Aggregation.AVG: "avg(quantity)",
    Aggregation.MIN: "min(quantity)",
    Aggregation.MAX: "max(quantity)",
    Aggregation.FIRST: "argMin(quantity, (timestamp, idempotency_key))",
    Aggregation.LAST: "argMax(quantity, (timestamp, idempotency_key))",
    # Divided by each window's length in seconds afterwards (domain/queries.py).
    Aggregation.RATE: "sum(quantity)",
}

# Start of the window holding `timestamp`, in epoch seconds, aligned in the
# query's time zone; the same rule as domain/windows.py `truncate`.
WINDOW_SQL = {
    WindowSize.MINUTE: "toUnixTimestamp(toStartOfMinute(timestamp, {tz:String}))",
    WindowSize.HOUR: "toUnixTimestamp(toStartOfHour(timestamp, {tz:String}))",
    WindowSize.DAY: "toUnixTimestamp(toStartOfDay(timestamp, {tz:String}))",
    WindowSize.MONTH: "toUnixTimestamp(toDateTime(toStartOfMonth(timestamp, {tz:String}), {tz:String}))",
}


def _conditions(
    meter: str, start_us: int | None, end_us: int | None, subjects: tuple[str, ...], filters: tuple[Filter, ...]
) -> tuple[list[str], Parameters]:
    where = ["meter = {meter:String}"]
    params: Parameters = {"meter": meter}
    if start_us is not None:
        where.append("timestamp >= fromUnixTimestamp64Micro({start_us:Int64}, 'UTC')")
        params["start_us"] = start_us
    if end_us is not None:
        where.append("timestamp < fromUnixTimestamp64Micro({end_us:Int64}, 'UTC')")
        params["end_us"] = end_us
    if subjects:
        where.append("subject IN {subjects:Array(String)}")
        params["subjects"] = list(subjects)
    for i, f in enumerate(filters):
        if f.dimension == "subject":
            where.append(f"subject IN {{f{i}_values:Array(String)}}")
        else:
            present = f"mapContains(metadata, {{f{i}:String}})"
            match = f"({present} AND metadata[{{f{i}:String}}] IN {{f{i}_values:Array(String)}})"
            where.append(f"({match} OR NOT {present})" if f.match_absent else match)
            params[f"f{i}"] = f.dimension
        params[f"f{i}_values"] = list(f.values)
    return where, params


def usage_sql(query: UsageQuery) -> tuple[str, Parameters]:
    """One row per (window, subject, dimension values) with its event count and aggregate."""
    where, params = _conditions(
        query.meter.name, query.start_us, query.end_us, query.subjects, query.filters
    )
    columns = [WINDOW_SQL[query.window_size] if query.window_size else "0"]
    if query.window_size:
        params["tz"] = query.time_zone
    columns.append("subject" if query.by_subject else "''")
    for i, name in enumerate(query.dimensions):
        params[f"g{i}"] = name
        columns.append(f"if(mapContains(metadata, {{g{i}:String}}), metadata[{{g{i}:String}}], NULL)")
    keys = [f"k{i}" for i in range(len(columns))]
    params["limit"] = MAX_ROWS + 1
    sql = (
        f"SELECT {', '.join(f'{c} AS {k}' for c, k in zip(columns, keys, strict=True))},"
        f" count() AS events, {AGGREGATE_SQL[query.meter.aggregation]} AS value"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        f" GROUP BY {', '.join(keys)}"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


@dataclass(frozen=True)
class EventRecord:
    idempotency_key: str
    subject: str
    timestamp_us: int
    quantity: float
    metadata: dict[str, str]
    ingested_at_us: int


# ListEvents first looks this far back from the newest possible timestamp and
# widens only when that holds less than a page: the newest events of a busy
# meter are found without sorting a month of them (360 ms -> tens of ms at
# 10 million events).
PROBE_SPANS_US = (3600 * 1_000_000, 86_400 * 1_000_000, 30 * 86_400 * 1_000_000)
# Ingest accepts timestamps up to 5 minutes ahead of the time it stores them.
MAX_FUTURE_US = 5 * 60 * 1_000_000


def events_sql(listing: EventListing, since_us: int | None = None) -> tuple[str, Parameters]:
    """The next page (plus one event, to tell whether another page follows), newest first.

    With `since_us`, only events from then on (a probe: if it fills the page,
    those are the newest events of the whole listing).
    """
    start_us = listing.start_us if since_us is None else max(since_us, listing.start_us or since_us)
    where, params = _conditions(
        listing.meter.name, start_us, listing.end_us, listing.subjects, listing.filters
    )
    where.append("ingested_at <= fromUnixTimestamp64Micro({as_of_us:Int64}, 'UTC')")
    params["as_of_us"] = listing.as_of_us
    if listing.after is not None:
        # The plain bound on timestamp lets ClickHouse skip granules; the tuple
        # comparison is the exact cursor.
        where.append("timestamp <= fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')")
        where.append(
            "(timestamp, idempotency_key) < (fromUnixTimestamp64Micro({after_us:Int64}, 'UTC'), {after_key:String})"
        )
        params["after_us"] = listing.after.timestamp_us
        params["after_key"] = listing.after.idempotency_key
    params["limit"] = listing.page_size + 1
    sql = (
        "SELECT idempotency_key, subject, toUnixTimestamp64Micro(timestamp), quantity, metadata,"
        " toUnixTimestamp64Micro(ingested_at)"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY timestamp DESC, idempotency_key DESC"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


class QueryStore:
    """Runs the built queries (blocking; call through Storage.run)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def usage(self, query: UsageQuery) -> list[GroupAggregate]:
        sql, params = usage_sql(query)
        rows = self._client.query(sql, parameters=params, settings=READ_SETTINGS).result_rows
        if len(rows) > MAX_ROWS:
            raise too_many_rows()
        dims = len(query.dimensions)
        return [
            GroupAggregate(
                bucket=int(row[0]),
                subject=row[1] if query.by_subject else None,
                dimensions=tuple(row[2 : 2 + dims]),
                count=int(row[2 + dims]),
                value=_float_or_none(row[3 + dims]),
            )
            for row in rows
        ]

    def events(self, listing: EventListing) -> list[EventRecord]:
        """Up to page_size + 1 events after the listing's cursor, newest first."""
        newest = listing.as_of_us + MAX_FUTURE_US
        for bound in (listing.end_us, listing.after.timestamp_us + 1 if listing.after else None):
            newest = min(newest, bound) if bound is not None else newest
        for span in (*PROBE_SPANS_US, None):
            since = None if span is None else newest - span
            if since is not None and listing.start_us is not None and since <= listing.start_us:
                since = None  # the probe would cover the whole range anyway
            sql, params = events_sql(listing, since)
            rows = self._client.query(sql, parameters=params, settings=READ_SETTINGS).result_rows
            if since is None or len(rows) > listing.page_size:
                break
        return [
            EventRecord(key, subject, int(ts), float(quantity), dict(metadata), int(ingested))
            for key, subject, ts, quantity, metadata, ingested in rows
        ]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
