"""The registry of background work: tasks run until stopped, a failed one starts again, and
each gets what remains of the stop's deadline to close."""

from __future__ import annotations

import asyncio

import pytest

from openspanner import background
from openspanner.background import Periodic, Workers
from openspanner.config import load_settings
from openspanner.errors import ConfigError


class Flaky:
    """Fails on its first run, then works until cancelled."""

    name = "flaky"

    def __init__(self) -> None:
        self.runs = 0
        self.closed_with: float | None = None
        self.working = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("first run fails")
        self.working.set()
        await asyncio.Event().wait()

    async def close(self, timeout: float) -> None:
        self.closed_with = timeout


def test_a_failed_task_starts_again_and_every_task_closes_on_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "RESTART_PAUSE_SECONDS", 0.0)

    async def scenario() -> tuple[Flaky, int]:
        flaky, ticks = Flaky(), 0

        async def tick() -> None:
            nonlocal ticks
            ticks += 1

        workers = Workers()
        workers.add(flaky)
        workers.add(Periodic("ticker", 0.0, tick))
        workers.start()
        await asyncio.wait_for(flaky.working.wait(), 10)
        await workers.stop(timeout=5.0)
        return flaky, ticks

    flaky, ticks = asyncio.run(scenario())
    assert flaky.runs == 2
    assert flaky.closed_with is not None and 0 < flaky.closed_with <= 5.0
    assert ticks >= 1


def test_two_tasks_of_one_name_are_refused() -> None:
    workers = Workers()
    workers.add(Flaky())
    with pytest.raises(ValueError, match="already added"):
        workers.add(Flaky())


def test_the_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ConfigError, match="OPENSPANNER_WEBHOOK_LEASE_SECONDS must be longer"):
        load_settings(webhook_timeout_seconds=30, webhook_lease_seconds=30)
    assert load_settings().workers is True
