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
        # When the installed copy's load began: an older load finishing later
        # must not replace it.
        self._installed_load_began = 0.0
        # Changes this server made, with when: a load that began before a
        # change cannot have seen it, so the change is applied on top of it
        # (None = removed).
        self._changes: dict[str, tuple[float, V | None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._refresh_forever(), name=f"{self._name}-refresh")

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def put(self, key: str, value: V) -> None:
        """Record a value this server has just written to storage."""
        self.items[key] = value
        self._changes[key] = (time.monotonic(), value)

    def remove(self, key: str) -> None:
        """Record a removal this server has just written to storage."""
        self.items.pop(key, None)
        self._changes[key] = (time.monotonic(), None)

    async def reload(self) -> None:
        began = time.monotonic()
        items = await self._load()
        if began < self._installed_load_began:
            return  # a newer load is already installed
        for key, (changed_at, value) in list(self._changes.items()):
            if changed_at < began:
                del self._changes[key]  # written before this load began: it is in `items`
            elif value is None:
                items.pop(key, None)
            else:
                items[key] = value
        self.items = items
        self._installed_load_began = began
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
