"""Duplicate look-up benchmark: a batch's look-up at 1 million and at 100 million stored events.

Target (from the issue): the duplicate look-up per batch at 100 million
stored events costs at most 1.5 times what it costs at 1 million. Both sizes
are measured in one run, on one engine, so the machine's load of the hour
weighs on both; the round trip of a trivial query is printed beside them as
the fixed cost every look-up pays.

Each size is a database of its own in one data dir, on the embedded engine,
opened as the server opens it and migrated. The engine generates the events
itself (INSERT ... SELECT FROM numbers(), in chunks; the materialized views
fill event_identities and idempotency_keys inside the same INSERT): one
meter, 1,000 subjects, unique keys 'k-<n>', two string dimensions, retention
365 days, client_time_us = the timestamp. Events come in runs of 100,000 at
1,000 a second (a stream's window), the runs spread evenly over the 90 days
before the load, so a contiguous stretch of the sequence is what a stream
would resend, at every size.

At each size a fresh EventStore times `stored_keys(meter, rows,
key_hashes(rows))` (key_hashes included) for batches of --batch rows, after
two untimed warm-up batches:

  a. new events of a live stream (new keys, times within the last second), sole_writer=True
  b. a resent batch: stored events as they were stored (same keys, same client times)
  c. stored keys resent with new timestamps (now): every key goes to idempotency_keys
  d. as a, with sole_writer=False: a server sharing a ClickHouse server, whose filter
     catches up before each look-up on what another server inserted since (1,000 events)

and checks each answer (a and d find nothing, b and c find every key). The
filter's load (on the store's first look-up for the meter) is a start-up
cost and is printed apart. Where the time goes is printed per case: the
queries the store sent, per table, wall time (client included) and the
engine's own time; what the engine read for it (parts, granules, rows, bytes:
system.events before and after each look-up); the keys the filter let through.

    python bench/dedup.py                                      # 1M and 100M: 10-15 minutes, ~6 GB of disk
    python bench/dedup.py --data-dir /tmp/dedup                # keep the data; a later run reuses it
    python bench/dedup.py --sizes 100000,1000000 --batches 5   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openspanner.logging import configure_logging  # noqa: E402
from openspanner.storage.events import EventRow, EventStore, key_hashes  # noqa: E402
from openspanner.storage.schema import (  # noqa: E402
    EVENT_IDENTITIES_TABLE,
    EVENTS_TABLE,
    IDEMPOTENCY_KEYS_TABLE,
    migrate,
)
from tests.harness import storage_at  # noqa: E402

METER = "ai_tokens"
SUBJECTS = 1000
DAYS = 90
RETENTION_DAYS = 365
DAY_US = 86_400 * 1_000_000
# Events come in runs (a stream's window): RUN_EVENTS events RUN_STEP_US apart.
RUN_EVENTS = 100_000
RUN_STEP_US = 1_000
# The stored history ends this long before the load, so a live batch is later than all of it.
HISTORY_END_GAP_US = 600 * 1_000_000
WARMUP_BATCHES = 2
# Disk the three tables took per event in a 1M smoke run (63 bytes), with room for merges, which write copies.
DISK_BYTES_PER_EVENT = 150
TABLES = (EVENTS_TABLE, EVENT_IDENTITIES_TABLE, IDEMPOTENCY_KEYS_TABLE)
METADATA = {"model": "model-0", "region": "eu-west"}

LOAD_SQL = f"""
    INSERT INTO {EVENTS_TABLE} (meter, subject, timestamp, idempotency_key, quantity, metadata,
                                ingested_at, retention_days, client_time_us)
    SELECT {{meter:String}}, concat('org_', toString(n % {SUBJECTS})),
           fromUnixTimestamp64Micro({{first_us:Int64}} + intDiv(n, {RUN_EVENTS}) * {{spacing_us:Int64}}
                                    + (n % {RUN_EVENTS}) * {RUN_STEP_US}, 'UTC') AS ts,
           concat('k-', toString(n)), toFloat64(1 + n % 100),
           map('model', concat('model-', toString(n % 8)), 'region', ['eu-west', 'us-east', 'ap-south'][n % 3 + 1]),
           now64(6), {RETENTION_DAYS}, toUnixTimestamp64Micro(ts)
    FROM (SELECT toInt64(number) AS n FROM numbers({{offset:UInt64}}, {{rows:UInt64}}))
