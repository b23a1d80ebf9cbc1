"""RefreshingTable: a reload racing with this server's own changes never hides them.

The loader here is a plain coroutine the test holds back, so each
interleaving is forced rather than hoped for; the servers' tests cover the
table with real storage.
"""

from __future__ import annotations

import asyncio

from openspanner.refresh import RefreshingTable


class HeldLoader:
    """Returns a snapshot of `stored` taken when called; while `hold` was set then, only once released."""

    def __init__(self, stored: dict[str, int]) -> None:
        self.stored = stored
        self.hold = True
        self.release = asyncio.Event()

    async def __call__(self) -> dict[str, int]:
        snapshot = dict(self.stored)
        if self.hold:
            await self.release.wait()
        return snapshot


async def table_with(loader: HeldLoader) -> RefreshingTable[int]:
    table = RefreshingTable("test", loader, refresh_seconds=3600)
    loader.release.set()
    await table.reload()
    loader.release.clear()
    return table


def test_a_put_during_a_reload_survives_the_stale_result() -> None:
    async def scenario() -> dict[str, int]:
        loader = HeldLoader({"a": 1})
        table = await table_with(loader)
        reload = asyncio.create_task(table.reload())
        await asyncio.sleep(0)  # the load has taken its snapshot
        loader.stored["b"] = 2
        table.put("b", 2)
        loader.release.set()
        await reload
        return table.items

    assert asyncio.run(scenario()) == {"a": 1, "b": 2}


def test_a_removal_during_a_reload_is_not_undone() -> None:
    async def scenario() -> dict[str, int]:
        loader = HeldLoader({"a": 1, "b": 2})
        table = await table_with(loader)
        reload = asyncio.create_task(table.reload())
        await asyncio.sleep(0)
        del loader.stored["b"]
        table.remove("b")
        loader.release.set()
        await reload
        return table.items

    assert asyncio.run(scenario()) == {"a": 1}


def test_an_older_load_finishing_last_does_not_replace_a_newer_one() -> None:
    async def scenario() -> dict[str, int]:
        loader = HeldLoader({"a": 1})
        table = await table_with(loader)
        older = asyncio.create_task(table.reload())
        await asyncio.sleep(0)
        loader.stored["a"] = 5  # written by another server
        loader.hold = False
        await table.reload()  # begins later, finishes first
        loader.release.set()
        await older
        return table.items

    assert asyncio.run(scenario()) == {"a": 5}


def test_changes_older_than_a_completed_load_come_from_storage() -> None:
    async def scenario() -> dict[str, int]:
        loader = HeldLoader({"a": 1})
        table = await table_with(loader)
        table.put("b", 2)
        loader.stored["b"] = 2
        loader.release.set()
        await table.reload()
        # Another server later deletes b; this server's old put must not revive it.
        del loader.stored["b"]
        await table.reload()
        return table.items

    assert asyncio.run(scenario()) == {"a": 1}
