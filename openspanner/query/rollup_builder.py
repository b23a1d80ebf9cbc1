"""The background task that keeps the hourly rollups built (storage/rollups.py).

Every server runs one. Builds are idempotent (a newer build of an hour
replaces an older one), so servers sharing a ClickHouse may build the same
hour twice without harm. Each hour is built in its own storage call, so
writes queued on the embedded engine's one connection wait for at most one
build at a time.
"""

from __future__ import annotations

import asyncio
import time

from openspanner.catalog import MeterCatalog
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.rollups import RollupStore, settled_spans

log = get_logger(__name__)


class RollupBuilder:
    def __init__(
        self, storage: Storage, catalog: MeterCatalog, settle_seconds: float, interval_seconds: float
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self._store = RollupStore(storage.client)
        self._settle_ms = int(settle_seconds * 1000)
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._build_forever(), name="rollup-builder")

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _build_forever(self) -> None:
        caught_up = False
        while True:
            try:
                hours = await self.build_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage down or busy: tried again next round
                reason = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
                log.warning("rollup build failed; tried again next round", error=reason)
                hours = -1
            if hours == 0 and not caught_up:
                log.info("rollups caught up")
            caught_up = hours == 0
            await asyncio.sleep(self._interval)

    async def build_once(self) -> int:
        """Build what has settled; returns the hours built."""
        meters = self._catalog.all()
        version_ms, spans = await self._storage.run(settled_spans, self._store, meters, self._settle_ms)
        for span in spans:
            started = time.perf_counter()
            await self._storage.run(self._store.build, span, version_ms)
            log.info(
                "rollup hours built",
                meter=span.meter,
                hours=span.hours,
                first_hour_us=span.first_us,
                changed=bool(span.only),
                seconds=round(time.perf_counter() - started, 3),
            )
        return sum(span.hours for span in spans)
