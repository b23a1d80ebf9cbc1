"""Query benchmark: usage queries at 10 million and 100 million stored events, over gRPC and REST.

Generates the events inside the embedded engine (`INSERT ... SELECT FROM
numbers()` into usage_events, so the schema's views fill the key tables and
mark the hours, as an import would), builds the hourly rollups as the
server's builder does, then starts `openspanner serve` on that data, waits
until its builder has caught up, and times each query over loopback.

    python bench/query.py                                   # 10M events in a temporary dir
    python bench/query.py --events 10000000 100000000 --data-dir /var/tmp/q   # both, kept: a rerun skips loading

Data: one meter (sum), 1,000 subjects, 90 days up to now, four dimensions
(model: 8 values, provider: 3, region: 5, cached: boolean). Prints the load
and build times, then p50/p99 of each query per size and, with two sizes,
the ratio of the larger to the smaller.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter  # noqa: E402
from openspanner.storage.meters import MeterStore  # noqa: E402
from openspanner.storage.rollups import RollupStore, build_settled  # noqa: E402
from openspanner.storage.schema import EVENTS_TABLE, migrate  # noqa: E402
from openspanner.v1 import query_pb2  # noqa: E402
from tests.harness import Client, ServerProcess, start_server  # noqa: E402
from tests.support.http_calls import http  # noqa: E402

DATABASE = "bench_query"
METER = "ai_tokens"
SUBJECTS = 1000
DAYS = 90
MODELS = [f"model-{i}" for i in range(8)]
PROVIDERS = ["openai", "anthropic", "google"]
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]
BATCH = 5_000_000
LOADED_MARKER = "loaded-events"
# How long to wait for the server's builder to build the hours since the load.
CATCH_UP_SECONDS = 600

# One generated event per number n: spread evenly over the 90 days, the same
# values the bench's earlier loader gave event n.
GENERATE_SQL = f"""
    INSERT INTO {EVENTS_TABLE} (meter, subject, timestamp, idempotency_key, quantity, metadata, ingested_at,
        retention_days, client_time_us)
    SELECT {{meter:String}}, concat('org_', toString((number * 7919) % {SUBJECTS})),
        fromUnixTimestamp64Micro(toInt64({{first_us:Int64}} + number * {{step_us:Int64}}), 'UTC'),
        concat('evt-', toString(number)), toFloat64(100 + number % 900),
        map('model', concat('model-', toString(number % 8)),
            'provider', arrayElement({{providers:Array(String)}}, number % 3 + 1),
            'region', arrayElement({{regions:Array(String)}}, intDiv(number, 7) % 5 + 1),
            'cached', if(number % 4 = 0, 'true', 'false')),
        fromUnixTimestamp64Micro({{now_us:Int64}}, 'UTC'), 365,
        toInt64({{first_us:Int64}} + number * {{step_us:Int64}})
    FROM numbers({{offset:UInt64}}, {{count:UInt64}})
"""


def load(data_dir: Path, events: int) -> tuple[float, float]:
    """Generate `events` events (unless already there) and build their rollups (unless already
    built: a stopped build resumes); seconds taken by each."""
    marker = data_dir / LOADED_MARKER
    path = (data_dir / "clickhouse").resolve()
    path.mkdir(parents=True, exist_ok=True)
    admin = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    admin.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": DATABASE})
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}", database=DATABASE)
    migrate(client)
    loaded = 0.0
    if not (marker.exists() and marker.read_text() == str(events)):
        loaded = generate(client, events)
        marker.write_text(str(events))
    started = time.perf_counter()
    hours = build_settled(RollupStore(client), MeterStore(client).load_all(), settle_ms=0)
    built = time.perf_counter() - started
    print(f"  built the rollups of {hours:,} hours in {built:.0f} s", flush=True)
    client.close()
    admin.close()
    return loaded, built


def generate(client: Any, events: int) -> float:
    """The meter and its events; returns the seconds the events took."""
    MeterStore(client).save(Meter(
        name=METER, aggregation=Aggregation.SUM, unit="token", event_retention_days=365,
        dimensions=(
            Dimension("model", DimensionType.STRING), Dimension("provider", DimensionType.STRING),
            Dimension("region", DimensionType.STRING), Dimension("cached", DimensionType.BOOLEAN),
        ),
        create_time=datetime.now(UTC) - timedelta(minutes=1), update_time=datetime.now(UTC),
    ))
    now_us = time.time_ns() // 1000
    first_us = now_us - DAYS * 86_400 * 1_000_000
    started = time.perf_counter()
    for offset in range(0, events, BATCH):
        client.command(GENERATE_SQL, parameters={
            "meter": METER, "first_us": first_us, "step_us": DAYS * 86_400 * 1_000_000 // events,
            "providers": PROVIDERS, "regions": REGIONS, "now_us": now_us, "offset": offset,
            "count": min(BATCH, events - offset),
        }, settings={"max_partitions_per_insert_block": 1000, "optimize_on_insert": 0})
        print(f"  loaded {min(offset + BATCH, events):,} events, {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def timed(runs: int, call: Callable[[int], Any]) -> tuple[float, float]:
    """p50 and p99 in ms of `runs` calls after two warm-up calls."""
    for i in range(2):
        call(i)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(len(samples) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000], help="one or more sizes")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per query")
    parser.add_argument("--data-dir", type=Path, help="keep the data here, one dir per size (reused when loaded)")
    args = parser.parse_args()

    figures: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_dir or Path(scratch)
        print(f"machine: {os.cpu_count()} cores; embedded engine; data in {root}")
        for events in args.events:
            data_dir = root / f"events-{events}"
            data_dir.mkdir(parents=True, exist_ok=True)
            loaded, built = load(data_dir, events)
            if loaded:
                print(f"load: {events:,} events generated in {loaded:.0f} s ({events / loaded:,.0f} events/s),"
                      f" rollups built in {built:.0f} s")
            else:
                print(f"load: reused {events:,} events already in {data_dir}; rollups built in {built:.0f} s")
            server = start_server(data_dir, DATABASE, OPENSPANNER_LOG_LEVEL="info")
            try:
                wait_for_rollups(server)
                figures[events] = run_queries(server, args.runs, events)
            except Exception:
                print("\n".join(line for line in server.log_lines if '"error"' in line)[-4000:])
                raise
            finally:
                server.stop()
    if len(figures) > 1:
        print_ratios(figures)


def wait_for_rollups(server: ServerProcess) -> None:
    """Until the server's builder has built every settled hour (the hours since the load)."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while not any("rollups caught up" in line for line in server.log_lines):
        if time.monotonic() > deadline:
            raise RuntimeError("the rollups did not catch up")
        time.sleep(0.5)


