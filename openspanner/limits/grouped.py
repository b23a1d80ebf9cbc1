"""Grouped storage calls: concurrent consumes share one look-up and one insert.

A consume reads its key's stored decision and writes its own: one storage
round trip each would cap consumes far below the event pipeline, which
already shares inserts between concurrent calls (group commit). Here too,
while one call to storage runs, the next requests queue, and go together
in the next call; a lone request goes at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# At most this many requests per storage call.
MAX_GROUP = 1000


class GroupedCall(Generic[Item, Result]):
    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result]]], name: str) -> None:
        """`run`: one result per item, in order (it runs the blocking call in the storage pool)."""
        self._run = run
        self._name = name
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = False

    async def call(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                try:
                    results = await self._run([item for item, _ in group])
                except Exception as error:  # each caller gets the storage error
                    for _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = False
