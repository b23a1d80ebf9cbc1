"""Background work of a process: the tasks that run beside (or instead of) serving.

Webhook delivery runs here, and so do the other workers that join it (alert
evaluation, export jobs): each is a `BackgroundTask` added to `Workers`
before it starts. `openspanner serve` starts them unless
OPENSPANNER_WORKERS=false; `openspanner worker` runs only them. One process
per deployment should run them (docs/webhooks.md says what happens when two
do). A task that fails is logged and started again after a pause, so one
bad poll never ends the work for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from openspanner.logging import get_logger

log = get_logger(__name__)

RESTART_PAUSE_SECONDS = 5.0


class BackgroundTask(Protocol):
    name: str

    async def run(self) -> None:
        """Work until cancelled."""

    async def close(self, timeout: float) -> None:
        """After `run` is cancelled: finish or abandon work in flight within `timeout`, release resources."""


class Periodic:
    """A task calling `tick` every `every_seconds` (the next call waits for the previous one)."""

    def __init__(self, name: str, every_seconds: float, tick: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self._every_seconds = every_seconds
        self._tick = tick

    async def run(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception as exc:
                log.warning("periodic task failed; runs again at its next tick", task=self.name, error=repr(exc))
            await asyncio.sleep(self._every_seconds)

    async def close(self, timeout: float) -> None:
        return None


class Workers:
    def __init__(self) -> None:
        self._tasks: list[BackgroundTask] = []
        self._running: dict[str, asyncio.Task[None]] = {}

    def add(self, task: BackgroundTask) -> None:
        if any(existing.name == task.name for existing in self._tasks):
            raise ValueError(f"a background task named {task.name!r} is already added")
        self._tasks.append(task)

    @property
    def names(self) -> list[str]:
        return [task.name for task in self._tasks]

    def start(self) -> None:
        for task in self._tasks:
            self._running[task.name] = asyncio.create_task(self._supervised(task), name=f"worker-{task.name}")
        log.info("workers started", tasks=self.names)

    async def stop_intake(self) -> None:
        """Cancel every task's `run`: no new work starts; work in flight goes on until `stop`."""
        for running in self._running.values():
            running.cancel()
        for running in self._running.values():
            with contextlib.suppress(asyncio.CancelledError):
                await running
        self._running.clear()

    async def stop(self, timeout: float) -> None:
        """Stop the intake (if not yet), then give each task's `close` what remains of `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.stop_intake()
        for task in reversed(self._tasks):
            try:
                await task.close(max(deadline - loop.time(), 0.0))
            except Exception as exc:
                log.error("background task did not close cleanly", task=task.name, error=repr(exc))

    async def _supervised(self, task: BackgroundTask) -> None:
        while True:
            try:
                await task.run()
                log.warning("background task returned; starting it again", task=task.name)
            except Exception as exc:
                log.error("background task failed; starting it again", task=task.name, error=repr(exc), exc_info=True)
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
