"""The ingest streams end to end: real server process, real engine, openspanner.client."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.client import StreamClient, StreamError
from openspanner.v1 import api_key_pb2, meter_pb2, usage_pb2, usage_pb2_grpc
from tests.harness import (
    ADMIN_KEY,
    Client,
    ServerProcess,
    free_port,
    running_server,
    start_server,
    storage,
    stored_totals,
)


def create_meter(
    server: ServerProcess, name: str, dimensions: tuple[str, ...] = (), aggregation: int = meter_pb2.sum
) -> None:
    client = Client(server.address)
    client.call(
        client.meters.CreateMeter,
        meter_pb2.Meter(
            name=name,
            aggregation=aggregation,
            dimensions=[meter_pb2.Dimension(name=d, type=meter_pb2.string) for d in dimensions],
        ),
    )


def ts(seconds_ago: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int((time.time() - seconds_ago) * 1e9))
    return stamp


async def stream_all(address: str, start: Any, events: list[Any], **options: Any) -> StreamClient:
    async with StreamClient(address, ADMIN_KEY, start, **options) as stream:
        for event in events:
            await stream.send(event)
    return stream


def test_device_telemetry_lands_with_its_dimensions(tmp_path: Path) -> None:
    readings = [
        usage_pb2.DeviceReading(
            idempotency_key=f"dev-{i}", device_id=f"d{i % 3}", fleet="north", region="eu", value=i, timestamp=ts(60)
        )
        for i in range(1, 1001)
    ]
    with running_server(tmp_path) as server:
        create_meter(server, "readings", ("device_id", "fleet", "region"))
        stream = asyncio.run(
            stream_all(server.address, usage_pb2.DeviceTelemetryStart(meter="readings", subject="acme"), readings)
        )
        assert stream.stats.outcomes == {"ACCEPTED": 1000}
    with storage(server) as ch:
        assert stored_totals(ch, "readings") == (1000, float(sum(range(1, 1001))))
        rows = ch.query(
            "SELECT metadata['device_id'] AS d, any(subject), any(metadata['fleet']), count() FROM usage_events FINAL"
            " WHERE meter = 'readings' GROUP BY d ORDER BY d"
        ).result_rows
    assert rows == [("d0", "acme", "north", 333), ("d1", "acme", "north", 334), ("d2", "acme", "north", 333)]


def test_a_telemetry_message_with_bad_readings_rejects_just_those_naming_the_field(tmp_path: Path) -> None:
    """Clean messages take the column-at-a-time path; one bad reading sends its message
    through the per-event validator, which names each problem and stores the rest."""

    def reading(i: int, **changes: Any) -> usage_pb2.DeviceReading:
        fields: dict[str, Any] = {
            "idempotency_key": f"r{i}", "device_id": "d1", "fleet": "north", "region": "eu", "value": 1.0,
            "timestamp": ts(30),
        }
        fields.update(changes)
        return usage_pb2.DeviceReading(**fields)

    clean = [reading(i) for i in range(10)]
    # Clean but for one control character: the column path must find it too.
    control = [reading(100 + i) for i in range(9)] + [reading(109, idempotency_key="r109\x00")]
    # And a timestamp whose nanos no Timestamp may have (it would move the reading by 2 s).
    impossible = Timestamp(seconds=ts(30).seconds, nanos=2_000_000_000)
    nanos = [reading(200 + i) for i in range(9)] + [reading(209, timestamp=impossible)]
    mixed = [
        reading(10),
        reading(11, value=float("nan")),
        reading(12, idempotency_key=""),
        reading(13, device_id="𝄞" * 300),  # 1,200 bytes
        reading(14, timestamp=ts(-3600)),  # an hour ahead
        reading(16),
    ]
    with running_server(tmp_path) as server:
        create_meter(server, "readings", ("device_id", "fleet", "region"))
        stream = asyncio.run(
            stream_all(server.address, usage_pb2.DeviceTelemetryStart(meter="readings", subject="acme"),
                       clean + control + nanos + mixed, batch_size=10)
        )
    assert stream.stats.outcomes == {"ACCEPTED": 30, "REJECTED": 6}
    assert [(s, f) for s, f, _ in stream.stats.rejections] == [
        (20, "idempotency_key"), (30, "timestamp"),
        (32, "value"), (33, "idempotency_key"), (34, "device_id"), (35, "timestamp"),
    ]
    with storage(server) as ch:
        assert stored_totals(ch, "readings") == (30, 30.0)


def test_queue_throughput_lands_grouped_by_queue_outcome_region(tmp_path: Path) -> None:
    events = [
        usage_pb2.QueueThroughputEvent(
            idempotency_key=f"q-{i}", queue=f"q{i % 2}", outcome="ok" if i % 5 else "failed",
            worker_region="us", count=10, subject="tenant-1",
        )
        for i in range(200)
    ]
    with running_server(tmp_path) as server:
        create_meter(server, "jobs", ("queue", "outcome", "worker_region"))
        asyncio.run(stream_all(server.address, usage_pb2.QueueThroughputStart(meter="jobs"), events))
    with storage(server) as ch:
        rows = ch.query(
            "SELECT metadata['queue'] q, metadata['outcome'] o, sum(quantity) FROM usage_events FINAL"
            " WHERE meter = 'jobs' GROUP BY q, o ORDER BY q, o"
        ).result_rows
    assert rows == [("q0", "failed", 200.0), ("q0", "ok", 800.0), ("q1", "failed", 200.0), ("q1", "ok", 800.0)]


def test_websocket_sessions_count_opens_and_measure_durations(tmp_path: Path) -> None:
    kind = usage_pb2.WebSocketSessionEvent
    opened = ts(300)
    events = [
        kind(session_id="s1", subject="org", kind=kind.open, timestamp=opened),
        kind(session_id="s2", subject="org", kind=kind.open, timestamp=opened),
        kind(session_id="s1", subject="org", kind=kind.close, timestamp=ts(180), opened_at=opened),
        kind(session_id="s2", subject="org", kind=kind.close, timestamp=ts(200)),  # no opened_at
        kind(session_id="s3", subject="org", kind=kind.close, timestamp=ts(400), opened_at=opened),  # before open
        kind(session_id="s1", subject="org", kind=kind.open, timestamp=opened),  # resent: duplicate
    ]
    start = usage_pb2.WebSocketSessionStart(connections_meter="ws_connections", duration_meter="ws_seconds")
    with running_server(tmp_path) as server:
        create_meter(server, "ws_connections")
        create_meter(server, "ws_seconds")
        stream = asyncio.run(stream_all(server.address, start, events))
    assert stream.stats.outcomes == {"ACCEPTED": 3, "REJECTED": 2, "DUPLICATE": 1}
    assert [(s, f) for s, f, _ in stream.stats.rejections] == [(4, "opened_at"), (5, "opened_at")]
    with storage(server) as ch:
        assert stored_totals(ch, "ws_connections") == (2, 2.0)
        count, seconds = stored_totals(ch, "ws_seconds")
    assert count == 1 and seconds == pytest.approx(120.0, abs=0.01)


def test_rejected_events_keep_the_stream_open(tmp_path: Path) -> None:
    events = []
    for i in range(300):
        event = usage_pb2.UsageEvent(idempotency_key=f"k{i}", subject="org", meter="api", quantity=1)
        if i % 100 == 50:
            event.quantity = float("nan")
        events.append(event)
    events.append(usage_pb2.UsageEvent(idempotency_key="x", subject="org", meter="other", quantity=1))
    with running_server(tmp_path) as server:
        create_meter(server, "api")
        stream = asyncio.run(
            stream_all(server.address, usage_pb2.StreamUsageStart(meters=["api"]), events, batch_size=64)
        )
    assert stream.stats.outcomes == {"ACCEPTED": 297, "REJECTED": 4}
    assert [(s, f) for s, f, _ in stream.stats.rejections] == [(51, "quantity"), (151, "quantity"),
                                                               (251, "quantity"), (301, "meter")]
    assert stream.stats.reconnects == 0


@pytest.mark.parametrize(
    ("start", "code", "words"),
    [
        (usage_pb2.DeviceTelemetryStart(meter="nope"), grpc.StatusCode.NOT_FOUND, "meter 'nope' does not exist"),
        (usage_pb2.DeviceTelemetryStart(meter="plain"), grpc.StatusCode.FAILED_PRECONDITION, "'device_id'"),
        (usage_pb2.StreamUsageStart(), grpc.StatusCode.INVALID_ARGUMENT, "start.meters"),
        (usage_pb2.WebSocketSessionStart(), grpc.StatusCode.INVALID_ARGUMENT, "connections_meter"),
    ],
)
def test_bad_first_message_ends_the_stream_naming_the_problem(
    shared_server: ServerProcess, start: Any, code: grpc.StatusCode, words: str
) -> None:
    with contextlib.suppress(grpc.RpcError):  # created by an earlier case
        create_meter(shared_server, "plain")
    with pytest.raises(StreamError) as caught:
        asyncio.run(stream_all(shared_server.address, start, []))
    assert caught.value.code == code
    assert words in caught.value.details


def test_a_clean_message_is_acknowledged_by_one_range_and_its_resend_by_one_duplicate_range(
    shared_server: ServerProcess,
) -> None:
    meter = f"ranges_{uuid.uuid4().hex[:8]}"
    create_meter(shared_server, meter, ("device_id", "fleet", "region"))
    readings = [
        usage_pb2.DeviceReading(
            idempotency_key=f"range-{i}", device_id="d", fleet="f", region="eu", value=1, timestamp=ts(10)
        )
        for i in range(500)
    ]

    def batch(first_sequence: int) -> usage_pb2.DeviceTelemetryRequest:
        return usage_pb2.DeviceTelemetryRequest(
            batch=usage_pb2.DeviceReadingBatch(first_sequence=first_sequence, readings=readings)
        )

    start = usage_pb2.DeviceTelemetryRequest(
        start=usage_pb2.DeviceTelemetryStart(meter=meter, subject="acme")
    )
    with grpc.insecure_channel(shared_server.address) as channel:
        call = usage_pb2_grpc.UsageServiceStub(channel).StreamDeviceTelemetry(
            iter([start, batch(1), batch(501)]), metadata=[("authorization", f"Bearer {ADMIN_KEY}")], timeout=60
        )
        _, *acks = list(call)  # the two messages' ranges: in one StreamAck when committed together
    ranges = [(a.first_sequence, a.last_sequence, a.outcome) for ack in acks for a in ack.acks]
    assert ranges == [(1, 500, usage_pb2.ACCEPTED), (501, 1000, usage_pb2.DUPLICATE)]


def test_a_read_key_cannot_open_a_stream(shared_server: ServerProcess) -> None:
    admin = Client(shared_server.address)
    secret = admin.call(admin.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.READ)).secret

    async def attempt() -> None:
        async with StreamClient(shared_server.address, secret, usage_pb2.StreamUsageStart(meters=["x"])) as stream:
            await stream.send(usage_pb2.UsageEvent(idempotency_key="k", subject="s", meter="x"))

    with pytest.raises(StreamError) as caught:
        asyncio.run(attempt())
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_fifty_concurrent_streams_store_every_event_once(tmp_path: Path) -> None:
    async def one_stream(address: str, n: int) -> StreamClient:
        events = [
            usage_pb2.UsageEvent(idempotency_key=f"s{n}-{i}", subject=f"org{n % 7}", meter="api", quantity=n)
            for i in range(200)
        ]
        return await stream_all(address, usage_pb2.StreamUsageStart(meters=["api"]), events, batch_size=50)

    async def all_streams(address: str) -> list[StreamClient]:
        return list(await asyncio.gather(*(one_stream(address, n) for n in range(50))))

    with running_server(tmp_path) as server:
        create_meter(server, "api")
        streams = asyncio.run(all_streams(server.address))
    assert all(s.stats.outcomes == {"ACCEPTED": 200} for s in streams)
    with storage(server) as ch:
        assert stored_totals(ch, "api") == (10_000, float(sum(200 * n for n in range(50))))


def test_server_killed_mid_stream_and_restarted_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = free_port()
    total_events = 30_000
    servers = [start_server(tmp_path, "killed", port)]
    create_meter(servers[0], "readings", ("device_id", "fleet", "region"))
    acked_before_kill: list[int] = []

    async def scenario() -> StreamClient:
        start = usage_pb2.DeviceTelemetryStart(meter="readings", subject="acme")
        async with StreamClient(f"127.0.0.1:{port}", ADMIN_KEY, start, batch_size=250) as stream:
            for i in range(total_events):
                await stream.send(usage_pb2.DeviceReading(
                    idempotency_key=f"r{i}", device_id=f"d{i % 10}", fleet="f", region="eu", value=i % 7
                ))
                if i == total_events // 2:
                    # Kill once some acks have arrived, while others are in flight.
                    deadline = time.monotonic() + 30
                    while stream.unacked == i + 1 and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                    acked_before_kill.append(i + 1 - stream.unacked)
                    servers[0].stop(signal.SIGKILL)
                    servers.append(await asyncio.to_thread(start_server, tmp_path, "killed", port))
        return stream

    try:
        stream = asyncio.run(scenario())
    finally:
        servers[-1].stop()
    assert stream.stats.reconnects >= 1
    assert acked_before_kill[0] > 0
    assert stream.stats.outcomes["ACCEPTED"] + stream.stats.outcomes["DUPLICATE"] == total_events
    with storage(servers[-1]) as ch:
        assert stored_totals(ch, "readings") == (total_events, float(sum(i % 7 for i in range(total_events))))


def test_graceful_shutdown_acknowledges_and_stores_everything_it_read(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    create_meter(server, "api")

    async def scenario() -> StreamClient:
        stream = StreamClient(server.address, ADMIN_KEY, usage_pb2.StreamUsageStart(meters=["api"]), batch_size=100)
        await stream.__aenter__()
        for i in range(5000):
            await stream.send(usage_pb2.UsageEvent(idempotency_key=f"k{i}", subject="o", meter="api", quantity=1))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(server.stop, signal.SIGTERM)
        # Acks come before the stream's end status: once the client has seen
        # the end (and tries to reconnect), it has read every ack sent.
        deadline = time.monotonic() + 30
        while stream.stats.reconnects == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await stream.close()
        return stream

    stream = asyncio.run(scenario())
    assert server.process.returncode == 0
    assert any(e["event"] == "stream ended by shutdown" for e in server.log_events())
    with storage(server) as ch:
        stored, _ = stored_totals(ch, "api")
    assert stored == stream.stats.outcomes["ACCEPTED"] > 0
    assert stream.unacked == 5000 - stored


def test_every_acknowledged_event_is_committed_before_its_ack(tmp_path: Path) -> None:
    # Killed the moment the last ack arrives, with no chance to flush: an ack
    # sent before commit would show up here as a missing event.
    server = start_server(tmp_path, OPENSPANNER_BATCH_LINGER_MS="200")
    create_meter(server, "api")
    events = [
        usage_pb2.UsageEvent(idempotency_key=f"k{i}", subject="o", meter="api", quantity=i % 5) for i in range(2000)
    ]

    async def scenario() -> StreamClient:
        stream = StreamClient(server.address, ADMIN_KEY, usage_pb2.StreamUsageStart(meters=["api"]), batch_size=100)
        await stream.__aenter__()
        for event in events:
            await stream.send(event)
        await stream.flush(timeout=60)
        server.stop(signal.SIGKILL)
        await stream.close()
        return stream

    stream = asyncio.run(scenario())
    assert stream.stats.outcomes == {"ACCEPTED": 2000}
    with storage(server) as ch:
        assert stored_totals(ch, "api") == (2000, float(sum(i % 5 for i in range(2000))))
