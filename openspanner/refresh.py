"""A name -> value table mirrored from storage and refreshed in the background.

Meters and API keys are written rarely and read on every call, by every
server. Each server serves them from memory, re-reads them every few seconds,
and re-reads at once (rate limited) when asked for a name it lacks, so what
another server just created is usable right away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from openspanner.logging import get_logger

log = get_logger(__name__)

V = TypeVar("V")

# A miss re-reads storage at most this often, so a client sending unknown
# names cannot turn every call into a storage query.
MISS_RELOAD_INTERVAL_SECONDS = 0.5


class RefreshingTable(Generic[V]):
    def __init__(
        self, name: str, load: Callable[[], Awaitable[dict[str, V]]], refresh_seconds: float
    ) -> None:
        self._name = name
        self._load = load
        self._refresh_seconds = refresh_seconds
        self.items: dict[str, V] = {}
        self._loaded_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._refresh_forever(), name=f"{self._name}-refresh")

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def reload(self) -> None:
        self.items = await self._load()
        self._loaded_at = time.monotonic()

    async def lookup(self, key: str) -> V | None:
        """The value, re-reading storage on a miss (rate limited)."""
        value = self.items.get(key)
        if value is None and time.monotonic() - self._loaded_at > MISS_RELOAD_INTERVAL_SECONDS:
            await self.reload()
            value = self.items.get(key)
        return value

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.reload()
            except Exception:  # keep serving the last copy
                log.warning("refresh failed, serving the last copy", table=self._name, exc_info=True)
