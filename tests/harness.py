"""Run a real Open Spanner server in a child process, as an operator would.

Each server gets its own data dir: the embedded engine locks it. With
OPENSPANNER_CLICKHOUSE_URL set, servers use that ClickHouse server instead,
each in a fresh database of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from openspanner.config import load_settings
from openspanner.storage.client import open_client
from openspanner.v1 import api_key_pb2_grpc, meter_pb2_grpc, query_pb2_grpc, usage_pb2_grpc

ADMIN_KEY = "test-admin-key-0123456789"
START_TIMEOUT_SECONDS = 60


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    data_dir: Path
    database: str
    port: int = 0
    http_port: int = 0
    log_lines: list[str] = field(default_factory=list)
    # Set once its stderr is closed (the process has exited): log_lines are complete.
    log_ended: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def base_url(self) -> str:
        """Of the HTTP/JSON API, as OPEN_SPANNER_BASE_URL in the seeds' curl examples."""
        return f"http://127.0.0.1:{self.http_port}"

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in list(self.log_lines):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def server_env(data_dir: Path, database: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPANNER_")}
    env.update({
        "OPENSPANNER_DATA_DIR": str(data_dir),
        "OPENSPANNER_ADMIN_API_KEY": ADMIN_KEY,
        "OPENSPANNER_CLICKHOUSE_DATABASE": database,
        "OPENSPANNER_LOG_FORMAT": "json",
        "OPENSPANNER_LOG_LEVEL": "debug",
        "OPENSPANNER_CACHE_REFRESH_SECONDS": "1",
        # Rollups built seconds after events arrive, so that queries in tests
        # read them too, beside raw events (docs/storage.md, "Rollups").
        "OPENSPANNER_ROLLUP_SETTLE_SECONDS": "2",
        "OPENSPANNER_ROLLUP_INTERVAL_SECONDS": "0.2",
        # Many servers run at once: each takes a free HTTP port, on loopback only.
        "OPENSPANNER_HTTP_HOST": "127.0.0.1",
        "OPENSPANNER_HTTP_PORT": "0",
    })
    for name in ("OPENSPANNER_CLICKHOUSE_URL", "OPENSPANNER_CLICKHOUSE_CLUSTER"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def start_server(data_dir: Path, database: str | None = None, port: int = 0, **extra: str) -> ServerProcess:
    """Start `openspanner serve` (on a free port unless given) and wait until it serves."""
    database = database or f"test_{uuid.uuid4().hex[:12]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "openspanner", "serve", "--grpc-host", "127.0.0.1", "--grpc-port", str(port)],
        env=server_env(data_dir, database, extra),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    server = ServerProcess(process, data_dir, database)
    started = follow_log(server)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not started.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("server did not start:\n" + "\n".join(server.log_lines[-30:]))
    return server


def follow_log(server: ServerProcess) -> threading.Event:
    """Collect the log lines of the server's stderr; the event is set (ports filled in) once it has started."""
    started = threading.Event()

    def read_log() -> None:
        assert server.process.stderr is not None
        for line in server.process.stderr:
            server.log_lines.append(line.rstrip("\n"))
            if not started.is_set() and '"server started"' in line:
                started_line = json.loads(line)
                server.port = started_line["port"]
                server.http_port = started_line["http_port"]
                started.set()
        server.log_ended.set()

    threading.Thread(target=read_log, daemon=True).start()
    return started


@contextmanager
def running_server(
    data_dir: Path, database: str | None = None, port: int = 0, **extra: str
) -> Iterator[ServerProcess]:
    server = start_server(data_dir, database, port, **extra)
    try:
        yield server
    finally:
        server.stop()


class Client:
    """Stubs of one server with a bearer key; `call` returns the response."""

    def __init__(
        self, address: str, api_key: str | None = ADMIN_KEY, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        """`credentials`: TLS (grpc.ssl_channel_credentials); plaintext without."""
        options = [
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ]
        self.channel = (
            grpc.secure_channel(address, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(address, options=options)
        )
        self.api_key = api_key
        self.meters = meter_pb2_grpc.MeterServiceStub(self.channel)
        self.usage = usage_pb2_grpc.UsageServiceStub(self.channel)
        self.keys = api_key_pb2_grpc.ApiKeyServiceStub(self.channel)
        self.query = query_pb2_grpc.QueryServiceStub(self.channel)

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.api_key}")] if self.api_key else []

    def call(self, method: Any, request: Any, timeout: float = 60) -> Any:
        return method(request, metadata=self.metadata, timeout=timeout)

    def with_key(self, api_key: str | None) -> Client:
        other = Client.__new__(Client)
        other.__dict__.update(self.__dict__)
        other.api_key = api_key
        return other

    def close(self) -> None:
        self.channel.close()


@contextmanager
def storage(server: ServerProcess) -> Iterator[Any]:
    """A clickhouse-connect client on the server's storage, for checking what is stored.

    With the embedded engine the server must be stopped first (it locks the dir).
    """
    if not os.environ.get("OPENSPANNER_CLICKHOUSE_URL"):
        assert server.process.poll() is not None, "stop the server before opening its embedded storage"
    with storage_at(server.data_dir, server.database) as client:
        yield client


@contextmanager
def storage_at(data_dir: Path, database: str) -> Iterator[Any]:
    """The storage a server with this data dir and database would use, opened as the server opens it.

    For preparing storage before a server starts (the database is created if missing).
    """
    client = open_client(load_settings(data_dir=data_dir, clickhouse_database=database))
    try:
        yield client
    finally:
        client.close()


def stored_totals(client: Any, meter: str) -> tuple[int, float]:
    """(distinct events, sum of quantity) of a meter, duplicates collapsed."""
    count, total = client.query(
        "SELECT count(), sum(quantity) FROM usage_events FINAL WHERE meter = {m:String}",
        parameters={"m": meter},
    ).result_rows[0]
    return int(count), float(total)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
