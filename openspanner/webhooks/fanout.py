"""Events without a rule of their own, sent to every destination that subscribed to their type.

Beyond the product: an entitlement's change of state (`warning`,
`exceeded`, `recovered`, from the limits) goes to each enabled destination
whose `event_types` holds `entitlement.<type>`, through the same outbox as
alerts: one delivery job per destination, signed, retried, logged. The
producer calls `publish` after it has stored its event, with the event's own
id, so a repeated publish of one event is the same jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from openspanner.logging import get_logger
from openspanner.webhooks.destinations import Destinations
from openspanner.webhooks.model import DeliveryJob
from openspanner.webhooks.outbox import Outbox

log = get_logger(__name__)

TEST_EVENT_KIND = "destination.test"


class Fanout:
    def __init__(self, destinations: Destinations, outbox: Outbox) -> None:
        self._destinations = destinations
        self._outbox = outbox

    async def publish(self, event_type: str, event_id: str, payload: Mapping[str, object]) -> list[DeliveryJob]:
        """Enqueue `payload` to each subscriber of `event_type`; returns once every job is stored."""
        jobs = [
            await self._outbox.enqueue(event_type, event_id, destination.id, payload)
            for destination in await self._destinations.subscribed(event_type)
        ]
        if jobs:
            log.info("event published", event_type=event_type, event_id=event_id, deliveries=len(jobs))
        return jobs

    async def entitlement_changed(self, event: Mapping[str, object]) -> list[DeliveryJob]:
        """An entitlement event as the limits store it (`GET /v1/entitlements/events`: id, subject,
        meter, plan_id, plan_name, type, previous_state, state, current, limit, message,
        created_at), sent as `{"event": {...}}` to the subscribers of `entitlement.<type>`."""
        return await self.publish(f"entitlement.{event['type']}", str(event["id"]), {"event": dict(event)})

    async def send_test(self, destination_id: str) -> DeliveryJob:
        """A test event to one destination (enabled or not), delivered like any other."""
        destination = await self._destinations.get(destination_id)
        event_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        payload = {
            "event": {
                "id": event_id, "type": "test", "message": "a test delivery from Open Spanner",
                "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            },
            "destination": {"id": destination.id, "name": destination.name},
        }
        return await self._outbox.enqueue(TEST_EVENT_KIND, event_id, destination.id, payload)
