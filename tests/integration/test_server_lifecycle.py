"""Start-up, configuration errors, graceful shutdown, schema migration, TTL, docker-compose.yml."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from openspanner.storage.schema import MIGRATIONS
from openspanner.v1 import meter_pb2, usage_pb2, usage_pb2_grpc
from tests.harness import (
    ADMIN_KEY,
    START_TIMEOUT_SECONDS,
    Client,
    ServerProcess,
    follow_log,
    free_port,
    running_server,
    server_env,
    start_server,
    storage,
    storage_at,
    stored_totals,
)
from tests.support.paths import ROOT
from tests.support.small_disk import SmallDisk, small_disk  # noqa: F401 (a fixture)

# The order of a shutdown's steps, as the server logs them.
SHUTDOWN_STEPS = [
    "health", "workers intake", "http", "streams", "limits", "batcher", "grpc", "alerts", "workers", "keys",
    "catalog", "storage",
]


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


def log_messages(server: ServerProcess) -> list[str]:
    return [e["event"] for e in server.log_events()]


def wait_for_log(server: ServerProcess, message: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while message not in log_messages(server):
        assert server.process.poll() is None, "server exited:\n" + "\n".join(server.log_lines[-30:])
        assert time.monotonic() < deadline, f"no {message!r} logged"
        time.sleep(0.02)


def steps_done(server: ServerProcess) -> list[str]:
    return [e["step"] for e in server.log_events() if e["event"] == "shutdown step done"]


def serve_process(data_dir: Path, database: str, grpc_port: int, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "openspanner", "serve", "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port)],
        env=server_env(data_dir, database, extra), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_start_that_fails_on_a_taken_http_port_stops_what_it_had_started(tmp_path: Path, taken_port: int) -> None:
    grpc_port = free_port()
    process = serve_process(tmp_path, "taken", grpc_port, OPENSPANNER_HTTP_PORT=str(taken_port))
    failed = ServerProcess(process, tmp_path, "taken")
    follow_log(failed)
    assert process.wait(timeout=60) == 2
    assert failed.log_ended.wait(10)
    error = failed.log_lines[-1]
    assert error.startswith("error: OPENSPANNER_HTTP_PORT") and f":{taken_port}" in error
    assert "start failed, stopping what had started" in log_messages(failed)
    # The gRPC port was bound and the batcher started before the HTTP port failed.
    assert steps_done(failed) == ["streams", "limits", "batcher", "grpc", "alerts", "workers", "keys", "catalog",
                                     "storage"]
    # The data dir and the gRPC port are free again: a server starts on both.
    with running_server(tmp_path, "taken", port=grpc_port) as second:
        client = Client(second.address)
        assert client.call(client.meters.CreateMeter, meter_pb2.Meter(name="m", aggregation=meter_pb2.sum)).name == "m"
        client.close()


def test_a_grpc_port_in_use_is_refused_not_shared(tmp_path: Path) -> None:
    with running_server(tmp_path / "first") as first:
        process = serve_process(tmp_path / "second", "second", first.port)
        try:
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:  # it shares the port
                process.kill()
    assert process.returncode == 2
    assert f"error: OPENSPANNER_GRPC_PORT: cannot listen on 127.0.0.1:{first.port}" in stderr


def test_a_signal_during_start_up_cancels_the_start(tmp_path: Path, taken_port: int) -> None:
    """Storage that accepts the connection and never answers holds the start in its first step."""
    process = serve_process(
        tmp_path, "x", 0, OPENSPANNER_CLICKHOUSE_URL=f"http://127.0.0.1:{taken_port}/x"
    )
    starting = ServerProcess(process, tmp_path, "x")
    follow_log(starting)
    wait_for_log(starting, "server starting")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert starting.log_ended.wait(10)
    messages = log_messages(starting)
    assert "start cancelled, stopping what had started" in messages
    assert "server started" not in messages
    assert starting.log_events()[-1] == {
        **starting.log_events()[-1], "event": "server stopped", "exit_code": 143, "reason": "signal during start-up",
    }


def test_a_signal_repeated_within_a_second_is_the_same_shutdown(tmp_path: Path) -> None:
    """What a supervisor signalling the process group and a forwarding parent (make) send."""
    server = start_server(tmp_path)
    server.process.send_signal(signal.SIGTERM)
    wait_for_log(server, "shutdown requested")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert server.log_ended.wait(10)
    messages = log_messages(server)
    assert messages.count("shutdown requested") == 1
    assert "repeated signal, same shutdown" in messages
    assert "second signal, exiting now" not in messages
    assert steps_done(server) == SHUTDOWN_STEPS
    assert stopped_line(server)["exit_code"] == 0


def stopped_line(server: ServerProcess) -> dict[str, Any]:
    """The server's last line of its own. grpc may still log a call it cancelled at the very end of
    a loaded shutdown (its "Exception not handled" line), after the server said it stopped."""
    [*_, stopped] = [e for e in server.log_events() if e.get("event") == "server stopped"]
    return stopped


class Stream:
    """A raw StreamUsage call: what is sent, and the outcome of each sequence number the server acknowledged."""

    def __init__(self, channel: grpc.aio.Channel, meter: str) -> None:
        self._requests: asyncio.Queue[usage_pb2.StreamUsageRequest | None] = asyncio.Queue()
        self._requests.put_nowait(usage_pb2.StreamUsageRequest(start=usage_pb2.StreamUsageStart(meters=[meter])))
        self.meter = meter
        self.keys: dict[int, str] = {}
        self.outcomes: dict[int, int] = {}
        stub = usage_pb2_grpc.UsageServiceStub(channel)  # type: ignore[no-untyped-call]
        self.call = stub.StreamUsage(self._messages(), metadata=(("authorization", f"Bearer {ADMIN_KEY}"),))

    async def _messages(self) -> AsyncIterator[usage_pb2.StreamUsageRequest]:
        while (message := await self._requests.get()) is not None:
            yield message

    def send(self, count: int) -> None:
        first = len(self.keys) + 1
        events = []
        for sequence in range(first, first + count):
            self.keys[sequence] = f"{self.meter}-{sequence}"
            events.append(usage_pb2.UsageEvent(
                meter=self.meter, subject="s", idempotency_key=self.keys[sequence], quantity=1
            ))
        batch = usage_pb2.UsageEventBatch(first_sequence=first, events=events)
        self._requests.put_nowait(usage_pb2.StreamUsageRequest(batch=batch))

    async def read_ack(self) -> None:
        ack = await self.call.read()
        assert ack is not grpc.aio.EOF
        for ack_range in ack.acks:
            for sequence in range(ack_range.first_sequence, ack_range.last_sequence + 1):
                self.outcomes[sequence] = ack_range.outcome

    async def read_to_the_end(self) -> grpc.StatusCode:
        try:
            while True:
                await self.read_ack()
        except grpc.aio.AioRpcError as error:
            return error.code()

    def accepted_keys(self) -> set[str]:
        return {self.keys[s] for s, outcome in self.outcomes.items() if outcome == usage_pb2.ACCEPTED}


async def open_stream(channel: grpc.aio.Channel, meter: str) -> Stream:
    stream = Stream(channel, meter)
    await stream.read_ack()  # the start is accepted
    return stream


def stored_keys(data_dir: Path, database: str, meter: str) -> set[str]:
    with storage_at(data_dir, database) as ch:
        rows = ch.query(
            "SELECT idempotency_key FROM usage_events FINAL WHERE meter = {m:String}", parameters={"m": meter}
        ).result_rows
    return {row[0] for row in rows}


def test_one_sigterm_to_the_process_group_of_make_run_drains_once(tmp_path: Path) -> None:
    """GNU make forwards SIGTERM to its child, so the server gets the signal twice (or once, when the two
    coincide): either way one drain, and every acknowledged event is stored."""
    venv = Path(sys.prefix)
    assert (venv / "bin" / "openspanner").exists(), "the tests run in the project's virtual environment"
    database = f"test_{uuid.uuid4().hex[:12]}"
    env = server_env(tmp_path, database, {"OPENSPANNER_GRPC_HOST": "127.0.0.1", "OPENSPANNER_GRPC_PORT": "0"})
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the tests themselves run under make
        env.pop(name, None)
    make = subprocess.Popen(
        # -o: the virtual environment is taken as it is, never rebuilt.
        ["make", "--no-print-directory", "-C", str(ROOT), "-o", f"{venv}/.installed-stamp", f"VENV={venv}", "run"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    server = ServerProcess(make, tmp_path, database)
    started = follow_log(server)
    try:
        assert started.wait(START_TIMEOUT_SECONDS), "\n".join(server.log_lines[-30:])
        client = Client(server.address)
        client.call(client.meters.CreateMeter, meter_pb2.Meter(name="jobs", aggregation=meter_pb2.sum))
        client.close()

        async def stream_through_the_signal() -> tuple[Stream, grpc.StatusCode]:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stream = await open_stream(channel, "jobs")
                stream.send(500)
                await stream.read_ack()
                stream.send(500)  # in flight when the signal comes
                os.killpg(make.pid, signal.SIGTERM)
                return stream, await stream.read_to_the_end()

        stream, end = asyncio.run(stream_through_the_signal())
        make.wait(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert server.log_ended.wait(10)
    assert end == grpc.StatusCode.UNAVAILABLE
    messages = log_messages(server)
    assert messages.count("shutdown requested") == 1
    assert "second signal, exiting now" not in messages
    assert steps_done(server) == SHUTDOWN_STEPS
    assert stopped_line(server)["exit_code"] == 0
    accepted = stream.accepted_keys()
    assert len(accepted) >= 500
    assert stored_keys(tmp_path, database, "jobs") == accepted


def test_the_shutdown_deadline_answers_what_storage_did_not_take_retry(small_disk: SmallDisk) -> None:  # noqa: F811
    """Storage refuses every write and would be retried for minutes: the drain still ends within its
    grace, and the events it could not write are answered RETRY, never acknowledged."""
    with running_server(
        small_disk.data_dir, OPENSPANNER_STORAGE_RETRY_SECONDS="600", OPENSPANNER_SHUTDOWN_GRACE_SECONDS="5"
    ) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, meter_pb2.Meter(name="jobs", aggregation=meter_pb2.sum))
        client.close()

        async def stream_through_the_signal() -> tuple[Stream, grpc.StatusCode]:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stream = await open_stream(channel, "jobs")
                small_disk.fill()
                stream.send(100)
                await asyncio.to_thread(wait_for_log, server, "batch write failed")
                server.process.send_signal(signal.SIGTERM)
                return stream, await stream.read_to_the_end()

        stream, end = asyncio.run(stream_through_the_signal())
        # Waited for here: running_server would signal again.
        assert server.process.wait(timeout=60) == 0
        assert server.log_ended.wait(10)
    small_disk.free()
    assert end == grpc.StatusCode.UNAVAILABLE
    assert stream.outcomes == dict.fromkeys(range(1, 101), usage_pb2.RETRY)
    messages = log_messages(server)
    assert "shutdown deadline reached, pending events answered RETRY" in messages
    assert steps_done(server) == SHUTDOWN_STEPS
    assert stopped_line(server)["exit_code"] == 0
    with storage(server) as ch:
        assert stored_totals(ch, "jobs") == (0, 0.0)
