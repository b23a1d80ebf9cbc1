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
from collections.abc import Iterable, Mapping, Sequence
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
        """Events just committed: the rules they match are due in 5 s (sooner ones stay sooner).
        Runs on the write path: a set of the block's meters, then only the rows of meters that
        have rules with filters, until each such rule is matched."""
        soon = datetime.now(UTC) + timedelta(seconds=EVENT_DELAY_SECONDS)
        waiting = [
            rule for rule in self._service.rules.items.values()
            if rule.enabled and self._due.get(rule.id, soon) >= soon
        ]
        for rule_id in rules_matched(waiting, events):
            self._due[rule_id] = soon

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


def rules_matched(rules: Iterable[AlertRule], events: Sequence[EventRow]) -> set[str]:
    """The ids of the rules at least one of the events matches (meter, subject, filters)."""
    by_meter: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_meter.setdefault(rule.meter, []).append(rule)
    if not by_meter:
        return set()
    matched: set[str] = set()
    for meter in {event.meter for event in events} & by_meter.keys():
        filtered = []
        for rule in by_meter[meter]:
            if rule.subject or rule.metadata:
                filtered.append(rule)
            else:
                matched.add(rule.id)
        for event in events:
            if not filtered:
                break
            if event.meter == meter:
                hits = [rule for rule in filtered if _matches(rule, event.subject, event.metadata)]
                matched.update(rule.id for rule in hits)
                filtered = [rule for rule in filtered if rule not in hits]
    return matched


def _matches(rule: AlertRule, subject: str, metadata: Mapping[str, str]) -> bool:
    if rule.subject and rule.subject != subject:
        return False
    return all(metadata.get(key) == value for key, value in rule.metadata.items())
