"""The one module that builds queries over usage events.

Builders are pure functions returning `(sql, parameters)`; values reach
ClickHouse only as typed query parameters (`{name:Type}`), never as text
formatted into the SQL, whatever the client sent. Every read uses FINAL, so
copies of one event that ReplacingMergeTree has not merged yet are counted
once (docs/storage.md, "Exactly once").
"""

from __future__ import annotations

import time
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.domain.breakdowns import (
    Breakdown,
    BreakdownRow,
    DimensionValueRow,
    DimensionValues,
    breakdown_row,
    dimension_value_row,
)

# Re-exported: the query side reads stored events under this name.
from openspanner.domain.events import EventRecord as EventRecord
from openspanner.domain.filters import ORDER_OPS, Condition, ConditionOp, FilterNode, Group, GroupOp, ValueKind
from openspanner.domain.meters import Aggregation, DimensionType, Meter
from openspanner.domain.queries import (
    MAX_ROWS,
    EventListing,
    Filter,
    GroupAggregate,
    UsageQuery,
    too_many_rows,
)
from openspanner.domain.rollups import US, Build, RollupLevel, covered_ranges, plan_rollup, raw_ranges
from openspanner.domain.values import SUBJECT
from openspanner.domain.windows import WindowSize
from openspanner.storage.rollups import ROLLUP_TABLES, RollupStore
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

# Exact distinct texts of the meter's unique_dimension (ingest stores each
# value as its canonical text, so 1 and 1.0 are one value); events without
# the dimension count among the events but add no value.
UNIQUE_COUNT_SQL = (
    "toFloat64(uniqExactIf(metadata[{unique_dimension:String}], mapContains(metadata, {unique_dimension:String})))"
)


def aggregate_sql(meter: Meter, params: Parameters) -> str:
    """The meter's aggregate over the rows of one group; the parameters it needs are added to `params`.

    The one place every query shape (usage, breakdown) takes its aggregate
    from: a unique_count is computed over the group's own events, never
    added up from smaller groups, so a month's distinct users are counted
    over the month.
    """
    if meter.aggregation is Aggregation.UNIQUE_COUNT:
        params["unique_dimension"] = meter.unique_dimension
        return UNIQUE_COUNT_SQL
    return AGGREGATE_SQL[meter.aggregation]


# The distinct values themselves, for code that keeps them as a set and
# counts new ones as events arrive (a limit's ledger, domain/distinct.py).
UNIQUE_VALUES_SQL = (
    "groupUniqArrayIf(metadata[{unique_dimension:String}], mapContains(metadata, {unique_dimension:String}))"
)


def unique_values_sql(meter: Meter, params: Parameters) -> str:
    """The array of a unique_count meter's distinct values over a group's rows (params added)."""
    params["unique_dimension"] = meter.unique_dimension
    return UNIQUE_VALUES_SQL


# Start of the window holding `timestamp`, in epoch seconds, aligned in the
# query's time zone; the same rule as domain/windows.py `truncate`.
WINDOW_SQL = {
    WindowSize.MINUTE: "toUnixTimestamp(toStartOfMinute(timestamp, {tz:String}))",
    WindowSize.HOUR: "toUnixTimestamp(toStartOfHour(timestamp, {tz:String}))",
    WindowSize.DAY: "toUnixTimestamp(toStartOfDay(timestamp, {tz:String}))",
    WindowSize.MONTH: "toUnixTimestamp(toDateTime(toStartOfMonth(timestamp, {tz:String}), {tz:String}))",
}


