"""Usage events in ClickHouse: the writes and look-ups the ingest path needs.

Queries over events (totals, breakdowns) are built elsewhere; this module only
stores rows and answers "which of these idempotency keys are already stored?"
(docs/storage.md, "Exactly once").
"""

from __future__ import annotations

import heapq
import itertools
import operator
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import xxhash
from clickhouse_connect.driver.client import Client

from openspanner.domain.events import EventRecord
from openspanner.domain.rollups import HOUR_US
from openspanner.logging import get_logger
from openspanner.storage.key_filter import CoveredBlocks, Hashes, KeyFilter
from openspanner.storage.rollups import RollupStore, late_hours
from openspanner.storage.schema import EVENT_IDENTITIES_TABLE, EVENTS_TABLE, IDEMPOTENCY_KEYS_TABLE

log = get_logger(__name__)

COLUMNS = (
    ("meter", "LowCardinality(String)"),
    ("subject", "String"),
    ("timestamp", "DateTime64(6, 'UTC')"),
    ("idempotency_key", "String"),
    ("quantity", "Float64"),
    ("metadata", "Map(LowCardinality(String), String)"),
    ("ingested_at", "DateTime64(6, 'UTC')"),
    ("retention_days", "UInt16"),
    ("client_time_us", "Int64"),
)
# A look-up names at most this many time ranges of its events (a scattered
# backfill batch reads more granules instead), split at gaps wider than this.
MAX_LOOKUP_RANGES = 8
MIN_LOOKUP_GAP_US = 1_000_000
# A look-up reads every stored identity in its ranges while there are fewer
# than this many per key of the batch (plus a floor); past that, it searches
# by key hash, for CROWDED_SECONDS.
RANGE_READ_ROWS_PER_KEY = 2
RANGE_READ_MIN_ROWS = 1_000
CROWDED_SECONDS = 10.0
# Keys the filter could not rule out are looked up at their client times
# first when there are at least this many (a resent batch: found cheaply
# there), and only by key hash otherwise (a few false positives).
TIME_LOCAL_MIN_KEYS = 64
# Retention is at most 3650 days: ~122 monthly partitions, plus headroom.
MAX_MONTHS_PER_BLOCK = 200
COLUMN_NAMES = [name for name, _ in COLUMNS]
# Every table holding a meter's events or their keys.
EVENT_TABLES = (EVENTS_TABLE, EVENT_IDENTITIES_TABLE, IDEMPOTENCY_KEYS_TABLE)
COLUMN_TYPES = [type_name for _, type_name in COLUMNS]
# client_time_us of an event sent without a timestamp.
NO_CLIENT_TIME = 0
# (client_time_us, idempotency_key): where an event sits in the time-local key table.
Identity = tuple[int, str]


@dataclass(slots=True)
class EventRow:
    """One validated event, in storage form (times in microseconds since the epoch)."""

    meter: str
    idempotency_key: str
    subject: str
    timestamp_us: int
    quantity: float
    metadata: dict[str, str]
    retention_days: int
    # The timestamp the client sent, or NO_CLIENT_TIME. Copies of one event
    # sent with one timestamp share it, so they collapse under FINAL.
    client_time_us: int
    # When the server received it (stored as ingested_at).
    received_us: int

    @property
    def identity(self) -> Identity:
        return (self.client_time_us, self.idempotency_key)


# EventBlock's columns, in the order of its constructor.
_BLOCK_FIELDS = (
    "meters", "idempotency_keys", "subjects", "timestamps_us", "quantities", "metadata", "retention_days",
    "client_times_us", "received_us",
)


