"""Webhook destinations: where events are sent and the secret they are signed with.

The secret is made on create and on rotate and answered only then (the
transport decides what to show; the domain value always carries it, since
every attempt signs with it). Deleting a destination that something still
uses (an alert rule) is refused: each user of destinations registers a check
(`add_in_use_check`) that names what uses it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from openspanner.errors import FailedPrecondition, InvalidArgument, NotFound
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.webhooks import DestinationStore
from openspanner.webhooks.model import Destination
from openspanner.webhooks.signing import new_secret
from openspanner.webhooks.targets import check_resolved_url, check_url

log = get_logger(__name__)

MAX_NAME_LENGTH = 120
WEBHOOK = "webhook"
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000

# The events a destination may subscribe to (fanout.py); alert events go to the destination their rule names.
EVENT_TYPES = ("entitlement.warning", "entitlement.exceeded", "entitlement.recovered")
# Destinations read to find the subscribers of an event type.
MAX_SUBSCRIBERS = 1000

# Given a destination id, what uses it (e.g. "alert rule 'x'"), or None.
InUseCheck = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class DestinationChanges:
    """An update: None leaves a field as it is."""

    name: str | None = None
    type: str | None = None
    enabled: bool | None = None
    webhook_url: str | None = None
    event_types: Sequence[str] | None = None


class Destinations:
    def __init__(self, storage: Storage, allow_private: bool) -> None:
        self._storage = storage
        self._store = DestinationStore(storage.client)
        self._allow_private = allow_private
        self._in_use_checks: list[InUseCheck] = []

    @property
    def allow_private(self) -> bool:
        return self._allow_private

    def add_in_use_check(self, check: InUseCheck) -> None:
        """Refuse deleting a destination while `check` names a user of it (alert rules register one)."""
        self._in_use_checks.append(check)

    async def create(
        self, name: str, type: str, enabled: bool, webhook_url: str, event_types: Sequence[str] = ()
    ) -> Destination:
        now = _now()
        destination = Destination(
            id=str(uuid.uuid4()),
            name=_checked_name(name),
            type=_checked_type(type),
            enabled=enabled,
            webhook_url=await self._checked_url(webhook_url),
            secret=new_secret(),
            created_at=now,
            updated_at=now,
            event_types=checked_event_types(event_types),
        )
        await self._storage.run(self._store.save, destination, time.time_ns())
        log.info("webhook destination created", destination=destination.id)
        return destination

    async def get(self, destination_id: str) -> Destination:
        found = await self._storage.run(self._store.get, destination_id.strip())
        if found is None:
            raise NotFound(f"destination {destination_id!r} does not exist", field="id")
        return found

    async def list_destinations(self, type: str | None, enabled: bool | None, limit: int | None) -> list[Destination]:
        if limit is not None and limit <= 0:
            raise InvalidArgument("must be a positive integer", field="limit")
        limit = min(limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
        return await self._storage.run(self._store.list, type or None, enabled, limit)

    async def update(self, destination_id: str, changes: DestinationChanges) -> Destination:
        existing = await self.get(destination_id)
        updated = replace(
            existing,
            name=existing.name if changes.name is None else _checked_name(changes.name),
            type=existing.type if changes.type is None else _checked_type(changes.type),
            enabled=existing.enabled if changes.enabled is None else changes.enabled,
            webhook_url=existing.webhook_url if changes.webhook_url is None
            else await self._checked_url(changes.webhook_url),
            event_types=existing.event_types if changes.event_types is None
            else checked_event_types(changes.event_types),
            updated_at=_now(),
        )
        await self._storage.run(self._store.save, updated, time.time_ns())
        log.info("webhook destination updated", destination=updated.id)
        return updated

    async def rotate_secret(self, destination_id: str) -> Destination:
        """A new secret; attempts from now on sign with it (a job retried later too)."""
        rotated = replace(await self.get(destination_id), secret=new_secret(), updated_at=_now())
        await self._storage.run(self._store.save, rotated, time.time_ns())
        log.info("webhook destination secret rotated", destination=rotated.id)
        return rotated

    async def delete(self, destination_id: str) -> None:
        existing = await self.get(destination_id)
        for check in self._in_use_checks:
            user = await check(existing.id)
            if user:
                raise FailedPrecondition(f"destination is used by {user}; change or delete that first", field="id")
        await self._storage.run(self._store.delete, existing.id, time.time_ns())
        log.info("webhook destination deleted", destination=existing.id)

    async def subscribed(self, event_type: str) -> list[Destination]:
        """The enabled destinations that take events of this type."""
        every = await self._storage.run(self._store.list, None, True, MAX_SUBSCRIBERS)
        return [d for d in every if event_type in d.event_types]

    async def _checked_url(self, url: str) -> str:
        checked = check_url(url, self._allow_private)
        await check_resolved_url(checked, self._allow_private)
        return checked


def checked_event_types(event_types: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidArgument(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}", field="event_types"
        )
    return tuple(t for t in EVENT_TYPES if t in event_types)


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument("is required", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_NAME_LENGTH} characters", field="name")
    return name


def _checked_type(value: str) -> str:
    value = value.strip()
    if value in ("", WEBHOOK):
        return WEBHOOK
    raise InvalidArgument(f"unsupported destination type {value!r}; the one type is webhook", field="type")


def _now() -> datetime:
    """To the millisecond, as storage keeps it, so a destination reads the same when made and when listed."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
