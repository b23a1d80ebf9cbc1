"""The background task that keeps the hourly rollups built (storage/rollups.py).

A background task (background.py): it runs where the workers run, one
process of a deployment. Builds are idempotent (a newer build of an hour
replaces an older one), so two processes running it by mistake may build the
same hour twice without harm; a server that does not run it still answers
exactly, reading the hours nobody built from raw events. Each hour is built in its own storage call, so
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
    name = "rollups"

    def __init__(
        self, storage: Storage, catalog: MeterCatalog, settle_seconds: float, interval_seconds: float
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self._store = RollupStore(storage.client)
        self._settle_ms = int(settle_seconds * 1000)
        self._interval = interval_seconds

    async def close(self, timeout: float) -> None:
        return None  # a build cut short stores nothing: its hour is built again

    async def run(self) -> None:
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
