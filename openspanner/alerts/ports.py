"""What alerting needs from webhook destinations and deliveries, as small interfaces.

openspanner/webhooks provides both (Destinations, the durable Outbox), which
fit these as they are; alerting depends only on these, so its unit tests need
no receiver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from openspanner.webhooks.model import Attempt, Destination


class DestinationDirectory(Protocol):
    async def get(self, destination_id: str) -> Destination:
        """The destination of this id; raises NotFound when there is none."""


class DeliveryOutbox(Protocol):
    async def enqueue(
        self, event_kind: str, event_id: str, destination_id: str, payload: Mapping[str, object]
    ) -> object:
        """Store a delivery of `payload` (frozen as sent) to the destination; returns once it is durable.
        Enqueueing one event for one destination twice is one delivery."""

    async def latest_attempts(self, event_ids: Sequence[str]) -> Mapping[str, Attempt]:
        """The latest delivery attempt of each event that has one, by event id."""
