"""Alert rules: create, change, list, evaluate; the operations every edge calls.

An evaluation asks the query layer for the meter's aggregation over
[now - window, now) with the rule's filters (per group when grouped), runs the
state machine (machine.py), and stores what it made in this order: the
events, a delivery of each triggered or resolved one to the rule's
destination, then the states. A crash between two steps can therefore repeat
an event (the states still say what they said before, so the next evaluation
makes it again) but never lose one: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from openspanner.alerts import machine
from openspanner.alerts.machine import AlertEvent, Evaluation, GroupState, Observation, Status
from openspanner.alerts.payload import delivery_payload
from openspanner.alerts.ports import DeliveryOutbox, DestinationDirectory
from openspanner.alerts.rules import AlertRule, RuleDraft, check_rule, merged, new_rule
from openspanner.catalog import MeterCatalog
from openspanner.domain.meters import DimensionType
from openspanner.domain.paging import checked_limit
from openspanner.domain.queries import RawFilter, UsageRow, plan_usage_query
from openspanner.domain.values import SUBJECT, stored_text
from openspanner.errors import InvalidArgument, NotFound, OpenSpannerError
from openspanner.logging import get_logger
from openspanner.query.reader import UsageReader
from openspanner.refresh import RefreshingTable
from openspanner.storage.alerts import AlertStore
from openspanner.storage.client import Storage
from openspanner.webhooks.model import Attempt, Destination

log = get_logger(__name__)

# The event kind deliveries of alert events carry in the outbox.
DELIVERY_KIND = "alert"
US = 1_000_000
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RuleView:
    """A rule as its answers show it: with its states, primary state, schedule and destination."""

    rule: AlertRule
    states: tuple[GroupState, ...]
    next_evaluate_at: datetime | None
    destination: Destination | None

    @property
    def state(self) -> GroupState | None:
        return machine.primary_state(self.states)


@dataclass(frozen=True)
class EvaluationView:
    rule: RuleView
    state: GroupState
    events: tuple[AlertEvent, ...]


@dataclass(frozen=True)
class EventView:
    event: AlertEvent
    delivery: Attempt | None


class AlertService:
    def __init__(
        self,
        storage: Storage,
        catalog: MeterCatalog,
        reader: UsageReader,
        destinations: DestinationDirectory,
        outbox: DeliveryOutbox,
        refresh_seconds: float,
    ) -> None:
        self._storage = storage
        self._store = AlertStore(storage.client)
        self._catalog = catalog
        self._reader = reader
        self._destinations = destinations
        self._outbox = outbox
        self.rules = RefreshingTable("alert_rules", self._load, refresh_seconds)
        # One evaluation of a rule at a time in this process: two would each trigger.
        self._locks: dict[str, asyncio.Lock] = {}
        # Changes made through this server one at a time (an update reads, then writes, the rule).
        self._change_lock = asyncio.Lock()

    async def _load(self) -> dict[str, AlertRule]:
        return {rule.id: rule for rule in await self._storage.run(self._store.load_rules)}

    async def start(self) -> None:
        await self.rules.start()

    def stop(self) -> None:
        self.rules.stop()

    # ---- rules ---------------------------------------------------------------------------

    async def create(self, draft: RuleDraft) -> RuleView:
        rule = await self._checked(new_rule(str(uuid.uuid4()), draft))
        now = _now()
        rule = replace(rule, created_at=now, updated_at=now)
        async with self._change_lock:
            await self._storage.run(self._store.save_rule, rule)
            self.rules.put(rule.id, rule)
            await self._storage.run(self._store.schedule, rule.id, now)
        log.info("alert rule created", rule_id=rule.id, meter=rule.meter, destination_id=rule.destination_id)
        return await self._view(rule)

    async def update(self, rule_id: str, draft: RuleDraft) -> RuleView:
        async with self._change_lock:
            current = await self.rule(rule_id)
            rule = await self._checked(merged(current, draft))
            now = _now()
            rule = replace(rule, updated_at=now)
            await self._storage.run(self._store.save_rule, rule)
            self.rules.put(rule.id, rule)
            await self._storage.run(self._store.schedule, rule.id, now)
        log.info("alert rule updated", rule_id=rule.id, meter=rule.meter)
        return await self._view(rule)

    async def delete(self, rule_id: str) -> None:
        async with self._change_lock:
            rule = await self.rule(rule_id)
            await self._storage.run(self._store.delete_rule, rule.id)
            self.rules.remove(rule.id)
        log.info("alert rule deleted", rule_id=rule.id, meter=rule.meter)

    async def rule(self, rule_id: str) -> AlertRule:
        rule = await self.rules.lookup(rule_id.strip()) if rule_id.strip() else None
        if rule is None:
            raise NotFound(f"alert rule {rule_id!r} does not exist", field="id")
        return rule

    async def get(self, rule_id: str) -> RuleView:
        return await self._view(await self.rule(rule_id))

    async def list_rules(self, meter: str = "", enabled: bool | None = None, limit: int = 100) -> list[RuleView]:
        size = checked_limit(limit, field="limit")
        await self.rules.reload()
        # Newest first, as the product lists them.
        rules = sorted(self.rules.items.values(), key=lambda r: (r.created_at or _EARLIEST, r.id), reverse=True)
        selected = [r for r in rules if (not meter or r.meter == meter) and (enabled is None or r.enabled is enabled)]
        return await self._views(selected[:size])

    async def destination_user(self, destination_id: str) -> str | None:
        """The rule that sends to the destination, named, or None: a destination in use may not be deleted."""
        await self.rules.reload()
        for rule in self.rules.items.values():
            if rule.destination_id == destination_id:
                return f"alert rule {rule.name!r} ({rule.id})"
        return None

    async def _checked(self, rule: AlertRule) -> AlertRule:
        meter = await self._catalog.get(rule.meter.strip(), field="meter")
        checked = check_rule(rule, meter)
        if await self._destination(checked.destination_id) is None:
            raise NotFound(f"alert destination {checked.destination_id!r} does not exist", field="destination_id")
        return checked

    async def _destination(self, destination_id: str) -> Destination | None:
        try:
            return await self._destinations.get(destination_id)
        except NotFound:
            return None

    async def _view(self, rule: AlertRule) -> RuleView:
        return (await self._views([rule]))[0]

    async def _views(self, rules: Sequence[AlertRule]) -> list[RuleView]:
        states = await self._storage.run(self._store.load_states, [r.id for r in rules])
        schedule = await self._storage.run(self._store.load_schedule)
        return [
            RuleView(rule, tuple(machine.ordered(states.get(rule.id, ()))), schedule.get(rule.id),
                     await self._destination(rule.destination_id))
            for rule in rules
        ]

    # ---- evaluation ----------------------------------------------------------------------

    async def evaluate(self, rule_id: str) -> EvaluationView:
        """Evaluate a rule now, store and send what it made, and schedule its next evaluation."""
        rule = await self.rule(rule_id)
        lock = self._locks.setdefault(rule.id, asyncio.Lock())
        async with lock:
            now = _now()
            previous = (await self._storage.run(self._store.load_states, [rule.id])).get(rule.id, [])
            if not rule.enabled:
                state = GroupState("", "", Status.OK, 0.0, "alert rule is disabled", now, now, Status.OK)
                return EvaluationView(await self._view(rule), state, ())
            try:
                observations = await self._observe(rule, now)
                outcome = machine.evaluate(rule, previous, observations, now)
            except OpenSpannerError as error:
                outcome = machine.failed(rule, previous, str(error), now)
                log.warning("alert evaluation failed", rule_id=rule.id, meter=rule.meter, error=str(error))
            await self._record(rule, previous, outcome)
            next_at = now + timedelta(seconds=rule.evaluation_interval_seconds)
            await self._storage.run(self._store.schedule, rule.id, next_at)
            view = await self._view(rule)
            primary = machine.primary_state(outcome.states)
            assert primary is not None  # an evaluation always leaves a state
            log.info("alert rule evaluated", rule_id=rule.id, meter=rule.meter, status=primary.status.value,
                     value=primary.value, events=len(outcome.events))
            return EvaluationView(view, primary, outcome.events)

    async def _observe(self, rule: AlertRule, now: datetime) -> list[Observation]:
        meter = await self._catalog.get(rule.meter, field="meter")
        end_us = _us(now)
        query = plan_usage_query(
            meter,
            start_us=end_us - rule.window_seconds * US,
            end_us=end_us,
            window_size=None,
            time_zone_name="UTC",
            subjects=[rule.subject] if rule.subject else [],
            filters=[RawFilter(key, (value,)) for key, value in rule.metadata.items()],
            group_by=[rule.group_by] if rule.group_by else [],
            fill=False,
        )
        rows = await self._reader.usage(query)
        types = {d.name: d.type for d in meter.dimensions}
        return [Observation(_group_value(rule.group_by, row, types), row.value, row.count) for row in rows]

    async def _record(self, rule: AlertRule, previous: Sequence[GroupState], outcome: Evaluation) -> None:
        await self._storage.run(self._store.insert_events, outcome.events)
        by_group = {state.group: state for state in outcome.states}
        for event in outcome.deliverable:
            state = by_group[(event.group_key, event.group_value)]
            payload = delivery_payload(event, rule, state, await self._destination(rule.destination_id))
            await self._outbox.enqueue(DELIVERY_KIND, event.id, rule.destination_id, payload)
            log.info("alert event enqueued", rule_id=rule.id, event_id=event.id, type=event.type.value,
                     group_value=event.group_value, destination_id=rule.destination_id)
        kept = set(by_group)
        dropped = [state.group for state in previous if state.group not in kept]
        await self._storage.run(self._store.save_states, rule.id, outcome.states, dropped)

    # ---- events --------------------------------------------------------------------------

    async def events(self, rule_id: str = "", limit: int = 100, cursor: str = "") -> tuple[list[EventView], str]:
        """A page of events, newest first, each with its latest delivery, and the next page's cursor."""
        size = checked_limit(limit, field="limit")
        after = _decode_cursor(cursor) if cursor else None
        found = await self._storage.run(self._store.list_events, rule_id.strip(), size + 1, after)
        page = found[:size]
        deliveries = await self._outbox.latest_attempts([e.id for e in page])
        next_cursor = _encode_cursor(page[-1]) if len(found) > size else ""
        return [EventView(e, deliveries.get(e.id)) for e in page], next_cursor


def _group_value(group_by: str, row: UsageRow, types: Mapping[str, DimensionType]) -> str:
    if not group_by:
        return ""
    if group_by == SUBJECT:
        return row.subject or ""
    value = row.group[0][1]
    return "" if value is None else stored_text(value, types[group_by]) or ""


def _encode_cursor(event: AlertEvent) -> str:
    payload = json.dumps([_us(event.created_at), event.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(value[0]), str(value[1])
    except (ValueError, TypeError, IndexError, KeyError):
        raise InvalidArgument("is not a cursor this listing gave", field="cursor") from None


def _now() -> datetime:
    # Milliseconds: what the states and schedule tables keep, so a stored instant reads back equal.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds

