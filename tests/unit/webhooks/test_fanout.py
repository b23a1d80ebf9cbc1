"""Entitlement changes sent to the destinations subscribed to their type, through the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from openspanner.errors import InvalidArgument
from openspanner.storage.client import Storage
from openspanner.storage.schema import migrate
from openspanner.webhooks.destinations import DestinationChanges, Destinations
from openspanner.webhooks.fanout import Fanout
from openspanner.webhooks.outbox import Outbox
from tests.harness import storage_at

EXCEEDED = {
    "id": "ent-1", "subject": "org_1", "meter": "api_requests", "plan_id": "p1", "plan_name": "pro",
    "type": "exceeded", "previous_state": "warning", "state": "exceeded", "current": 1000.0, "limit": 1000.0,
    "message": "quota is available; quota limit reached", "created_at": "2026-06-01T12:00:00Z",
}


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with storage_at(tmp_path, "fanout") as client:
        migrate(client)
        yield Storage(client, threads=1)


def test_an_entitlement_change_goes_to_each_enabled_subscriber_once(storage: Storage) -> None:
    async def scenario() -> None:
        destinations, outbox = Destinations(storage, allow_private=True), Outbox(storage)
        fanout = Fanout(destinations, outbox)
        exceeded = await destinations.create("ops", "", True, "http://10.0.0.1/a", ["entitlement.exceeded"])
        every = await destinations.create(
            "all", "", True, "http://10.0.0.1/b",
            ["entitlement.recovered", "entitlement.warning", "entitlement.exceeded"],
        )
        await destinations.create("alerts only", "", True, "http://10.0.0.1/c")
        off = await destinations.create("off", "", False, "http://10.0.0.1/d", ["entitlement.exceeded"])
        assert every.event_types == ("entitlement.warning", "entitlement.exceeded", "entitlement.recovered")

        jobs = await fanout.entitlement_changed(EXCEEDED)
        assert sorted(job.destination_id for job in jobs) == sorted([exceeded.id, every.id])
        assert {job.event_kind for job in jobs} == {"entitlement.exceeded"}
        assert b'"subject":"org_1"' in jobs[0].body
        # The same event published again is the same jobs.
        again = await fanout.entitlement_changed(EXCEEDED)
        assert {job.id for job in again} == {job.id for job in jobs}
        assert len(await outbox.list_jobs()) == 2

        await destinations.update(off.id, DestinationChanges(enabled=True))
        recovered = await fanout.entitlement_changed({**EXCEEDED, "id": "ent-2", "type": "recovered"})
        assert [job.destination_id for job in recovered] == [every.id]

        with pytest.raises(InvalidArgument) as refused:
            await destinations.create("bad", "", True, "http://10.0.0.1/e", ["entitlement.nope"])
        assert refused.value.field == "event_types"

    asyncio.run(scenario())
