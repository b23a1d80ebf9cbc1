"""The engine's own insert rate: the limit that ingest figures are divided by.

An absolute events/s figure on a shared machine says as much about the
neighbours as about the server; the same embedded engine inserting rows it
generates itself, measured in the same run, moves with them. The rows take
the schema the server writes (migrated, so the key views fill
idempotency_keys and event_identities as they do for real inserts), the
server's insert settings, unique keys and advancing timestamps.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openspanner.logging import configure_logging  # noqa: E402
from openspanner.storage.schema import EVENTS_TABLE, migrate  # noqa: E402
from tests.harness import storage_at  # noqa: E402

T = TypeVar("T")

# `n` is the row's number; each shape is the SQL of (subject, quantity, metadata) of row n.
UNARY_SHAPE = (
    "concat('org_', toString(n % 1000))",
    "toFloat64(100 + n % 900)",
    "map('model', concat('model-', toString(n % 8)), 'region', ['eu-west', 'us-east', 'ap-south'][n % 3 + 1])",
)
READINGS_SHAPE = (
    "concat('tenant-', toString(n % 20))",
    "1.0",
    "map('device_id', concat('dev-', toString(n % 50)), 'fleet', concat('fleet-', toString(n % 5)),"
    " 'region', ['eu', 'us', 'ap'][n % 3 + 1])",
)


def engine_rows_per_s(
    seconds: float, rows_per_insert: int, meter: str, shape: tuple[str, str, str], spacing_us: int
) -> float:
    """Rows/s of `INSERT ... SELECT FROM numbers()` into the events table, `rows_per_insert` a statement.

    Runs in the calling process with a data dir of its own (the engine
    locks its dir, one per process): call it through `in_child`.
    """
    subject, quantity, metadata = shape
    statement = f"""
        INSERT INTO {EVENTS_TABLE} (meter, subject, timestamp, idempotency_key, quantity, metadata,
                                    ingested_at, retention_days, client_time_us)
        SELECT {{meter:String}}, {subject},
               fromUnixTimestamp64Micro(toInt64({{epoch:Int64}} + n * {spacing_us}), 'UTC') AS ts,
               concat('engine-', toString(n)), {quantity}, {metadata},
               now64(6), 30, toUnixTimestamp64Micro(ts)
        FROM (SELECT {{first:UInt64}} + number AS n FROM numbers({{rows:UInt64}}))
    """
    configure_logging(level="warning")  # not the migrations' start-up lines
    with tempfile.TemporaryDirectory() as data_dir, storage_at(Path(data_dir), "bench") as client:
        migrate(client)
        epoch = time.time_ns() // 1000 - 120_000_000
        inserted = 0

        def insert() -> None:
            nonlocal inserted
            client.command(statement, parameters={"meter": meter, "epoch": epoch, "first": inserted,
                                                  "rows": rows_per_insert}, settings={"optimize_on_insert": 0})
            inserted += rows_per_insert

        insert()  # warm-up
        counted_from, started = inserted, time.perf_counter()
        while time.perf_counter() - started < seconds:
            insert()
        return (inserted - counted_from) / (time.perf_counter() - started)


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """Run fn in a fresh process: for the embedded engine, which the bench process never opens."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()