class EventBlock(Sequence[EventRow]):
    """Validated events a column per field, as the insert sends them.

    A stream message is validated a column at a time (ingest/validate.py)
    and stays in columns to the insert: building an EventRow per event and
    reading its fields back into columns cost ~1.5 us per event. Indexing
    gives an EventRow, for the few steps that look at single events; a slice
    is a block.
    """

    __slots__ = (
        "client_times_us", "idempotency_keys", "metadata", "meters", "quantities", "received_us", "retention_days",
        "subjects", "timestamps_us",
    )

    def __init__(
        self,
        meters: list[str],
        idempotency_keys: list[str],
        subjects: list[str],
        timestamps_us: list[int],
        quantities: list[float],
        metadata: list[dict[str, str]],
        retention_days: list[int],
        client_times_us: list[int],
        received_us: list[int],
    ) -> None:
        self.meters = meters
        self.idempotency_keys = idempotency_keys
        self.subjects = subjects
        self.timestamps_us = timestamps_us
        self.quantities = quantities
        self.metadata = metadata
        self.retention_days = retention_days
        self.client_times_us = client_times_us
        self.received_us = received_us

    @classmethod
    def of(cls, rows: Sequence[EventRow]) -> EventBlock:
        if isinstance(rows, EventBlock):
            return rows
        return cls(
            [r.meter for r in rows], [r.idempotency_key for r in rows], [r.subject for r in rows],
            [r.timestamp_us for r in rows], [r.quantity for r in rows], [r.metadata for r in rows],
            [r.retention_days for r in rows], [r.client_time_us for r in rows], [r.received_us for r in rows],
        )

    @classmethod
    def joined(cls, parts: Sequence[Sequence[EventRow]]) -> EventBlock:
        """The events of `parts`, in order: blocks are joined a column at a time."""
        if len(parts) == 1:
            return cls.of(parts[0])
        blocks = [part for part in parts if isinstance(part, EventBlock)]
        if len(blocks) < len(parts):
            return cls.of([row for part in parts for row in part])
        columns: list[list[Any]] = [[] for _ in _BLOCK_FIELDS]
        for block in blocks:
            for column, values in zip(columns, block._columns(), strict=True):
                column.extend(values)
        return cls(*columns)

    def _columns(self) -> tuple[list[Any], ...]:
        return tuple(getattr(self, name) for name in _BLOCK_FIELDS)

    def insert_columns(self) -> list[list[Any]]:
        """The columns in the order of COLUMNS."""
        return [
            self.meters, self.subjects, self.timestamps_us, self.idempotency_keys, self.quantities, self.metadata,
            self.received_us, self.retention_days, self.client_times_us,
        ]

    def taken(self, keep: Sequence[bool]) -> EventBlock:
        """The events where `keep` is true."""
        return EventBlock(*(list(itertools.compress(column, keep)) for column in self._columns()))

    def __len__(self) -> int:
        return len(self.idempotency_keys)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same rows, a list of EventRow among them."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(map(operator.eq, self, other))

    @overload
    def __getitem__(self, index: int) -> EventRow: ...

    @overload
    def __getitem__(self, index: slice) -> EventBlock: ...

    def __getitem__(self, index: int | slice) -> EventRow | EventBlock:
        if isinstance(index, slice):
            return EventBlock(*(column[index] for column in self._columns()))
        return EventRow(
            self.meters[index], self.idempotency_keys[index], self.subjects[index], self.timestamps_us[index],
            self.quantities[index], self.metadata[index], self.retention_days[index], self.client_times_us[index],
            self.received_us[index],
        )


def key_hash(idempotency_key: str) -> int:
    """ClickHouse's xxHash64 of a key, which sorts the key tables."""
    return int(xxhash.xxh64_intdigest(idempotency_key.encode()))


def key_hashes(rows: Sequence[EventRow]) -> Hashes:
    """key_hash of each row, inlined: this runs for every event of every batch."""
    hash_of = xxhash.xxh64_intdigest
    keys = rows.idempotency_keys if isinstance(rows, EventBlock) else map(_KEY, rows)
    return np.fromiter((hash_of(key.encode()) for key in keys), dtype=np.uint64, count=len(rows))


_KEY = operator.attrgetter("idempotency_key")


@dataclass(slots=True)
class _Part:
    name: str
    partition: str
    first_block: int
    last_block: int


@dataclass(slots=True)
class _MeterKeys:
    """A meter's key filter, and the insert blocks of the key table it holds."""

    key_filter: KeyFilter
    covered: CoveredBlocks


