"""Two delivery workers on one outbox by mistake (docs/webhooks.md): every job is still delivered,
and a job attempted by both reaches the receiver twice under one webhook-id."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from openspanner.storage.client import Storage
from openspanner.storage.schema import migrate
from openspanner.webhooks.delivery import DeliverySettings, DeliveryWorker
from openspanner.webhooks.destinations import Destinations
from openspanner.webhooks.model import JobStatus
from openspanner.webhooks.outbox import Outbox
from tests.harness import storage_at

JOBS = 6


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with storage_at(tmp_path, "two_workers") as client:
        migrate(client)
        yield Storage(client, threads=2)


def test_two_workers_deliver_every_job_at_least_once_with_its_own_webhook_id(storage: Storage) -> None:
    received: list[str] = []

    async def receiver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        lowered = {name.lower(): value for name, value in headers.items()}
        await reader.readexactly(int(lowered["content-length"]))
        received.append(lowered["webhook-id"])
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[set[str], list[JobStatus]]:
        server = await asyncio.start_server(receiver, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        destinations, outbox = Destinations(storage, allow_private=True), Outbox(storage)
        destination = await destinations.create("r", "", True, f"http://127.0.0.1:{port}/hook")
        settings = DeliverySettings(poll_seconds=0.05, allow_private=True)
        workers = [DeliveryWorker(storage, outbox, settings), DeliveryWorker(storage, outbox, settings)]
        runs = [asyncio.create_task(worker.run()) for worker in workers]
        jobs = [await outbox.enqueue("test", f"e{n}", destination.id, {"n": n}) for n in range(JOBS)]
        ids = {job.id for job in jobs}
        async with asyncio.timeout(60):
            while not ids <= set(received):
                await asyncio.sleep(0.05)
        for run in runs:
            run.cancel()
        for worker in workers:  # attempts in flight finish and record their outcome
            await worker.close(30)
        server.close()
        return ids, [(await outbox.get(job_id)).status for job_id in ids]

    ids, statuses = asyncio.run(scenario())
    assert set(received) == ids  # nothing but these jobs, each at least once
    assert statuses == [JobStatus.DELIVERED] * JOBS
