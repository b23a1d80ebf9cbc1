"""The meter catalog: meter CRUD plus the in-memory copy the ingest path reads.

Meters live in ClickHouse so that every server sees the same ones; each
server reads them from a RefreshingTable (see refresh.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from openspanner.domain.meters import UPDATABLE_FIELDS, Meter, apply_update, validate_meter
from openspanner.domain.paging import checked_limit
from openspanner.domain.rollups import DAY_US, HOUR_US
from openspanner.errors import AlreadyExists, FailedPrecondition, NotFound
from openspanner.logging import get_logger
from openspanner.refresh import RefreshingTable
from openspanner.storage.client import Storage
from openspanner.storage.events import EventStore
from openspanner.storage.meters import MeterStore
from openspanner.storage.rollups import RollupStore

log = get_logger(__name__)


class MeterCatalog:
    def __init__(self, storage: Storage, refresh_seconds: float) -> None:
        self._storage = storage
        self._store = MeterStore(storage.client)
        self._events = EventStore(storage.client)
        self._rollups = RollupStore(storage.client)
        self._table = RefreshingTable("meters", self._load, refresh_seconds)
        # Serializes changes made through this server (create-if-absent,
        # read-modify-write updates).
        self._change_lock = asyncio.Lock()

    @property
    def _meters(self) -> dict[str, Meter]:
        return self._table.items

    async def start(self) -> None:
        await self._table.start()

    def stop(self) -> None:
        self._table.stop()

    async def _load(self) -> dict[str, Meter]:
        meters = await self._storage.run(self._store.load_all)
        return {m.name: m for m in meters}

    async def reload(self) -> None:
        await self._table.reload()

    async def lookup(self, name: str) -> Meter | None:
        """The meter, from memory; a miss re-reads storage (rate limited)."""
        return await self._table.lookup(name)

    async def get(self, name: str, field: str = "name") -> Meter:
        """The meter, or NotFound naming `field`, the request field that named it."""
        meter = await self.lookup(name)
        if meter is None:
            raise NotFound(f"meter {name!r} does not exist", field=field)
        return meter

    async def get_by_reference(self, reference: str, field: str = "id") -> Meter:
        """The meter whose id, or else name, is `reference`: the REST resource is addressed
        by id as in the product, and by name as our users and the seeds address it."""
        meter = self._by_id(reference)
        if meter is None:
            # A name, or a meter another server just created: a miss re-reads
            # storage (rate limited), which brings its id in too.
            meter = await self.lookup(reference) or self._by_id(reference)
        if meter is None:
            raise NotFound(f"meter {reference!r} does not exist", field=field)
        return meter

    def _by_id(self, meter_id: str) -> Meter | None:
        return next((m for m in self._meters.values() if m.id == meter_id), None)

    def all(self) -> list[Meter]:
        """Every meter, by name, as this server knows them now."""
        return [self._meters[name] for name in sorted(self._meters)]

    def page(
        self, page_size: int, page_token: str, *, name: str = "", size_field: str = "page_size"
    ) -> tuple[list[Meter], str]:
        """Meters after `page_token` (the last name of the previous page), by name;
        only the one called `name` when given."""
        size = checked_limit(page_size, field=size_field)
        names = sorted(n for n in self._meters if n > page_token and (not name or n == name))
        selected = names[:size]
        next_token = selected[-1] if len(names) > size else ""
        return [self._meters[name] for name in selected], next_token

    async def create(self, meter: Meter) -> Meter:
        meter = validate_meter(meter)
        async with self._change_lock:
            await self.reload()
            if meter.name in self._meters:
                raise AlreadyExists(f"meter {meter.name!r} already exists", field="name")
            now = datetime.now(UTC)
            meter = replace(meter, id=str(uuid.uuid4()), create_time=now, update_time=now)
            await self._storage.run(self._store.save, meter)
            self._table.put(meter.name, meter)
        log.info("meter created", meter=meter.name, aggregation=meter.aggregation.value)
        return meter

    async def update(self, requested: Meter, fields: tuple[str, ...]) -> Meter:
        async with self._change_lock:
            current = await self.get(requested.name)
            has_events = await self._storage.run(self._events.has_events, current.name)
            updated = apply_update(current, requested, fields or UPDATABLE_FIELDS, has_events=has_events)
            updated = replace(updated, update_time=datetime.now(UTC))
            await self._storage.run(self._store.save, updated)
            if updated.event_retention_days != current.event_retention_days:
                await self._storage.run(
                    self._events.set_retention, updated.name, updated.event_retention_days
                )
            if updated.event_retention_days > current.event_retention_days:
                # TTL may have dropped events past the old retention that the
                # rollups still count: those hours are built again from events.
                expired_before = (time.time_ns() // 1000) - current.event_retention_days * DAY_US + 2 * HOUR_US
                await self._storage.run(self._rollups.mark_hours_before, updated.name, expired_before)
            self._table.put(updated.name, updated)
        log.info("meter updated", meter=updated.name, fields=list(fields) or "all")
        return updated

    async def delete(self, name: str, force: bool) -> int:
        """Delete a meter; with force also its events. Returns events deleted."""
        async with self._change_lock:
            await self.get(name)
            events = await self._storage.run(self._events.count, name)
            if events and not force:
                raise FailedPrecondition(
                    f"meter {name!r} has {events} stored events; set force to delete them too",
                    field="force",
                )
            # Rollups first: no hour is then read from rollup rows of events already deleted.
            await self._storage.run(self._rollups.delete_meter, name)
            if events:
                await self._storage.run(self._events.delete_meter_events, name)
            await self._storage.run(self._store.delete, name)
            self._table.remove(name)
        log.info("meter deleted", meter=name, deleted_events=events)
        return events