class EventStore:
    """Writes events and finds stored keys.

    Each meter's stored keys are held in a KeyFilter, which answers "surely
    not stored" for most new keys. With `sole_writer` (the embedded engine,
    whose data dir only this process may open) the filter holds every stored
    key: those stored when it was loaded and every key this store inserted
    since. With a ClickHouse server, other servers insert too: before each
    look-up the filter catches up on the key table's parts it has not read
    (CoveredBlocks), so it holds every key committed by then, wherever it
    was inserted.
    """

    def __init__(
        self, client: Client, range_read_min_rows: int = RANGE_READ_MIN_ROWS, *, sole_writer: bool = False
    ) -> None:
        self._client = client
        self._rollups = RollupStore(client)
        self._range_read_min_rows = range_read_min_rows
        self._sole_writer = sole_writer
        # Meters whose recent look-up ranges held too many rows to read whole,
        # until when (monotonic seconds) their look-ups go straight to hashes.
        self._crowded_until: dict[str, float] = {}
        self._meter_keys: dict[str, _MeterKeys] = {}
        # Held while a meter's filter is loaded or catches up, so it is loaded
        # once and never replaced by a copy missing keys inserted meanwhile.
        self._filters_lock = threading.Lock()

    def stored_keys(self, meter: str, rows: Sequence[EventRow], hashes: Hashes) -> set[str]:
        """The idempotency keys of `rows` (all of `meter`, `hashes` their key_hashes) already stored.

        A key is stored once per meter whatever timestamp it came with. The
        filter rules most new keys out without a look-up; what it cannot rule
        out is looked up at the rows' client times when there is much of it
        (a resent batch), then by key hash (docs/storage.md, "Exactly once").
        """
        candidates = np.flatnonzero(self._current_filter(meter).might_contain(hashes)).tolist()
        if not candidates:
            return set()
        found: set[str] = set()
        timed = [rows[i].identity for i in candidates if rows[i].client_time_us != NO_CLIENT_TIME]
        if len(timed) >= TIME_LOCAL_MIN_KEYS:
            found = {key for _, key in self.stored_identities(meter, timed)}
        rest = [i for i in candidates if rows[i].idempotency_key not in found]
        if rest:
            found |= self._stored_by_key_hash(meter, {rows[i].idempotency_key for i in rest}, hashes[rest])
        return found

    def remember(self, meter: str, hashes: Hashes) -> None:
        """Add the keys of rows just inserted for `meter` to its filter.

        Without `sole_writer` the filter reads them back from the key table at
        its next catch-up anyway; adding them now keeps the batch right after
        this one from looking them up.
        """
        if len(hashes):
            key_filter = self._current_filter(meter, catch_up=False)
            with self._filters_lock:
                key_filter.add(hashes)

    def _current_filter(self, meter: str, *, catch_up: bool = True) -> KeyFilter:
        """The meter's filter, loaded on first use; without `sole_writer`, caught up first.

        Every change to a filter is made under the lock: numpy's in-place OR
        of two threads on one word could lose a bit, and a lost bit would
        count a stored key again. Membership checks may run alongside a change,
        since bits are only ever set.
        """
        state = self._meter_keys.get(meter)
        if state is not None and (self._sole_writer or not catch_up):
            return state.key_filter
        with self._filters_lock:
            state = self._meter_keys.get(meter)
            if state is None:
                state = self._meter_keys[meter] = self._load(meter)
            elif catch_up:
                self._catch_up(meter, state)
        return state.key_filter

    def _load(self, meter: str) -> _MeterKeys:
        """Every stored key of `meter`, read a block at a time (~10 million keys a second here).

        The parts are listed first: whatever the read then finds, it holds at
        least their keys, so marking their blocks covered never skips a key.
        """
        started = time.perf_counter()
        covered = CoveredBlocks()
        for part in self._key_table_parts():
            covered.add(part.partition, part.first_block, part.last_block)
        parameters = {"table": IDEMPOTENCY_KEYS_TABLE, "meter": meter}
        stored = self._client.query(
            "SELECT count() FROM {table:Identifier} WHERE meter = {meter:String}", parameters=parameters
        ).result_rows[0][0]
        key_filter = KeyFilter(expected_keys=int(stored))
        self._read_hashes_into(key_filter, "", parameters)
        log.info(
            "key filter loaded",
            meter=meter,
            keys=key_filter.keys,
            megabytes=round(key_filter.nbytes / 1e6, 1),
            seconds=round(time.perf_counter() - started, 2),
        )
        return _MeterKeys(key_filter, covered)

    def _catch_up(self, meter: str, state: _MeterKeys) -> None:
        """Add the keys of the key table's parts with blocks the filter has not read.

        Those are recent inserts, this server's own among them; parts that
        merges or mutations rewrote from blocks already read are skipped.
        """
        new_parts = [
            part
            for part in self._key_table_parts()
            if not state.covered.covers(part.partition, part.first_block, part.last_block)
        ]
        if not new_parts:
            return
        self._read_hashes_into(
            state.key_filter,
            " AND _part IN {parts:Array(String)}",
            {"table": IDEMPOTENCY_KEYS_TABLE, "meter": meter, "parts": [part.name for part in new_parts]},
        )
        for part in new_parts:
            state.covered.add(part.partition, part.first_block, part.last_block)

    def _read_hashes_into(self, key_filter: KeyFilter, condition: str, parameters: dict[str, Any]) -> None:
        with self._client.query_np_stream(
            "SELECT key_hash FROM {table:Identifier} WHERE meter = {meter:String}" + condition,
            parameters=parameters,
        ) as blocks:
            for block in blocks:
                key_filter.add(np.ascontiguousarray(block, dtype=np.uint64).reshape(-1))

    def _key_table_parts(self) -> list[_Part]:
        rows = self._client.query(
            "SELECT name, partition_id, min_block_number, max_block_number FROM system.parts"
            " WHERE database = currentDatabase() AND table = {table:String} AND active",
            parameters={"table": IDEMPOTENCY_KEYS_TABLE},
        ).result_rows
        return [_Part(*row) for row in rows]

    def _stored_by_key_hash(self, meter: str, keys: set[str], hashes: Hashes) -> set[str]:
        """Which of `keys` the key table holds."""
        return {row[0] for row in self._key_table_rows(meter, keys, hashes.tolist(), "")}

    def _key_table_rows(self, meter: str, keys: set[str], hashes: list[int], more_columns: str) -> list[Any]:
        """The key table's rows of `keys`: a point look-up per hash, then the key itself decides."""
        rows = self._client.query(
            "SELECT idempotency_key" + more_columns + " FROM {table:Identifier}"
            " WHERE meter = {meter:String} AND key_hash IN {hashes:Array(UInt64)}",
            parameters={"table": IDEMPOTENCY_KEYS_TABLE, "meter": meter, "hashes": hashes},
        ).result_rows
        return [row for row in rows if row[0] in keys]

    def stored_events(self, meter: str, keys: Sequence[str]) -> dict[str, EventRecord]:
        """The stored event of each of `keys` that has one: what a duplicate is answered with.

        The key table says where each event sits in usage_events (subject and
        hour lead its sorting key), so this reads a granule per key there too.
        Only duplicates of unary and bulk calls ask, which are few.
        """
        if not keys:
            return {}
        places = self._key_table_rows(
            meter, set(keys), [key_hash(key) for key in keys], ", subject, toStartOfHour(timestamp)"
        )
        if not places:
            return {}
        rows = self._client.query(
            "SELECT idempotency_key, subject, toUnixTimestamp64Micro(timestamp), quantity, metadata,"
            " toUnixTimestamp64Micro(ingested_at)"
            " FROM {table:Identifier} FINAL"
            " WHERE meter = {meter:String} AND subject IN {subjects:Array(String)}"
            " AND toStartOfHour(timestamp) IN {hours:Array(DateTime('UTC'))}"
            " AND idempotency_key IN {keys:Array(String)}"
            " ORDER BY ingested_at"
            " SETTINGS do_not_merge_across_partitions_select_final = 1",
            parameters={
                "table": EVENTS_TABLE,
                "meter": meter,
                "subjects": sorted({subject for _, subject, _ in places}),
                "hours": sorted({hour for _, _, hour in places}),
                "keys": sorted({key for key, _, _ in places}),
            },
        ).result_rows
        found: dict[str, EventRecord] = {}
        for key, subject, timestamp_us, quantity, metadata, ingested_at_us in rows:
            # Events stored twice under one key before migration 5: the first counts as the stored one.
            found.setdefault(key, EventRecord(key, subject, timestamp_us, quantity, dict(metadata), ingested_at_us))
        return found

    def stored_identities(self, meter: str, identities: Sequence[Identity]) -> set[Identity]:
        """The subset of `identities` (client time, key) stored for `meter` at that client time.

        How a resent batch is found cheaply (`stored_keys`). The identity
        table is sorted by client time, then key hash. A batch's
        events were sent for nearby times, so the look-up names the few time
        ranges they fall in and ClickHouse reads only those granules, not one
        granule per key over the whole history. Usually those ranges hold
        little besides the batch's own retries, so the look-up reads all of
        it (up to a bound) and compares keys here. Ranges that hold more
        (streams far apart in event time, a backfill into busy history) and
        events sent without a timestamp (they all share NO_CLIENT_TIME) are
        searched by key hash inside ClickHouse instead: it reads only rows
        that may match, but building and probing the hash set costs about
        twice as much for a batch of new events. A meter whose ranges were
        crowded is searched by hash for CROWDED_SECONDS before trying again.
        """
        if not identities:
            return set()
        wanted = set(identities)
        ranges = _time_ranges(list(map(operator.itemgetter(0), identities)))
        in_ranges, parameters = _ranges_condition(ranges)
        parameters["meter"] = meter
        query = (
            f"SELECT client_time_us, idempotency_key FROM {EVENT_IDENTITIES_TABLE}"
            f" WHERE meter = {{meter:String}} AND ({in_ranges})"
        )
        if ranges[0][0] > NO_CLIENT_TIME and self._crowded_until.get(meter, 0.0) <= time.monotonic():
            parameters["most"] = most = RANGE_READ_ROWS_PER_KEY * len(wanted) + self._range_read_min_rows
            rows = self._client.query(f"{query} LIMIT {{most:UInt64}}", parameters=parameters).result_rows
            if len(rows) < most:
                return wanted.intersection(rows)
            self._crowded_until[meter] = time.monotonic() + CROWDED_SECONDS
        parameters["hashes"] = _Packed([key_hash(key) for _, key in wanted])
        rows = self._client.query(f"{query} AND key_hash IN {_UNPACKED_HASHES}", parameters=parameters).result_rows
        return wanted.intersection(rows)

    def insert(self, rows: Sequence[EventRow]) -> None:
        """Insert in one block; returns once ClickHouse has written it.

        Events of hours that have ended first mark their hours, so that
        queries read those hours from events until their rollups are built
        again (storage/rollups.py); a block of current events writes no mark.
        """
        if not rows:
            return
        block = EventBlock.of(rows)
        now_us = time.time_ns() // 1000
        if min(block.timestamps_us) < now_us // HOUR_US * HOUR_US:  # one C-level pass: most blocks are current
            late = late_hours(zip(block.meters, block.timestamps_us, strict=True), now_us)
            if late:
                self._rollups.mark(late)
        self._client.insert(
            EVENTS_TABLE,
            block.insert_columns(),
            column_names=COLUMN_NAMES,
            column_type_names=COLUMN_TYPES,
            column_oriented=True,
            settings={
                # A backfill batch may touch every month of a 10-year retention
                # (ClickHouse refuses more than 100 partitions per block by default).
                "max_partitions_per_insert_block": MAX_MONTHS_PER_BLOCK,
                # The writer sends each key once per block, so collapsing copies
                # inside the block only cost time (~2 us per row); merges and
                # FINAL still collapse copies stored by other servers.
                "optimize_on_insert": 0,
            },
        )

    def count(self, meter: str) -> int:
        """Distinct stored events of a meter."""
        result = self._client.query(
            f"SELECT count() FROM {EVENTS_TABLE} FINAL WHERE meter = {{meter:String}}",
            parameters={"meter": meter},
        )
        return int(result.result_rows[0][0])

    def has_events(self, meter: str) -> bool:
        """Whether a meter has stored any event; stops at the first one, however many there are."""
        result = self._client.query(
            f"SELECT 1 FROM {EVENTS_TABLE} WHERE meter = {{meter:String}} LIMIT 1",
            parameters={"meter": meter},
        )
        return bool(result.result_rows)

    def delete_meter_events(self, meter: str) -> None:
        """Remove every event of a meter and its keys (the meter is deleted with force).

        A loaded filter keeps the deleted keys: they only cost false positives.
        """
        for table in EVENT_TABLES:
            self._client.command(
                "DELETE FROM {table:Identifier} WHERE meter = {meter:String}",
                parameters={"table": table, "meter": meter},
            )

    def set_retention(self, meter: str, days: int) -> None:
        """Re-point the TTL of stored events and keys after the meter's retention changed."""
        for table in EVENT_TABLES:
            self._client.command(
                "ALTER TABLE {table:Identifier} UPDATE retention_days = {days:UInt16}"
                " WHERE meter = {meter:String}",
                parameters={"table": table, "meter": meter, "days": days},
            )