def _conditions(
    meter: str,
    start_us: int | None,
    end_us: int | None,
    subjects: tuple[str, ...],
    filters: tuple[Filter, ...],
    filter_tree: FilterNode | None = None,
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
    if filter_tree is not None:
        where.append(filter_sql(filter_tree, params))
    return where, params


# ---- The REST API's filter tree (domain/filters.py) ----------------------------

# The column each built-in field reads. Field names reach the SQL text only
# through this table; dimension names and every value travel as parameters.
FILTER_COLUMNS = {
    "subject": "subject",
    "meter": "meter",
    "idempotency_key": "idempotency_key",
    "quantity": "quantity",
    "timestamp": "timestamp",
    "received_at": "ingested_at",
}
COMPARISON_SQL = {
    ConditionOp.EQ: "=",
    ConditionOp.NEQ: "!=",
    ConditionOp.GT: ">",
    ConditionOp.GTE: ">=",
    ConditionOp.LT: "<",
    ConditionOp.LTE: "<=",
}
GROUP_SQL = {GroupOp.AND: " AND ", GroupOp.OR: " OR "}


class _TreeParameters:
    """Names each value of a tree as the next parameter (ft0, ft1, ...), beside the query's own."""

    def __init__(self, params: Parameters) -> None:
        self._params = params
        self._next = sum(1 for name in params if name.startswith("ft"))

    def __call__(self, value: Any, type_name: str) -> str:
        name = f"ft{self._next}"
        self._next += 1
        self._params[name] = value
        return f"{{{name}:{type_name}}}"


def filter_sql(node: FilterNode, params: Parameters) -> str:
    """The WHERE condition of a checked filter tree; its values are added to `params`.

    Dimension values are stored as text: eq, neq, in and contains compare
    the text (ingest's canonical text, so 1.0 finds "1"), order comparisons
    of number dimensions compare `toFloat64OrNull` of it (so "9" < "10").
    A condition on a dimension holds only for events that have it, `neq`
    included (domain/filters.py).
    """
    return _node_sql(node, _TreeParameters(params))


def _node_sql(node: FilterNode, param: _TreeParameters) -> str:
    if isinstance(node, Group):
        return "(" + GROUP_SQL[node.op].join(_node_sql(rule, param) for rule in node.rules) + ")"
    if node.field.dimension is None:
        return _built_in_sql(node, param)
    return _dimension_sql(node, param)


def _built_in_sql(condition: Condition, param: _TreeParameters) -> str:
    op, field = condition.op, condition.field
    column = FILTER_COLUMNS[field.name]
    if op is ConditionOp.EXISTS:
        return "1"  # built-in fields are present on every event
    if field.kind is ValueKind.TIME:
        if op is ConditionOp.IN:
            return f"toUnixTimestamp64Micro({column}) IN {param(list(condition.values), 'Array(Int64)')}"
        at = f"fromUnixTimestamp64Micro({param(condition.values[0], 'Int64')}, 'UTC')"
        return f"{column} {COMPARISON_SQL[op]} {at}"
    type_name = "Float64" if field.kind is ValueKind.NUMBER else "String"
    if op is ConditionOp.IN:
        return f"{column} IN {param(list(condition.values), f'Array({type_name})')}"
    if op is ConditionOp.CONTAINS:
        return f"position({column}, {param(condition.values[0], 'String')}) > 0"
    return f"{column} {COMPARISON_SQL[op]} {param(condition.values[0], type_name)}"


def _dimension_sql(condition: Condition, param: _TreeParameters) -> str:
    op = condition.op
    key = param(condition.field.dimension, "String")
    present = f"mapContains(metadata, {key})"
    if op is ConditionOp.EXISTS:
        return present
    value = f"metadata[{key}]"
    if op is ConditionOp.IN:
        test = f"{value} IN {param(list(condition.stored_texts()), 'Array(String)')}"
    elif op is ConditionOp.CONTAINS:
        test = f"position({value}, {param(condition.values[0], 'String')}) > 0"
    elif op in ORDER_OPS and condition.field.kind is ValueKind.NUMBER:
        test = f"toFloat64OrNull({value}) {COMPARISON_SQL[op]} {param(condition.values[0], 'Float64')}"
    else:
        test = f"{value} {COMPARISON_SQL[op]} {param(condition.stored_texts()[0], 'String')}"
    return f"({present} AND {test})"


def _group_columns(query: UsageQuery, params: Parameters, time_column: str = "timestamp") -> list[str]:
    """The window, subject and dimension expressions a usage query groups by, over `time_column`."""
    window = WINDOW_SQL[query.window_size].replace("(timestamp", f"({time_column}") if query.window_size else "0"
    columns = [window]
    if query.window_size:
        params["tz"] = query.time_zone
    columns.append("subject" if query.by_subject else "''")
    for i, name in enumerate(query.dimensions):
        params[f"g{i}"] = name
        columns.append(f"if(mapContains(metadata, {{g{i}:String}}), metadata[{{g{i}:String}}], NULL)")
    return columns


def usage_sql(query: UsageQuery) -> tuple[str, Parameters]:
    """One row per (window, subject, dimension values) with its event count and aggregate."""
    where, params = _conditions(
        query.meter.name, query.start_us, query.end_us, query.subjects, query.filters, query.filter_tree
    )
    columns = _group_columns(query, params)
    keys = [f"k{i}" for i in range(len(columns))]
    params["limit"] = MAX_ROWS + 1
    sql = (
        f"SELECT {', '.join(f'{c} AS {k}' for c, k in zip(columns, keys, strict=True))},"
        f" count() AS events, {aggregate_sql(query.meter, params)} AS value"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        f" GROUP BY {', '.join(keys)}"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


# What each side of a rollup query contributes per row, and how the outer
# query combines them into the aggregation: raw events one row per event,
# rollups one row per group of an hour (storage/rollups.py).
_RAW_PARTS = {
    "q_total": "quantity",
    "q_low": "quantity",
    "q_high": "quantity",
    "q_first": "quantity",
    "q_first_at": "(timestamp, idempotency_key)",
    "q_last": "quantity",
    "q_last_at": "(timestamp, idempotency_key)",
}
_ROLLUP_PARTS = {
    "q_total": "total",
    "q_low": "low",
    "q_high": "high",
    "q_first": "first_quantity",
    "q_first_at": "(first_at, first_key)",
    "q_last": "last_quantity",
    "q_last_at": "(last_at, last_key)",
}
COMBINED_SQL: dict[Aggregation, tuple[str, tuple[str, ...]]] = {
    Aggregation.SUM: ("sum(q_total)", ("q_total",)),
    Aggregation.COUNT: ("toFloat64(sum(q_events))", ()),
    Aggregation.AVG: ("sum(q_total) / sum(q_events)", ("q_total",)),
    Aggregation.MIN: ("min(q_low)", ("q_low",)),
    Aggregation.MAX: ("max(q_high)", ("q_high",)),
    Aggregation.FIRST: ("argMin(q_first, q_first_at)", ("q_first", "q_first_at")),
    Aggregation.LAST: ("argMax(q_last, q_last_at)", ("q_last", "q_last_at")),
    Aggregation.RATE: ("sum(q_total)", ("q_total",)),
}
# Beyond this many separate stretches of rollups and raw events (hours not
# built, scattered through the range) the query reads raw events only.
MAX_RAW_RANGES = 64


def rollup_usage_sql(query: UsageQuery, level: RollupLevel, builds: list[Build]) -> tuple[str, Parameters]:
    """The usage query over the rollup rows of `builds` and raw events for the rest of the range.

    Both sides group alike (a UTC hour lies in one window: domain/rollups.py)
    and the outer query combines their partial aggregates per group.
    """
    where, params = _conditions(query.meter.name, None, None, query.subjects, query.filters, query.filter_tree)
    combined, parts = COMBINED_SQL[query.meter.aggregation]
    keys = [f"k{i}" for i in range(len(_group_columns(query, params)))]
    sides = []
    ranges = raw_ranges(query, builds)
    if ranges:
        spans = []
        for i, (start_us, end_us) in enumerate(ranges):
            params[f"raw{i}_from"], params[f"raw{i}_to"] = start_us, end_us
            spans.append(
                f"(timestamp >= fromUnixTimestamp64Micro({{raw{i}_from:Int64}}, 'UTC')"
                f" AND timestamp < fromUnixTimestamp64Micro({{raw{i}_to:Int64}}, 'UTC'))"
            )
        sides.append(
            _side_sql(_group_columns(query, params), keys, "1", [_RAW_PARTS[p] for p in parts], parts)
            + f" FROM {EVENTS_TABLE} FINAL WHERE {' AND '.join([*where, '(' + ' OR '.join(spans) + ')'])}"
        )
    hours = []
    for i, (start_us, end_us) in enumerate(covered_ranges(builds)):
        params[f"built{i}_from"], params[f"built{i}_to"] = start_us // US, end_us // US
        hours.append(
            f"(hour >= toDateTime({{built{i}_from:Int64}}, 'UTC') AND hour < toDateTime({{built{i}_to:Int64}}, 'UTC'))"
        )
    # FINAL keeps each group's row of its hour's newest build; a group an
    # older build had and a newer one lacks exists only after its events were
    # deleted, and deletions remove the rollup rows they concern
    # (storage/rollups.py), or belong to a meter deleted before this one was
    # created, whose builds are older than it.
    params["created_ms"] = int(query.meter.create_time.timestamp() * 1000) if query.meter.create_time else 0
    rollup_where = [
        *where,
        "(" + " OR ".join(hours) + ")",
        "built_as_of >= fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC')",
    ]
    sides.append(
        _side_sql(_group_columns(query, params, "hour"), keys, "events", [_ROLLUP_PARTS[p] for p in parts], parts)
        + f" FROM {ROLLUP_TABLES[level]} FINAL WHERE {' AND '.join(rollup_where)}"
    )
    params["limit"] = MAX_ROWS + 1
    sql = (
        f"SELECT {', '.join(keys)}, sum(q_events) AS events, {combined} AS value"
        f" FROM ({' UNION ALL '.join(sides)})"
        f" GROUP BY {', '.join(keys)}"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


def _side_sql(columns: list[str], keys: list[str], events: str, values: list[str], names: tuple[str, ...]) -> str:
    selected = [f"{c} AS {k}" for c, k in zip(columns, keys, strict=True)]
    selected.append(f"{events} AS q_events")
    selected.extend(f"{v} AS {n}" for v, n in zip(values, names, strict=True))
    return f"SELECT {', '.join(selected)}"


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
        listing.meter.name, start_us, listing.end_us, listing.subjects, listing.filters, listing.filter_tree
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


def _value_of(field: str, params: Parameters, where: list[str]) -> str:
    """The column of subject, or of a dimension's stored text (events without it are left out)."""
    if field == SUBJECT:
        return "subject"
    params["field"] = field
    where.append("mapContains(metadata, {field:String})")
    return "metadata[{field:String}]"


def _value_order(alias: str, field_type: DimensionType) -> str:
    """Ties ordered by value: numbers numerically, text by code point (UTF-8 bytes)."""
    return f"toFloat64OrNull({alias}), {alias}" if field_type is DimensionType.NUMBER else alias


def breakdown_sql(plan: Breakdown) -> tuple[str, Parameters]:
    """Each value of the field with its aggregate and event count, the largest `limit` aggregates."""
    where, params = _conditions(plan.meter.name, plan.start_us, plan.end_us, plan.subjects, (), plan.filter_tree)
    value = _value_of(plan.field, params, where)
    params["limit"] = plan.limit
    sql = (
        f"SELECT {value} AS bd_value, {aggregate_sql(plan.meter, params)} AS bd_quantity, count() AS bd_events"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        " GROUP BY bd_value"
        f" ORDER BY bd_quantity DESC, {_value_order('bd_value', plan.field_type)}"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


def dimension_values_sql(plan: DimensionValues) -> tuple[str, Parameters]:
    """Each value of the field with its event count, the `limit` most frequent."""
    where, params = _conditions(plan.meter.name, plan.start_us, plan.end_us, plan.subjects, ())
    value = _value_of(plan.field, params, where)
    params["limit"] = plan.limit
    sql = (
        f"SELECT {value} AS dv_value, count() AS dv_events"
        f" FROM {EVENTS_TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        " GROUP BY dv_value"
        f" ORDER BY dv_events DESC, {_value_order('dv_value', plan.field_type)}"
        " LIMIT {limit:UInt64}"
    )
    return sql, params


class QueryStore:
    """Runs the built queries (blocking; call through Storage.run).

    With `rollups` off, usage queries read raw events only (the tests
    compare both ways).
    """

    def __init__(self, client: Client, rollups: bool = True) -> None:
        self._client = client
        self._rollups = RollupStore(client) if rollups else None

    def usage(self, query: UsageQuery) -> list[GroupAggregate]:
        sql, params = self.usage_plan(query)
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

    def usage_plan(self, query: UsageQuery) -> tuple[str, Parameters]:
        """The SQL of a usage query: over rollups and raw events where rollups cover whole hours
        of the range (domain/rollups.py), else over raw events only."""
        plan = plan_rollup(query, time.time_ns() // 1000) if self._rollups else None
        if plan is not None and self._rollups is not None:
            builds = self._rollups.builds(query.meter.name, query.meter.create_time, plan)
            if builds and len(raw_ranges(query, builds)) + len(covered_ranges(builds)) <= MAX_RAW_RANGES:
                return rollup_usage_sql(query, plan.level, builds)
        return usage_sql(query)

    def breakdown(self, plan: Breakdown) -> list[BreakdownRow]:
        """The top values of the plan's field, largest aggregate first (rate per second of the range)."""
        sql, params = breakdown_sql(plan)
        rows = self._client.query(sql, parameters=params, settings=READ_SETTINGS).result_rows
        return [breakdown_row(plan, str(text), float(quantity), int(events)) for text, quantity, events in rows]

    def dimension_values(self, plan: DimensionValues) -> list[DimensionValueRow]:
        """The most frequent values of the plan's field, with their event counts."""
        sql, params = dimension_values_sql(plan)
        rows = self._client.query(sql, parameters=params, settings=READ_SETTINGS).result_rows
        return [dimension_value_row(plan, str(text), int(events)) for text, events in rows]

    def unique_values(self, meter: Meter, subject: str, start_us: int, end_us: int) -> frozenset[str]:
        """The distinct values a subject's events of a unique_count meter carry in [start_us, end_us):
        the set a ledger starts from, whose size is the query's unique_count of that range."""
        where, params = _conditions(meter.name, start_us, end_us, (subject,), ())
        sql = f"SELECT {unique_values_sql(meter, params)} FROM {EVENTS_TABLE} FINAL WHERE {' AND '.join(where)}"
        rows = self._client.query(sql, parameters=params, settings=READ_SETTINGS).result_rows
        return frozenset(str(value) for value in rows[0][0])

    def meter_summaries(self) -> dict[str, tuple[int, int]]:
        """Stored events and the latest event timestamp (us) of every meter that has events."""
        rows = self._client.query(
            f"SELECT meter, count(), toUnixTimestamp64Micro(max(timestamp)) FROM {EVENTS_TABLE} FINAL GROUP BY meter",
            settings=READ_SETTINGS,
        ).result_rows
        return {meter: (int(count), int(latest)) for meter, count, latest in rows}

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
