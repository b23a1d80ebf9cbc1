"""Query benchmark: 10 million events, then QueryUsage/ListEvents latency over gRPC.

Loads the events into the embedded engine through the storage layer
(EventStore.insert, the writer ingest uses, key view included), then starts
`openspanner serve` on that data and times each query over loopback gRPC.

    python bench/query.py                          # 10M events in a temporary dir
    python bench/query.py --data-dir /tmp/q10m     # keep the data; a second run skips loading

Data: one meter (sum), 1,000 subjects, 90 days up to now, four dimensions
(model: 8 values, provider: 3, region: 5, cached: boolean). Prints how long
the load took, then p50/p99 of each query.
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
from openspanner.storage.events import EventRow, EventStore  # noqa: E402
from openspanner.storage.meters import MeterStore  # noqa: E402
from openspanner.storage.schema import migrate  # noqa: E402
from openspanner.v1 import query_pb2  # noqa: E402
from tests.harness import Client, start_server  # noqa: E402

DATABASE = "bench_query"
METER = "ai_tokens"
SUBJECTS = 1000
DAYS = 90
MODELS = [f"model-{i}" for i in range(8)]
PROVIDERS = ["openai", "anthropic", "google"]
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]
BATCH = 250_000
LOADED_MARKER = "loaded-events"


def load(data_dir: Path, events: int) -> float:
    """Insert `events` events through EventStore; returns seconds taken (0 if already loaded)."""
    marker = data_dir / LOADED_MARKER
    if marker.exists() and marker.read_text() == str(events):
        return 0.0
    path = (data_dir / "clickhouse").resolve()
    path.mkdir(parents=True, exist_ok=True)
    admin = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    admin.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": DATABASE})
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}", database=DATABASE)
    migrate(client)
    MeterStore(client).save(Meter(
        name=METER, aggregation=Aggregation.SUM, unit="token", event_retention_days=365,
        dimensions=(
            Dimension("model", DimensionType.STRING), Dimension("provider", DimensionType.STRING),
            Dimension("region", DimensionType.STRING), Dimension("cached", DimensionType.BOOLEAN),
        ),
        create_time=datetime.now(UTC), update_time=datetime.now(UTC),
    ))
    store = EventStore(client)
    now_us = time.time_ns() // 1000
    first_us = now_us - DAYS * 86_400 * 1_000_000
    step_us = DAYS * 86_400 * 1_000_000 // events
    started = time.perf_counter()
    for offset in range(0, events, BATCH):
        rows = [
            EventRow(
                meter=METER,
                idempotency_key=f"evt-{i}",
                subject=f"org_{(i * 7919) % SUBJECTS}",
                timestamp_us=first_us + i * step_us,
                quantity=float(100 + i % 900),
                metadata={
                    "model": MODELS[i % 8], "provider": PROVIDERS[i % 3],
                    "region": REGIONS[(i // 7) % 5], "cached": "true" if i % 4 == 0 else "false",
                },
                retention_days=365,
                client_time_us=first_us + i * step_us,
                received_us=now_us,
            )
            for i in range(offset, min(offset + BATCH, events))
        ]
        store.insert(rows)
        done = min(offset + BATCH, events)
        print(f"  loaded {done:,} events, {time.perf_counter() - started:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    client.close()
    admin.close()
    marker.write_text(str(events))
    return elapsed


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
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per query")
    parser.add_argument("--data-dir", type=Path, help="keep the data here (reused when already loaded)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"machine: {os.cpu_count()} cores; embedded engine; data in {data_dir}")
        seconds = load(data_dir, args.events)
        if seconds:
            print(f"load: {args.events:,} events through EventStore.insert in {seconds:.0f} s"
                  f" ({args.events / seconds:,.0f} events/s)")
        else:
            print(f"load: reused {args.events:,} events already in {data_dir}")
        server = start_server(data_dir, DATABASE, OPENSPANNER_LOG_LEVEL="info")
        try:
            run_queries(Client(server.address), args.runs, args.events)
        except Exception:
            print("\n".join(line for line in server.log_lines if '"error"' in line)[-4000:])
            raise
        finally:
            server.stop()


def run_queries(client: Client, runs: int, events: int) -> None:
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

    def list_first_page(i: int) -> None:
        request = query_pb2.ListEventsRequest(meter=METER, page_size=100)
        request.start_time.FromDatetime(month_start)
        answer = client.call(client.query.ListEvents, request)
        assert len(answer.events) == 100

    scenarios = [
        ("a month of daily totals, one subject (Europe/Berlin)", daily_one_subject),
        ("hourly series over a day, all subjects", hourly_all_subjects),
        ("breakdown by model x region over 30 days", breakdown),
        ("ListEvents first page (100 newest of 30 days)", list_first_page),
    ]
    print(f"{'query over ' + format(events, ',') + ' events':<58}{'p50':>9}{'p99':>9}")
    for name, call in scenarios:
        p50, p99 = timed(runs, call)
        print(f"{name:<58}{p50:>7.0f}ms{p99:>7.0f}ms", flush=True)


if __name__ == "__main__":
    main()