"""


# --- the stored history -------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where stored event n sits in time, for a database of `events` events loaded at `epoch_us`."""

    events: int
    epoch_us: int

    @property
    def runs(self) -> int:
        return -(-self.events // RUN_EVENTS)

    @property
    def first_us(self) -> int:
        return self.epoch_us - DAYS * DAY_US

    @property
    def spacing_us(self) -> int:
        """From the start of one run to the next: the runs fill the 90 days."""
        span = DAYS * DAY_US - HISTORY_END_GAP_US - RUN_EVENTS * RUN_STEP_US
        return span // max(self.runs - 1, 1)

    def time_us(self, n: int) -> int:
        return self.first_us + (n // RUN_EVENTS) * self.spacing_us + (n % RUN_EVENTS) * RUN_STEP_US

    def stored_row(self, n: int) -> EventRow:
        """Stored event n as its client sent it (LOAD_SQL's row, in EventRow form)."""
        at = self.time_us(n)
        return EventRow(METER, f"k-{n}", f"org_{n % SUBJECTS}", at, float(1 + n % 100), METADATA,
                        RETENTION_DAYS, at, at)


def database_for(events: int) -> str:
    return f"bench_dedup_{events}"


def marker_path(data_dir: Path, events: int) -> Path:
    return data_dir / f"{database_for(events)}.json"


def reusable_layout(data_dir: Path, events: int) -> Layout | None:
    """The layout of a database a previous run loaded completely in this data dir, if any."""
    marker = marker_path(data_dir, events)
    if not marker.exists():
        return None
    loaded = json.loads(marker.read_text())
    return Layout(loaded["events"], loaded["epoch_us"]) if loaded["events"] == events else None


def drop_database(data_dir: Path, database: str) -> None:
    """Remove what an interrupted load left, so that a database is either complete or absent."""
    with storage_at(data_dir, "default") as client:
        client.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", parameters={"db": database})


def load(client: Any, data_dir: Path, events: int, chunk: int) -> tuple[Layout, float]:
    """Load `events` events, `chunk` per INSERT; returns their layout and the seconds it took."""
    layout = Layout(events, time.time_ns() // 1000)
    started = time.perf_counter()
    for offset in range(0, events, chunk):
        rows = min(chunk, events - offset)
        client.command(LOAD_SQL, parameters={
            "meter": METER, "first_us": layout.first_us, "spacing_us": layout.spacing_us,
            "offset": offset, "rows": rows,
        }, settings={"optimize_on_insert": 0, "max_partitions_per_insert_block": 200})
        elapsed = time.perf_counter() - started
        print(f"    {offset + rows:>12,} events  {elapsed:6.0f} s  {(offset + rows) / elapsed:>9,.0f} events/s",
              flush=True)
    seconds = time.perf_counter() - started
    for table in TABLES:
        stored = count_rows(client, table)
        if stored != events:
            raise SystemExit(f"{table} holds {stored:,} rows after loading {events:,} events")
    marker_path(data_dir, events).write_text(json.dumps({"events": events, "epoch_us": layout.epoch_us}))
    return layout, seconds


def count_rows(client: Any, table: str) -> int:
    return int(client.query("SELECT count() FROM {t:Identifier} WHERE meter = {m:String}",
                            parameters={"t": table, "m": METER}).result_rows[0][0])


def settle(client: Any, database: str, most_seconds: float) -> tuple[float, int]:
    """Wait until the database has no merge running, at most `most_seconds`; (seconds waited, merges left)."""
    started = time.monotonic()
    while True:
        running = int(client.query("SELECT count() FROM system.merges WHERE database = {db:String}",
                                   parameters={"db": database}).result_rows[0][0])
        waited = time.monotonic() - started
        if not running or waited >= most_seconds:
            return waited, running
        time.sleep(1)


def table_sizes(client: Any, database: str) -> str:
    rows = client.query(
        "SELECT table, count(), sum(bytes_on_disk) FROM system.parts"
        " WHERE database = {db:String} AND active AND table IN {tables:Array(String)} GROUP BY table",
        parameters={"db": database, "tables": list(TABLES)},
    ).result_rows
    by_table = {table: (int(parts), int(size)) for table, parts, size in rows}
    return ", ".join(
        f"{table} {by_table.get(table, (0, 0))[1] / 1e6:,.0f} MB in {by_table.get(table, (0, 0))[0]} parts"
        for table in TABLES
    )


# --- timing the store's queries -----------------------------------------------------------


@dataclass
class Spent:
    """The queries of one look-up, to one table."""

    queries: int = 0
    wall_ms: float = 0.0  # around client.query: engine, parameters and results included
    engine_ms: float = 0.0  # the engine's own elapsed time (result summary)


class QueryClock:
    """The storage client, timing every query the store sends, by the table it reads."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.spent: dict[str, Spent] = defaultdict(Spent)

    def query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = self._client.query(query, *args, **kwargs)
        result.result_rows  # noqa: B018 -- rows are parsed when first read: inside the clock (then cached)
        wall = time.perf_counter() - started
        parameters = kwargs.get("parameters") or {}
        table = EVENT_IDENTITIES_TABLE if EVENT_IDENTITIES_TABLE in query else parameters.get("table", "other")
        spent = self.spent[table]
        spent.queries += 1
        spent.wall_ms += wall * 1000
        summary = getattr(result, "summary", None) or {}
        spent.engine_ms += int(summary.get("elapsed_ns", 0)) / 1e6
        return result

    @property
    def raw(self) -> Any:
        """The client itself, for queries that are not the store's."""
        return self._client

    def take(self) -> dict[str, Spent]:
        spent, self.spent = self.spent, defaultdict(Spent)
        return dict(spent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


# --- the cases ----------------------------------------------------------------------------


@dataclass
class Sample:
    total_ms: float
    hashes_ms: float
    candidates: int  # keys the filter did not rule out (all, without a filter)
    spent: dict[str, Spent]
    read: dict[str, int]  # the engine's counters over the look-up (READ_COUNTERS)


@dataclass
class Result:
    case: str
    samples: list[Sample] = field(default_factory=list)
    wrong: int = 0  # batches whose answer was not the expected one

    def _sorted(self) -> list[float]:
        return sorted(s.total_ms for s in self.samples)

    @property
    def p50(self) -> float:
        return statistics.median(self._sorted())

    @property
    def p99(self) -> float:
        times = self._sorted()
        return times[min(len(times) - 1, max(0, round(len(times) * 0.99) - 1))]

    def breakdown(self) -> str:
        n = len(self.samples)
        parts = [f"key_hashes {sum(s.hashes_ms for s in self.samples) / n:.1f} ms",
                 f"{sum(s.candidates for s in self.samples) / n:,.0f} keys past the filter"]
        queried = 0.0
        for table in (EVENT_IDENTITIES_TABLE, IDEMPOTENCY_KEYS_TABLE, "other"):
            spent = [s.spent[table] for s in self.samples if table in s.spent]
            if not spent:
                continue
            wall = sum(x.wall_ms for x in spent) / n
            queried += wall
            parts.append(f"{table}: {sum(x.queries for x in spent) / n:.1f} queries {wall:.1f} ms"
                         f" (engine {sum(x.engine_ms for x in spent) / n:.1f} ms)")
        rest = statistics.fmean(s.total_ms - s.hashes_ms for s in self.samples) - queried
        parts.append(f"the rest of stored_keys (filter test, Python lists and sets) {rest:.1f} ms")

        def mean(counter: str) -> float:
            return sum(s.read.get(counter, 0) for s in self.samples) / n

        read = (f"engine read per batch: {mean('SelectedParts'):,.0f} parts, {mean('SelectedMarks'):,.0f} granules,"
                f" {mean('SelectedRows'):,.0f} rows, {mean('ReadCompressedBytes') / 1e6:,.1f} MB compressed,"
                f" {mean('OSReadBytes') / 1e6:,.1f} MB from disk")
        return "; ".join(parts) + "\n      " + read


def spread_over_last_second(count: int) -> list[int]:
    """`count` timestamps (us), evenly over the second before now: a live stream's batch."""
    now_us = time.time_ns() // 1000
    return [now_us - 1_000_000 + i * 1_000_000 // count for i in range(count)]


def live_rows(batch: int, tag: str) -> list[EventRow]:
    """A live stream's next batch: new keys, times within the last second."""
    return [EventRow(METER, f"new-{tag}-{i}", f"org_{i % SUBJECTS}", at, 1.0, METADATA, RETENTION_DAYS, at, at)
            for i, at in enumerate(spread_over_last_second(batch))]


def restamped(rows: list[EventRow]) -> list[EventRow]:
    """The same keys sent again with new timestamps (a client stamping now() on each attempt)."""
    return [EventRow(r.meter, r.idempotency_key, r.subject, at, r.quantity, r.metadata, r.retention_days, at, at)
            for r, at in zip(rows, spread_over_last_second(len(rows)), strict=True)]


def stored_batches(layout: Layout, batch: int, count: int) -> tuple[list[int], bool]:
    """First sequence numbers of `count` contiguous batches of stored events, each inside one run,
    spread over the history; (starts, whether some repeat because the history holds fewer)."""
    per_run = RUN_EVENTS // batch
    slots = [run * RUN_EVENTS + k * batch for run in range(layout.runs) for k in range(per_run)
             if run * RUN_EVENTS + (k + 1) * batch <= layout.events]
    if len(slots) >= count:
        return [slots[i * len(slots) // count] for i in range(count)], False
    return [slots[i % len(slots)] for i in range(count)], True


# ClickHouse's cumulative counters (system.events) read around each look-up: what the engine read for it.
READ_COUNTERS = ("SelectedParts", "SelectedMarks", "SelectedRows", "ReadCompressedBytes", "OSReadBytes")


def read_counters(client: Any) -> dict[str, int]:
    rows = client.query("SELECT event, value FROM system.events WHERE event IN {names:Array(String)}",
                        parameters={"names": list(READ_COUNTERS)}).result_rows
    return {event: int(value) for event, value in rows}


def run_case(store: EventStore, clock: QueryClock, case: str, batches: int, make_rows: Callable[[int], list[EventRow]],
             expect_all: bool, filtered: bool) -> Result:
    """Warm-up batches, then `batches` timed look-ups; each answer checked."""
    result = Result(case)
    for j in range(WARMUP_BATCHES + batches):
        rows = make_rows(j)
        clock.take()
        before = read_counters(clock.raw)
        started = time.perf_counter()
        hashes = key_hashes(rows)
        hashed = time.perf_counter()
        found = store.stored_keys(METER, rows, hashes)
        done = time.perf_counter()
        spent = clock.take()
        after = read_counters(clock.raw)
        read = {counter: after.get(counter, 0) - before.get(counter, 0) for counter in READ_COUNTERS}
        expected = {row.idempotency_key for row in rows} if expect_all else set()
        if found != expected:
            result.wrong += 1
            print(f"    WRONG: batch {j} found {len(found):,} stored keys, expected {len(expected):,}")
        if j < WARMUP_BATCHES:
            continue
        key_filter = store._meter_keys[METER].key_filter
        candidates = int(np.count_nonzero(key_filter.might_contain(hashes))) if filtered else len(rows)
        result.samples.append(Sample((done - started) * 1000, (hashed - started) * 1000, candidates, spent, read))
    print(f"  {case:<46} p50 {result.p50:8.1f} ms  p99 {result.p99:8.1f} ms"
          f"{'' if not result.wrong else f'  {result.wrong} WRONG'}")
    print(f"      {result.breakdown()}")
    return result


def round_trip_ms(client: Any, query: str, runs: int = 20) -> float:
    """p50 of a query's round trip, after a warm-up."""
    parameters = {"t": IDEMPOTENCY_KEYS_TABLE, "m": METER}
    client.query(query, parameters=parameters)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.query(query, parameters=parameters)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@dataclass
class SizeFigures:
    events: int
    results: dict[str, Result]
    select_1_ms: float
    count_ms: float
    filter_s: float
    filter_mb: float


CASES = (
    "a. new events (live stream), filter",
    "b. resent batch, stored client times",
    "c. stored keys, new timestamps",
    "d. new events, shared server (catch-up)",
)


def measure(client: Any, layout: Layout, batch: int, batches: int) -> SizeFigures:
    select_1 = round_trip_ms(client, "SELECT 1")
    count = round_trip_ms(client, "SELECT count() FROM {t:Identifier} WHERE meter = {m:String}")
    print(f"  limit: SELECT 1 round trip p50 {select_1:.2f} ms;"
          f" SELECT count() FROM {IDEMPOTENCY_KEYS_TABLE} WHERE meter = ... p50 {count:.2f} ms")

    clock = QueryClock(client)
    store = EventStore(clock, sole_writer=True)  # type: ignore[arg-type]
    started = time.perf_counter()
    store.stored_keys(METER, [], key_hashes([]))  # the meter's first look-up loads its filter
    filter_s = time.perf_counter() - started
    key_filter = store._meter_keys[METER].key_filter
    filter_mb = key_filter.nbytes / 1e6
    print(f"  key filter: {key_filter.keys:,} keys loaded in {filter_s:.2f} s, {filter_mb:,.0f} MB"
          " (start-up, not per batch)")
    clock.take()

    # Distinct stored stretches for b and c, and one more to check the layout with.
    starts, repeated = stored_batches(layout, batch, 2 * (WARMUP_BATCHES + batches) + 1)
    if repeated:
        print(f"  note: the history holds fewer than {len(starts)} distinct {batch:,}-event runs; some batches repeat")
    probe_start = starts.pop()
    resent, restamp = starts[0::2], starts[1::2]

    def stored(first: int) -> list[EventRow]:
        return [layout.stored_row(n) for n in range(first, first + batch)]

    # The data as the bench assumes it: a resent batch is found at its client times, by the time-local table.
    probe = stored(probe_start)
    at_times = store.stored_identities(METER, [row.identity for row in probe])
    if len(at_times) != batch:
        raise SystemExit(f"only {len(at_times):,} of {batch:,} stored events found at their client times:"
                         " the bench's layout does not match the stored data")
    clock.take()

    run = time.time_ns()
    results = {
        CASES[0]: run_case(store, clock, CASES[0], batches, lambda j: live_rows(batch, f"{run}-a{j}"), False, True),
        CASES[1]: run_case(store, clock, CASES[1], batches, lambda j: stored(resent[j]), True, True),
        CASES[2]: run_case(store, clock, CASES[2], batches, lambda j: restamped(stored(restamp[j])), True, True),
    }
    shared = EventStore(clock, sole_writer=False)  # type: ignore[arg-type]
    other_server = EventStore(client)

    def after_another_servers_insert(j: int) -> list[EventRow]:
        other_server.insert(live_rows(1_000, f"{run}-other{j}"))
        return live_rows(batch, f"{run}-d{j}")

    results[CASES[3]] = run_case(shared, clock, CASES[3], batches, after_another_servers_insert, False, True)
    return SizeFigures(layout.events, results, select_1, count, filter_s, filter_mb)


# --- the run ------------------------------------------------------------------------------


@contextmanager
def data_dir_for(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as scratch:
        yield Path(scratch)


def size_label(events: int) -> str:
    return f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"


def print_summary(figures: list[SizeFigures]) -> bool:
    first, last = figures[0], figures[-1]
    ratio_label = f"{size_label(last.events)}/{size_label(first.events)}"
    sizes = "".join(f"{'p50 @' + size_label(f.events):>14}" for f in figures)
    print(f"\n{'case':<46}{sizes}{ratio_label:>11}  {'target':<9}result")
    failed = False
    for case in CASES:
        p50s = "".join(f"{f.results[case].p50:>11.1f} ms" for f in figures)
        ratio = last.results[case].p50 / first.results[case].p50
        if case == CASES[0]:
            verdict = "met" if ratio <= 1.5 else "MISSED"
            target = "<= 1.5"
        else:
            verdict, target = "-", "report"
        wrong = sum(f.results[case].wrong for f in figures)
        if wrong:
            verdict += f", {wrong} batches WRONG"
            failed = True
        print(f"{case:<46}{p50s}{ratio:>11.2f}  {target:<9}{verdict}")
    for label, value in (("limit: SELECT 1 round trip", lambda f: f.select_1_ms),
                         (f"limit: count() of {IDEMPOTENCY_KEYS_TABLE}", lambda f: f.count_ms)):
        values = "".join(f"{value(f):>11.2f} ms" for f in figures)
        print(f"{label:<46}{values}{value(last) / value(first):>11.2f}")
    loads = "".join(f"{f.filter_s:>12.2f} s" for f in figures)
    print(f"{'start-up: key filter load':<46}{loads}")
    megabytes = "".join(f"{f.filter_mb:>11,.0f} MB" for f in figures)
    print(f"{'start-up: key filter size':<46}{megabytes}")
    return not failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,100000000", help="stored events at each measurement, ascending")
    parser.add_argument("--batch", type=int, default=20_000, help="rows per looked-up batch")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per case and size")
    parser.add_argument("--chunk", type=int, default=10_000_000, help="events per loading INSERT")
    parser.add_argument("--settle", type=float, default=60, help="at most this many seconds waiting for merges")
    parser.add_argument("--data-dir", type=Path, help="keep the data here (a later run reuses what was loaded)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or not 0 < args.batch <= min(min(sizes), RUN_EVENTS):
        raise SystemExit(f"--sizes must ascend, and --batch be at most the smallest size and {RUN_EVENTS:,}")
    configure_logging(level="warning")  # not the migrations' and the filter's info lines

    with data_dir_for(args.data_dir) as data_dir:
        to_load = [s for s in sizes if reusable_layout(data_dir, s) is None]
        need = sum(to_load) * DISK_BYTES_PER_EVENT
        free = shutil.disk_usage(data_dir).free
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; embedded engine;"
              f" data in {data_dir} ({free / 1e9:,.0f} GB free, ~{need / 1e9:,.1f} GB needed);"
              f" batches of {args.batch:,}, {args.batches} timed per case after {WARMUP_BATCHES} warm-up")
        if need > free:
            raise SystemExit("not enough disk for these sizes")
        figures = []
        for events in sizes:
            database = database_for(events)
            print(f"\n{events:,} stored events (database {database})")
            layout = reusable_layout(data_dir, events)
            if layout is None:
                drop_database(data_dir, database)
            with storage_at(data_dir, database) as client:
                migrate(client)
                if layout is None:
                    print(f"  load: INSERT ... SELECT FROM numbers(), {args.chunk:,} events each")
                    layout, seconds = load(client, data_dir, events, args.chunk)
                    print(f"  loaded {events:,} events in {seconds:.0f} s ({events / seconds:,.0f} events/s,"
                          " the two views included)")
                else:
                    print(f"  reused: loaded by an earlier run at {time.ctime(layout.epoch_us / 1e6)}")
                waited, running = settle(client, database, args.settle)
                print(f"  merges: {'settled' if not running else f'{running} still running'} after {waited:.0f} s;"
                      f" load average {os.getloadavg()[0]:.1f}")
                print(f"  on disk: {table_sizes(client, database)}")
                figures.append(measure(client, layout, args.batch, args.batches))
        correct = print_summary(figures)
        if args.data_dir is None:
            print(f"\n(removing {data_dir})")
    if not correct:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