def print_ratios(figures: dict[int, dict[str, tuple[float, float]]]) -> None:
    small, large = min(figures), max(figures)
    print(f"\n{'query':<58}{'p50':>8}{'p99':>8}{'p50':>8}{'p99':>8}{'p99 ratio':>11}")
    print(f"{'':<58}{f'at {small // 1_000_000}M':>16}{f'at {large // 1_000_000}M':>16}")
    for name, (p50, p99) in figures[small].items():
        big50, big99 = figures[large][name]
        print(f"{name:<58}{p50:>6.0f}ms{p99:>6.0f}ms{big50:>6.0f}ms{big99:>6.0f}ms{big99 / p99:>10.2f}x")


def run_queries(server: ServerProcess, runs: int, events: int) -> dict[str, tuple[float, float]]:
    client = Client(server.address)
    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start, month_end = today - timedelta(days=30), today
    hour_now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def usage(**fields: Any) -> query_pb2.QueryUsageResponse:
        request = query_pb2.QueryUsageRequest(meter=METER, **fields)
        return client.call(client.query.QueryUsage, request)

    def daily_one_subject(i: int) -> None:
        answer = usage(start_time=month_start, end_time=month_end, window_size=query_pb2.day,
                       time_zone="Europe/Berlin", subjects=[f"org_{(i * 37) % SUBJECTS}"])
        assert len(answer.rows) == 30

    def hourly_all_subjects(i: int) -> None:
        end = hour_now - timedelta(days=i % 30)
        answer = usage(start_time=end - timedelta(days=1), end_time=end, window_size=query_pb2.hour)
        assert len(answer.rows) == 24

    def breakdown(i: int) -> None:
        answer = usage(start_time=month_start, end_time=month_end, group_by=["model", "region"])
        assert len(answer.rows) == 40

    def rest_search(i: int) -> None:
        status, buckets = http(server, "POST", "/v1/usages/search", {
            "meter": METER, "from": month_start.isoformat(), "to": month_end.isoformat(), "bucket_size": "day",
            "time_zone": "Europe/Berlin", "group_by": ["model", "region"],
        })
        assert status == 200, buckets
        assert len(buckets) == 100  # the default limit, of the 30 x 40 buckets

    def list_first_page(i: int) -> None:
        request = query_pb2.ListEventsRequest(meter=METER, page_size=100)
        request.start_time.FromDatetime(month_start)
        answer = client.call(client.query.ListEvents, request)
        assert len(answer.events) == 100

    scenarios = [
        ("a month of daily totals, one subject (Europe/Berlin)", daily_one_subject),
        ("hourly series over a day, all subjects", hourly_all_subjects),
        ("breakdown by model x region over 30 days", breakdown),
        ("POST /v1/usages/search, model x region by day, 30 days", rest_search),
        ("ListEvents first page (100 newest of 30 days)", list_first_page),
    ]
    print(f"{'query over ' + format(events, ',') + ' events':<58}{'p50':>9}{'p99':>9}")
    figures = {}
    for name, call in scenarios:
        p50, p99 = timed(runs, call)
        figures[name] = (p50, p99)
        print(f"{name:<58}{p50:>7.0f}ms{p99:>7.0f}ms", flush=True)
    client.close()
    return figures


if __name__ == "__main__":
    main()
