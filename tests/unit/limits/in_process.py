"""A limits service on the embedded engine in this process: no server, no transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from openspanner.catalog import MeterCatalog
from openspanner.domain.meters import Aggregation, Meter
from openspanner.ingest.batch import BatchSettings
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.limits.service import LimitsService, LimitsSettings
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.meters import MeterStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at

T = TypeVar("T")
METER = Meter("calls", Aggregation.SUM, event_retention_days=30)


def storage_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with storage_at(tmp_path_factory.mktemp("limits"), "limits") as client:
        migrate(client)
        MeterStore(client).save(METER)
        yield client


def run(client: Any, body: Callable[[LimitsService], Awaitable[T]]) -> T:
    async def main() -> T:
        storage = Storage(client, threads=2)
        catalog = MeterCatalog(storage, refresh_seconds=60)
        await catalog.start()
        pipeline = IngestPipeline(
            storage, catalog, 1000, 1, BatchSettings(retry_seconds=0.5), 1000, Metrics(), sole_writer=True
        )
        pipeline.start()
        limits = LimitsService(storage, catalog, pipeline, LimitsSettings())
        await limits.start()
        try:
            return await body(limits)
        finally:
            await limits.stop()
            await pipeline.close(time.monotonic() + 10)
            catalog.stop()

    return asyncio.run(main())
