"""The hourly rollups of usage events: building them from settled hours, and which hours they answer.

How they stay exact is written down in docs/storage.md ("Rollups"). In short:
a build reads `usage_events FINAL` (so copies of an event count once, as in
every query) for hours that have ended, and records the instant up to which
it saw every insert (`built_as_of`, ClickHouse's clock minus the settle
time). The writer marks the hour of an event it is about to insert after
the hour has ended (EventStore.insert), stamped with ClickHouse's clock, and
the hour is read from raw events again until a newer build covers it. A query reads, per
hour, only the rows of that hour's newest build.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from openspanner.domain.meters import Meter
from openspanner.domain.rollups import HOUR_US, US, Build, RollupLevel, RollupPlan
from openspanner.storage.schema import (
    EVENTS_TABLE,
    ROLLUP_DIMENSIONS_TABLE,
    ROLLUP_HOURS_TABLE,
    ROLLUP_SUBJECTS_TABLE,
    ROLLUP_TOTALS_TABLE,
)

ROLLUP_TABLES = {
    RollupLevel.TOTALS: ROLLUP_TOTALS_TABLE,
    RollupLevel.SUBJECTS: ROLLUP_SUBJECTS_TABLE,
    RollupLevel.DIMENSIONS: ROLLUP_DIMENSIONS_TABLE,
}
# Rollups built from raw events, with the columns that key their groups;
# the totals are summed from the dimensions rollup of the same build.
# Grouping by the map's keys and values (two arrays) took two thirds of the
# time grouping by the Map column itself took.
_FROM_EVENTS = (
    (
        ROLLUP_DIMENSIONS_TABLE,
        "metadata",
        "mapFromArrays(mapKeys(metadata), mapValues(metadata))",
        "mapKeys(metadata), mapValues(metadata)",
    ),
    (ROLLUP_SUBJECTS_TABLE, "subject", "subject", "subject"),
)
_VALUE_COLUMNS = (
    "events, total, low, high, first_quantity, first_at, first_key, last_quantity, last_at, last_key, built_as_of"
)
_FROM_EVENTS_VALUES = (
    "count(), sum(quantity), min(quantity), max(quantity),"
    " argMin(quantity, (timestamp, idempotency_key)), min(timestamp),"
    " argMin(idempotency_key, (timestamp, idempotency_key)),"
    " argMax(quantity, (timestamp, idempotency_key)), max(timestamp),"
    " argMax(idempotency_key, (timestamp, idempotency_key)),"
    " fromUnixTimestamp64Milli({version:Int64}, 'UTC')"
)
_FROM_ROLLUP_VALUES = (
    "sum(events), sum(total), min(low), max(high),"
    " argMin(first_quantity, (first_at, first_key)), min(first_at), argMin(first_key, (first_at, first_key)),"
    " argMax(last_quantity, (last_at, last_key)), max(last_at), argMax(last_key, (last_at, last_key)),"
    " built_as_of"
)
# Same reason as storage/queries.py READ_SETTINGS: FINAL merges inside each
# month, where every copy of an event (and every build of an hour) lives.
_SETTINGS = {"do_not_merge_across_partitions_select_final": 1, "max_partitions_per_insert_block": 1000}


@dataclass(frozen=True)
class HourSpan:
    """Hours [first_us, end_us) of one meter to build; `only` limits them to these hours when given."""

    meter: str
    first_us: int
    end_us: int
    only: tuple[int, ...] = ()

    @property
    def hours(self) -> int:
        return len(self.only) or (self.end_us - self.first_us) // HOUR_US


class RollupStore:
    """Blocking calls (run them through Storage.run) on the rollup tables."""

    def __init__(self, client: Client) -> None:
        self._client = client

    # ---- what queries read ----------------------------------------------------

    def builds(self, meter: str, created: datetime | None, plan: RollupPlan) -> list[Build]:
        """The hours of the plan's span that the rollups answer, with their newest build.

        An hour counts when a build of this meter (not of a deleted meter of
        the same name: built after `created`) saw every event marked in it.
        """
        rows = self._client.query(
            f"SELECT toUnixTimestamp(hour), toUnixTimestamp64Milli(max(built_as_of)) AS built"
            f" FROM {ROLLUP_HOURS_TABLE}"
            " WHERE meter = {meter:String}"
            " AND hour >= toDateTime({first:Int64}, 'UTC') AND hour < toDateTime({end:Int64}, 'UTC')"
            " GROUP BY hour"
            " HAVING built >= {created_ms:Int64} AND max(marked_at) <= max(built_as_of)",
            parameters={
                "meter": meter,
                "first": plan.first_hour_us // US,
                "end": plan.end_hour_us // US,
                "created_ms": int(created.timestamp() * 1000) if created else 0,
            },
        ).result_rows
        return [Build(int(hour) * US, int(built)) for hour, built in rows]

    # ---- what the builder does --------------------------------------------------

    def now_ms(self) -> int:
        """ClickHouse's clock: the one the marks of late events are stamped with."""
        return int(self._client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0])

    def changed_hours(self, cutoff_ms: int, limit: int) -> list[tuple[str, int]]:
        """(meter, hour) of built or unbuilt hours with events marked after their last build, up to the cutoff."""
        rows = self._client.query(
            f"SELECT meter, toUnixTimestamp(hour) FROM {ROLLUP_HOURS_TABLE}"
            " GROUP BY meter, hour"
            " HAVING max(marked_at) > max(built_as_of)"
            " AND max(marked_at) <= fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')"
            " ORDER BY meter, hour LIMIT {limit:UInt64}",
            parameters={"cutoff": cutoff_ms, "limit": limit},
        ).result_rows
        return [(str(meter), int(hour) * US) for meter, hour in rows]

    def next_hour_to_build(self, meter: str, created: datetime | None) -> int | None:
        """The hour after the newest one built for this meter, else its first event's hour (None: no events)."""
        created_ms = int(created.timestamp() * 1000) if created else 0
        built, newest = self._client.query(
            f"SELECT count(), toUnixTimestamp(max(hour)) FROM {ROLLUP_HOURS_TABLE}"
            " WHERE meter = {meter:String} AND built_as_of >= fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC')",
            parameters={"meter": meter, "created_ms": created_ms},
        ).result_rows[0]
        if built:
            return int(newest) * US + HOUR_US
        stored, first = self._client.query(
            f"SELECT count(), toUnixTimestamp(toStartOfHour(min(timestamp))) FROM {EVENTS_TABLE}"
            " WHERE meter = {meter:String}",
            parameters={"meter": meter},
        ).result_rows[0]
        return int(first) * US if stored else None

    def build(self, span: HourSpan, version_ms: int) -> None:
        """Write the rollups of the span's hours as of `version_ms`, then record them as built.

        The record comes last: a query that sees it sees the rows it names.
        """
        parameters: dict[str, object] = {
            "meter": span.meter,
            "from_us": span.first_us,
            "to_us": span.end_us,
            "version": version_ms,
        }
        only = ""
        if span.only:
            only = " AND toUnixTimestamp(toStartOfHour(timestamp)) IN {hours:Array(UInt32)}"
            parameters["hours"] = [hour // US for hour in span.only]
        for table, column, value, group in _FROM_EVENTS:
            self._client.command(
                f"INSERT INTO {table} (meter, hour, {column}, {_VALUE_COLUMNS})"
                f" SELECT meter, toStartOfHour(timestamp) AS hour, {value}, {_FROM_EVENTS_VALUES}"
                f" FROM {EVENTS_TABLE} FINAL"
                " WHERE meter = {meter:String}"
                " AND timestamp >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC')"
                f" AND timestamp < fromUnixTimestamp64Micro({{to_us:Int64}}, 'UTC'){only}"
                f" GROUP BY meter, hour, {group}",
                parameters=parameters,
                settings=_SETTINGS,
            )
        self._client.command(
            f"INSERT INTO {ROLLUP_TOTALS_TABLE} (meter, hour, {_VALUE_COLUMNS})"
            f" SELECT meter, hour, {_FROM_ROLLUP_VALUES} FROM {ROLLUP_DIMENSIONS_TABLE} FINAL"
            " WHERE meter = {meter:String}"
            " AND hour >= toDateTime(intDiv({from_us:Int64}, 1000000), 'UTC')"
            " AND hour < toDateTime(intDiv({to_us:Int64}, 1000000), 'UTC')"
            " AND built_as_of = fromUnixTimestamp64Milli({version:Int64}, 'UTC')"
            " GROUP BY meter, hour, built_as_of",
            parameters=parameters,
            settings=_SETTINGS,
        )
        hours = span.only or tuple(range(span.first_us, span.end_us, HOUR_US))
        self._client.command(
            f"INSERT INTO {ROLLUP_HOURS_TABLE} (meter, hour, marked_at, built_as_of)"
            " SELECT {meter:String}, toDateTime(built_hour, 'UTC'), toDateTime64(0, 3, 'UTC'),"
            " fromUnixTimestamp64Milli({version:Int64}, 'UTC')"
            " FROM (SELECT arrayJoin({built:Array(UInt32)}) AS built_hour)",
            parameters={"meter": span.meter, "version": version_ms, "built": [hour // US for hour in hours]},
        )

    # ---- what the writer does ---------------------------------------------------

    def mark(self, hours: set[tuple[str, int]]) -> None:
        """Mark (meter, hour in us) as changed at ClickHouse's now: done before the events are inserted,
        so a build that sees the mark as settled sees the events too (docs/storage.md, "Rollups")."""
        self._client.command(
            f"INSERT INTO {ROLLUP_HOURS_TABLE} (meter, hour, marked_at, built_as_of)"
            " SELECT tupleElement(changed, 1), toDateTime(tupleElement(changed, 2), 'UTC'), now64(3),"
            " toDateTime64(0, 3, 'UTC')"
            " FROM (SELECT arrayJoin({hours:Array(Tuple(String, UInt32))}) AS changed)",
            parameters={"hours": [(meter, hour // US) for meter, hour in sorted(hours)]},
        )

    # ---- meters that change -------------------------------------------------------

    def mark_hours_before(self, meter: str, before_us: int) -> None:
        """Send the meter's hours before `before_us` back to raw events and drop their rollup rows, to be
        built again (a longer retention: TTL may already have dropped events the rollups still count, and
        a rebuild without them must not leave their groups behind)."""
        parameters = {"meter": meter, "before_us": before_us}
        before = "hour < toDateTime(intDiv({before_us:Int64}, 1000000), 'UTC')"
        self._client.command(
            f"INSERT INTO {ROLLUP_HOURS_TABLE} (meter, hour, marked_at, built_as_of)"
            " SELECT meter, hour, now64(3), toDateTime64(0, 3, 'UTC')"
            f" FROM {ROLLUP_HOURS_TABLE}"
            f" WHERE meter = {{meter:String}} AND {before}"
            " GROUP BY meter, hour",
            parameters=parameters,
        )
        for table in ROLLUP_TABLES.values():
            self._client.command(
                f"DELETE FROM {{table:Identifier}} WHERE meter = {{meter:String}} AND {before}",
                parameters={**parameters, "table": table},
            )

    def delete_meter(self, meter: str) -> None:
        """Remove a deleted meter's rollups; the hours' records first, so no hour is read from
        rollup rows being removed."""
        for table in (ROLLUP_HOURS_TABLE, *ROLLUP_TABLES.values()):
            self._client.command(
                "DELETE FROM {table:Identifier} WHERE meter = {meter:String}",
                parameters={"table": table, "meter": meter},
            )


def late_hours(events: Iterable[tuple[str, int]], now_us: int) -> set[tuple[str, int]]:
    """(meter, hour) of the (meter, timestamp) pairs whose hour had ended by `now_us`.

    The writer's clock decides; its skew from ClickHouse's clock only eats
    into the settle time (an event of the hour just ended, inserted unmarked
    a moment after it ended by ClickHouse's clock, commits well before the
    hour is built, settle seconds later).
    """
    current = now_us // HOUR_US * HOUR_US
    return {(meter, at // HOUR_US * HOUR_US) for meter, at in events if at < current}


# Changed hours taken per round; the rest wait for the next round.
MAX_CHANGED_HOURS = 10_000


def settled_spans(store: RollupStore, meters: Sequence[Meter], settle_ms: int) -> tuple[int, list[HourSpan]]:
    """The hours of these meters that have settled and need a build, and the version to build them as.

    The version is ClickHouse's clock minus `settle_ms`: an insert is assumed
    committed within `settle_ms` of the instant its late events were marked,
    so a build that starts after `version + settle_ms` sees every event marked
    up to `version`, and every unmarked event of an hour that had ended by
    then (docs/storage.md, "Rollups"). Hours never built are built in order,
    a UTC month at most per build (one month is one partition of events:
    a build of a whole month reads it once); hours built before and marked
    since are built again.
    """
    version_ms = store.now_ms() - settle_ms
    settled_end = version_ms * 1000 // HOUR_US * HOUR_US
    spans: list[HourSpan] = []
    never_built: dict[str, int] = {}
    for meter in meters:
        created_ms = int(meter.create_time.timestamp() * 1000) if meter.create_time else 0
        if created_ms > version_ms:
            continue  # its builds would not count yet (RollupStore.builds)
        first = store.next_hour_to_build(meter.name, meter.create_time)
        if first is None:
            continue
        never_built[meter.name] = first
        while first < settled_end:
            end = min(settled_end, _next_month_us(first))
            spans.append(HourSpan(meter.name, first, end))
            first = end
    changed: dict[tuple[str, int], list[int]] = {}
    for meter_name, hour in store.changed_hours(version_ms, MAX_CHANGED_HOURS):
        # A deleted meter's marks wait for its rollups' removal; hours not built yet are built above.
        if meter_name in never_built and hour < never_built[meter_name]:
            changed.setdefault((meter_name, _next_month_us(hour)), []).append(hour)
    for (meter_name, _), hours in changed.items():
        spans.append(HourSpan(meter_name, hours[0], hours[-1] + HOUR_US, tuple(hours)))
    return version_ms, spans


def _next_month_us(us: int) -> int:
    """The start of the UTC month after the one holding `us`."""
    at = datetime.fromtimestamp(us / US, UTC)
    following = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
    return int(following.timestamp()) * US


def build_settled(store: RollupStore, meters: Sequence[Meter], settle_ms: int) -> int:
    """Build every settled hour of these meters at once; returns the hours built (tests, benchmarks)."""
    version_ms, spans = settled_spans(store, meters, settle_ms)
    for span in spans:
        store.build(span, version_ms)
    return sum(span.hours for span in spans)
