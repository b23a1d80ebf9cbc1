"""Start-up, configuration errors, graceful shutdown, schema migration, TTL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from openspanner.storage.schema import MIGRATIONS
from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import Client, running_server, server_env, start_server, storage, stored_totals


def test_sigterm_lets_inflight_calls_finish_and_exits_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    client = Client(server.address)
    client.call(client.meters.CreateMeter, meter_pb2.Meter(name="jobs", aggregation=meter_pb2.sum))
    events = [
        usage_pb2.UsageEvent(meter="jobs", subject="s", idempotency_key=f"k{i}", quantity=1) for i in range(50_000)
    ]
    future = client.usage.RecordUsages.future(
        usage_pb2.RecordUsagesRequest(events=events), metadata=client.metadata, timeout=60
    )
    time.sleep(0.3)  # the call is being processed when the signal arrives
    assert server.stop(signal.SIGTERM) == 0
    assert future.result().accepted == 50_000
    messages = [e["event"] for e in server.log_events()]
    assert "shutdown requested" in messages
    assert messages[-1] == "server stopped"
    with storage(server) as ch:
        assert stored_totals(ch, "jobs") == (50_000, 50_000.0)


def test_invalid_configuration_is_reported_all_at_once(tmp_path: Path) -> None:
    env = server_env(tmp_path, "x", {"OPENSPANNER_GRPC_PORT": "99999", "OPENSPANNER_CLICKHOUSE_URL": "ftp://x"})
    result = subprocess.run(
        [sys.executable, "-m", "openspanner", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "OPENSPANNER_GRPC_PORT" in result.stderr
    assert "OPENSPANNER_CLICKHOUSE_URL" in result.stderr


def test_second_server_on_the_same_data_dir_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    if "OPENSPANNER_CLICKHOUSE_URL" in server_env(tmp_path, "x"):
        return  # only the embedded engine locks its data dir
    with running_server(tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "openspanner", "serve", "--grpc-port", "0"],
            env=server_env(tmp_path, "x"), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2
    assert "in use by another process" in result.stderr


def test_restart_applies_no_migration_twice(tmp_path: Path) -> None:
    with running_server(tmp_path, "mig") as first:
        pass
    with running_server(tmp_path, "mig") as second:
        pass
    applied = lambda s: [e for e in s.log_events() if e["event"] == "schema migration applied"]  # noqa: E731
    assert applied(first) and not applied(second)
    with storage(second) as ch:
        versions = [r[0] for r in ch.query("SELECT version FROM schema_migrations FINAL ORDER BY version").result_rows]
    assert versions == [m.version for m in MIGRATIONS]


def test_events_expire_after_their_retention(tmp_path: Path) -> None:
    """The TTL is ClickHouse's own; this proves the schema's expression keeps what it must."""
    with running_server(tmp_path, "ttl") as server:
        pass
    now_us = int(time.time() * 1_000_000)
    day_us = 86_400 * 1_000_000
    rows = [
        ["m", "expired", "s", now_us - 3 * day_us, 1.0, {}, now_us, 2],
        ["m", "kept", "s", now_us - 1 * day_us, 1.0, {}, now_us, 2],
        ["m", "long-kept", "s", now_us - 300 * day_us, 1.0, {}, now_us, 365],
    ]
    with storage(server) as ch:
        ch.insert("usage_events", rows, column_names=[
            "meter", "idempotency_key", "subject", "timestamp", "quantity", "metadata", "ingested_at", "retention_days",
        ])
        ch.command("OPTIMIZE TABLE usage_events FINAL")
        keys = sorted(r[0] for r in ch.query("SELECT idempotency_key FROM usage_events").result_rows)
    assert keys == ["kept", "long-kept"]


def test_copies_of_one_event_from_racing_servers_count_once(tmp_path: Path) -> None:
    """Two servers that both missed the other's copy store it twice; FINAL keeps one.

    Written straight to storage, as two racing servers would, because the
    embedded engine admits only one server per data dir.
    """
    with running_server(tmp_path, "race") as server:
        pass
    hour_us = 3600 * 1_000_000
    ts = int(time.time() * 1_000_000) // hour_us * hour_us + hour_us // 2  # mid-hour, as almost every race is
    columns = [
        "meter", "subject", "timestamp", "idempotency_key", "quantity", "metadata", "ingested_at", "retention_days",
    ]
    with storage(server) as ch:
        for server_clock_skew_us in (0, 1500):  # defaulted timestamps differ by the servers' clocks
            ch.insert("usage_events", [["m", "org", ts + server_clock_skew_us, "k", 5.0, {}, ts, 90]],
                      column_names=columns)
        ch.insert("usage_events", [["m", "org", ts, "other", 1.0, {}, ts, 90]], column_names=columns)
        assert stored_totals(ch, "m") == (2, 6.0)
        keys = ch.query("SELECT count() FROM event_identities FINAL WHERE meter = 'm'").result_rows[0][0]
        assert keys == 2