def _ranges_condition(ranges: list[tuple[int, int]]) -> tuple[str, dict[str, object]]:
    condition = " OR ".join(
        f"client_time_us BETWEEN {{from_{i}:Int64}} AND {{to_{i}:Int64}}" for i in range(len(ranges))
    )
    parameters: dict[str, object] = {}
    for i, (first, last) in enumerate(ranges):
        parameters[f"from_{i}"], parameters[f"to_{i}"] = first, last
    return condition, parameters


def _time_ranges(times: list[int]) -> list[tuple[int, int]]:
    """Ranges covering `times`: split where they leave a gap wider than a second, at the widest gaps first.

    Each range costs the query ~1.5 ms; a second of stored events between two
    times costs less to read (the sparse index skips all but a few granules).
    A batch holds up to 20,000 times, and this runs with the GIL: a batch
    spanning under a second (the usual live stream) needs no sort, and the
    gaps of a longer one are found with C-level iterators over `times` in
    batch order, which is a few ascending runs that sort quickly.
    """
    first, last = min(times), max(times)
    if last - first <= MIN_LOOKUP_GAP_US:
        return [(first, last)]
    ordered = sorted(times)
    steps = map(operator.sub, itertools.islice(ordered, 1, None), ordered)
    gaps = list(itertools.compress(range(1, len(ordered)), map(MIN_LOOKUP_GAP_US.__lt__, steps)))
    if len(gaps) >= MAX_LOOKUP_RANGES:
        gaps = sorted(heapq.nlargest(MAX_LOOKUP_RANGES - 1, gaps, key=lambda i: ordered[i] - ordered[i - 1]))
    bounds = [0, *gaps, len(ordered)]
    return [(ordered[start], ordered[end - 1]) for start, end in itertools.pairwise(bounds)]


class _Packed:
    """UInt64 values bound as one String parameter: RowBinary, in hex.

    A look-up sends thousands of hashes. As an Array(UInt64) parameter
    ClickHouse parsed them at ~1.3 us each, and clickhouse-connect formats a
    list item by item; packed they cost a fraction of that (the SQL reads
    them back with the `format` table function, _UNPACKED_HASHES). Being no
    `str`, the value is sent as `str(value)`, without per-character escaping.
    """

    __slots__ = ("_hex",)

    def __init__(self, values: Sequence[int]) -> None:
        self._hex = struct.pack(f"<{len(values)}Q", *values).hex()

    def __str__(self) -> str:
        return self._hex


# The `hashes` parameter as an IN set; a subquery, so the primary key can use it.
_UNPACKED_HASHES = "(SELECT value FROM format(RowBinary, 'value UInt64', unhex({hashes:String})))"
