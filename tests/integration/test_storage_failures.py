"""Streams while storage refuses writes: nothing acknowledged is lost, nothing unbounded grows.

The failure is real: the server's data dir sits on a small tmpfs that the
test fills up, so the embedded engine itself fails every insert with
NOT_ENOUGH_SPACE until the filler is removed. Mounting needs root (as on our
machines and CI); elsewhere these tests are skipped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from openspanner.client import StreamClient
from openspanner.v1 import usage_pb2, usage_pb2_grpc
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage, stored_totals
from tests.integration.test_group_commit import retry_delay_seconds
from tests.integration.test_streams import create_meter, ts
from tests.support.small_disk import SmallDisk, small_disk  # noqa: F401 (the fixture)


def reading(key: str, device_id: str = "d1") -> usage_pb2.DeviceReading:
    return usage_pb2.DeviceReading(
        idempotency_key=key, device_id=device_id, fleet="f", region="eu", value=2, timestamp=ts(5)
    )


def start_message() -> usage_pb2.DeviceTelemetryRequest:
    return usage_pb2.DeviceTelemetryRequest(start=usage_pb2.DeviceTelemetryStart(meter="readings", subject="acme"))


def test_full_disk_answers_retry_and_the_client_resends_until_stored_exactly_once(small_disk: SmallDisk) -> None:  # noqa: F811
    events = 3000

    async def scenario(server: ServerProcess) -> StreamClient:
        start = usage_pb2.DeviceTelemetryStart(meter="readings", subject="acme")
        async with StreamClient(server.address, ADMIN_KEY, start, batch_size=200) as stream:
            small_disk.fill()
            for i in range(events):
                await stream.send(reading(f"r{i}"))
            while stream.stats.outcomes["RETRY"] < events:
                await asyncio.sleep(0.1)
            # Storage refused everything: nothing may have been acknowledged.
            assert stream.unacked == events
            assert stream.stats.outcomes["ACCEPTED"] == 0
            small_disk.free()
            await stream.flush(timeout=60)
        return stream

    with running_server(small_disk.data_dir, OPENSPANNER_STORAGE_RETRY_SECONDS="1") as server:
        create_meter(server, "readings", ("device_id", "fleet", "region"))
        stream = asyncio.run(scenario(server))
    assert stream.stats.outcomes["ACCEPTED"] + stream.stats.outcomes["DUPLICATE"] == events
    assert stream.stats.reconnects == 0
    assert any(e["event"] == "batch given up, answered RETRY" for e in server.log_events())
    with storage(server) as ch:
        assert stored_totals(ch, "readings") == (events, 2.0 * events)


async def offered_messages(
    sent: list[int], count: int, per_message: int
) -> AsyncIterator[usage_pb2.DeviceTelemetryRequest]:
    yield start_message()
    tag = uuid.uuid4().hex[:6]
    # ~50 KB messages: far more than gRPC's transport buffers hold in all.
    device_id = "d" * 900
    for n in range(count):
        sent.append(n)
        batch = usage_pb2.DeviceReadingBatch(
            first_sequence=n * per_message + 1,
            readings=[reading(f"{tag}-{n}-{i}", device_id) for i in range(per_message)],
        )
        yield usage_pb2.DeviceTelemetryRequest(batch=batch)


def test_stalled_storage_stops_reading_at_the_windows_instead_of_buffering(small_disk: SmallDisk) -> None:  # noqa: F811
    streams, messages, per_message = 3, 1000, 50
    window, server_budget = 100, 150

    async def push_while_storage_stalls(address: str) -> list[list[int]]:
        sent: list[list[int]] = [[] for _ in range(streams)]
        async with grpc.aio.insecure_channel(address) as channel:
            stub = usage_pb2_grpc.UsageServiceStub(channel)  # type: ignore[no-untyped-call]
            calls = [
                stub.StreamDeviceTelemetry(
                    offered_messages(sent[s], messages, per_message),
                    metadata=(("authorization", f"Bearer {ADMIN_KEY}"),),
                )
                for s in range(streams)
            ]
            await asyncio.sleep(3)
            for call in calls:
                call.cancel()
        return sent

    with running_server(
        small_disk.data_dir,
        OPENSPANNER_STORAGE_RETRY_SECONDS="60",
        OPENSPANNER_STREAM_WINDOW_EVENTS=str(window),
        OPENSPANNER_MAX_PENDING_EVENTS=str(server_budget),
    ) as server:
        create_meter(server, "readings", ("device_id", "fleet", "region"))
        small_disk.fill()
        sent = asyncio.run(push_while_storage_stalls(server.address))
        small_disk.free()
        # SIGTERM: the server writes what it had read, then exits.
        assert server.stop(timeout=60) == 0
    with storage(server) as ch:
        stored, _ = stored_totals(ch, "readings")
    # The server took at most its budget, plus one message per stream it held
    # while waiting for room; the rest stayed with the clients (gRPC flow control).
    assert 0 < stored <= server_budget + streams * per_message
    assert all(len(s) < messages for s in sent), "a client could hand over all its messages"


def test_full_disk_answers_a_single_event_unavailable_with_a_retry_delay(small_disk: SmallDisk) -> None:  # noqa: F811
    event = usage_pb2.UsageEvent(idempotency_key="one", subject="acme", meter="calls", quantity=4)
    with running_server(small_disk.data_dir, OPENSPANNER_STORAGE_RETRY_SECONDS="1") as server:
        create_meter(server, "calls")
        client = Client(server.address)
        small_disk.fill()
        with pytest.raises(grpc.RpcError) as refused:
            client.call(client.usage.RecordUsage, event)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_delay_seconds(refused.value) > 0
        small_disk.free()
        # Nothing was acknowledged, so the same event sent again is stored, once.
        assert client.call(client.usage.RecordUsage, event).outcome == usage_pb2.ACCEPTED
        assert client.call(client.usage.RecordUsage, event).outcome == usage_pb2.DUPLICATE
        client.close()
    with storage(server) as ch:
        assert stored_totals(ch, "calls") == (1, 4.0)
