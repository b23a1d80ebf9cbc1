"""The importer waits as long as a full server asks (RetryInfo), then its batch goes through.

A long linger holds a bulk call's events pending, so the server is full
while it waits (as in test_client's RetryInfo test), and the importer's
batch is refused with RESOURCE_EXHAUSTED and a retry delay.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import grpc

from openspanner.client import Client
from openspanner.importer.send import UsageSender, retry_policy
from openspanner.retry import RetryAttempt
from openspanner.v1 import usage_pb2
from tests.harness import ADMIN_KEY, running_server
from tests.integration.test_client import a_meter, an_event


def batch(meter: str, events: int) -> bytes:
    request = usage_pb2.RecordUsagesRequest(idempotency_key=f"import-{uuid.uuid4().hex}")
    for i in range(events):
        request.events.add(idempotency_key=f"row-{i}", subject="org_a", meter=meter, quantity=1).metadata[
            "region"
        ] = "eu"
    return request.SerializeToString()


async def record(address: str, request: bytes, attempts: list[RetryAttempt]) -> usage_pb2.RecordUsagesResponse:
    sender = UsageSender(address, ADMIN_KEY, retry=replace(retry_policy(60.0), on_retry=attempts.append))
    try:
        return await sender.record(request)
    finally:
        await sender.close()


def test_the_importer_waits_the_servers_retry_info_delay_then_its_batch_is_stored(tmp_path: Path) -> None:
    bound = 10
    with running_server(
        tmp_path, OPENSPANNER_MAX_PENDING_EVENTS=str(bound), OPENSPANNER_BATCH_LINGER_MS="4000"
    ) as server, Client(server.address, ADMIN_KEY) as admin:
        meter = a_meter(admin)
        # Written at once (the writer is idle); the next write may start 4 s later.
        admin.record_usage(an_event(meter))
        attempts: list[RetryAttempt] = []
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(admin.record_usages, [an_event(meter) for _ in range(bound)])
            time.sleep(0.5)
            started = time.monotonic()
            response = asyncio.run(record(server.address, batch(meter, 3), attempts))
            waited = time.monotonic() - started
            assert pending.result(timeout=60)["accepted"] == bound

        assert [r.outcome for r in response.results] == [usage_pb2.ACCEPTED] * 3
        assert attempts, "the first attempt found the server full"
        first = attempts[0]
        assert first.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert first.from_server and first.delay == first.error.retry_delay, "the server's delay, not backoff"
        assert 0 < first.delay <= 10
        assert all(a.from_server for a in attempts), "a full server always says how long to wait"
        assert waited >= sum(a.delay for a in attempts)
