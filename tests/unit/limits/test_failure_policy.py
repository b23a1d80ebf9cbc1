"""What a consume does when its usage cannot be read: the limit's failure policy decides.

The failure is real: the events table is renamed away under the service (on the embedded
engine, in this process), so the ledger's read of a window fails as storage would fail it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from openspanner.catalog import MeterCatalog
from openspanner.domain.events import UsageEvent
from openspanner.domain.meters import Aggregation, Meter
from openspanner.domain.plans import LimitDraft, PlanDraft
from openspanner.errors import Unavailable
from openspanner.ingest.batch import BatchSettings
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.limits.service import LimitsService, LimitsSettings
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.meters import MeterStore
from openspanner.storage.schema import EVENTS_TABLE, migrate
from tests.harness import storage_at

T = TypeVar("T")
METER = Meter("calls", Aggregation.SUM, event_retention_days=30)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with storage_at(tmp_path_factory.mktemp("failure_policy"), "failure_policy") as client:
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


def event(subject: str) -> UsageEvent:
    return UsageEvent(uuid.uuid4().hex, subject, METER.name, 1.0, None, {})


async def assigned(limits: LimitsService, failure_policy: str) -> str:
    plan = await limits.create_plan(PlanDraft("p", (LimitDraft(METER.name, 10.0, failure_policy=failure_policy,
                                                              enforcement="hard"),)))
    subject = f"org_{uuid.uuid4().hex[:8]}"
    await limits.assign(subject, plan.id, None)
    return subject


@pytest.mark.parametrize("failure_policy", ["fail_closed", "fail_open"])
def test_a_failed_evaluation_is_decided_by_the_failure_policy(client: Any, failure_policy: str) -> None:
    async def body(limits: LimitsService) -> None:
        subject = await assigned(limits, failure_policy)
        opened = event(subject)
        client.command(f"RENAME TABLE {EVENTS_TABLE} TO {EVENTS_TABLE}_away")
        try:
            if failure_policy == "fail_closed":
                answer = await limits.consume(event(subject))
                assert (answer.decision.accepted, answer.decision.evaluation_failed, answer.event) == (
                    False, True, None
                )
                assert answer.decision.quota.retry_after_seconds
            else:  # accepted; the event's write fails here too, so the call fails
                with pytest.raises(Unavailable):
                    await limits.consume(opened)
        finally:
            client.command(f"RENAME TABLE {EVENTS_TABLE}_away TO {EVENTS_TABLE}")
        if failure_policy == "fail_closed":
            return
        # The client's retry replays the decision stored beside the failed write, and records the event.
        answer = await limits.consume(opened)
        assert (answer.replayed, answer.decision.accepted, answer.decision.evaluation_failed) == (True, True, True)
        assert answer.event is not None and answer.event.idempotency_key == opened.idempotency_key
        assert (await limits.check(subject, METER.name, 1)).current == 1

    run(client, body)
