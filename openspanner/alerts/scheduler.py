"""When rules are evaluated: every evaluation interval, 5 s after an event they match, and on demand.

Runs in the one process that runs the workers. Each rule's next evaluation
is kept in storage (the service writes it after every evaluation, and "now"
when a rule is created or changed) and mirrored here; the earlier of the two
wins, so a rule another server just created is evaluated at once. An event
committed in this process that a rule matches brings the rule forward to 5 s
after it (`note_committed`, called by the ingest pipeline after each commit):
a server that does not run the workers does not do this, and its events are
seen at the rule's next interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from openspanner.alerts.rules import EVENT_DELAY_SECONDS, AlertRule
from openspanner.alerts.service import AlertService
from openspanner.logging import get_logger
from openspanner.storage.alerts import AlertStore
from openspanner.storage.client import Storage
from openspanner.storage.events import EventRow

log = get_logger(__name__)

# How often due rules are looked for.
TICK_SECONDS = 1.0


class AlertScheduler:
    """A background task (background.py): runs in the process that runs the workers."""

    name = "alerts"

    def __init__(self, service: AlertService, storage: Storage, refresh_seconds: float) -> None:
        self._service = service
        self._storage = storage
        self._store = AlertStore(storage.client)
        self._refresh_seconds = refresh_seconds
        self._due: dict[str, datetime] = {}

    async def close(self, timeout: float) -> None:
        """An evaluation cut short stored its events before its states: the next one makes them again."""

    def note_committed(self, events: Sequence[EventRow]) -> None:
        """Events just committed: the rules they match are due in 5 s."""
        rules = [rule for rule in self._service.rules.items.values() if rule.enabled]
        if not rules:
            return
        by_meter: dict[str, list[AlertRule]] = {}
        for rule in rules:
            by_meter.setdefault(rule.meter, []).append(rule)
        soon = datetime.now(UTC) + timedelta(seconds=EVENT_DELAY_SECONDS)
        for event in events:
            for rule in by_meter.get(event.meter, ()):
                if _matches(rule, event.subject, event.metadata) and self._due.get(rule.id, soon) >= soon:
                    self._due[rule.id] = soon

    async def run(self) -> None:
        refreshed = -float("inf")
        while True:
            try:
                if time.monotonic() - refreshed >= self._refresh_seconds:
                    await self._refresh()
                    refreshed = time.monotonic()
                await self._evaluate_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # storage trouble: the next tick tries again
                log.warning("alert scheduling failed; retrying", exc_info=True)
            await asyncio.sleep(TICK_SECONDS)

    async def _refresh(self) -> None:
        await self._service.rules.reload()
        stored = await self._storage.run(self._store.load_schedule)
        for rule_id, at in stored.items():
            self._due[rule_id] = min(at, self._due.get(rule_id, at))

    async def _evaluate_due(self) -> None:
        now = datetime.now(UTC)
        for rule in list(self._service.rules.items.values()):
            due = self._due.setdefault(rule.id, now)
            if not rule.enabled or due > now:
                continue
            try:
                await self._service.evaluate(rule.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("alert evaluation failed; retried at its next interval", rule_id=rule.id, exc_info=True)
            self._due[rule.id] = datetime.now(UTC) + timedelta(seconds=rule.evaluation_interval_seconds)


def _matches(rule: AlertRule, subject: str, metadata: Mapping[str, str]) -> bool:
    if rule.subject and rule.subject != subject:
        return False
    return all(metadata.get(key) == value for key, value in rule.metadata.items())
