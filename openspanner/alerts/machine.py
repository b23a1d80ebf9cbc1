"""The alert state machine: from a rule, its previous states and what the window holds, the next
states and the events they make. Pure code, tested against a reference (tests/unit/alerts).

A state is kept per group (one group, keyed "", when the rule is not
grouped). Its status is `no_data` (no events in the window), `alerting` (the
comparison holds), `ok`, or `error` (the evaluation failed). A `triggered`
event is made when a group enters alerting and a `resolved` one when it
leaves it, a group that vanished while alerting included: never one per
evaluation. An evaluation that fails makes no triggered or resolved event and
leaves each group's alerting as it was, so a rule that fails while alerting
and then alerts again does not trigger twice; `evaluation_failed` is made
when the rule enters error, not at every failed evaluation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from openspanner.alerts.rules import AlertRule

NO_DATA_MESSAGE = "no usage data in alert window"


class Status(StrEnum):
    OK = "ok"
    ALERTING = "alerting"
    NO_DATA = "no_data"
    ERROR = "error"


class EventType(StrEnum):
    TRIGGERED = "triggered"
    RESOLVED = "resolved"
    EVALUATION_FAILED = "evaluation_failed"


# Which state of several speaks for the rule (the product's order): alerting first, ok last.
_PRIORITY = {Status.ALERTING: 0, Status.ERROR: 1, Status.NO_DATA: 2, Status.OK: 3}


@dataclass(frozen=True)
class GroupState:
    group_key: str
    group_value: str
    status: Status
    value: float
    message: str
    evaluated_at: datetime
    updated_at: datetime
    # The last status other than error: what the next transition is measured from.
    settled: Status

    @property
    def group(self) -> tuple[str, str]:
        return (self.group_key, self.group_value)


@dataclass(frozen=True)
class Observation:
    """What the window holds for one group: its value and how many events made it."""

    group_value: str
    value: float | None
    events: int


@dataclass(frozen=True)
class AlertEvent:
    id: str
    rule_id: str
    group_key: str
    group_value: str
    type: EventType
    value: float
    message: str
    created_at: datetime


@dataclass(frozen=True)
class Evaluation:
    states: tuple[GroupState, ...]
    events: tuple[AlertEvent, ...]

    @property
    def deliverable(self) -> tuple[AlertEvent, ...]:
        """The events sent to the rule's destination."""
        return tuple(e for e in self.events if e.type is not EventType.EVALUATION_FAILED)




def evaluate(
    rule: AlertRule,
    previous: Sequence[GroupState],
    observations: Sequence[Observation],
    now: datetime,
) -> Evaluation:
    """The states after an evaluation that succeeded. An ungrouped rule has at most one
    observation, of group value ""."""
    key = rule.group_by
    before = {state.group: state for state in previous}
    states = [_observed(rule, key, o, now) for o in observations]
    seen = {state.group for state in states}
    if key:
        # A group seen before and absent now holds no events: no_data, resolved if it was alerting.
        states += [
            _vanished(state, now) for state in previous if state.group_key == key and state.group not in seen
        ]
    if not states:
        states = [_state(rule, "", "", Status.NO_DATA, 0.0, NO_DATA_MESSAGE, now)]
    events = [
        _event(rule, state, EventType.TRIGGERED, now, before.get(state.group))
        for state in states
        if state.status is Status.ALERTING and not _was_alerting(before.get(state.group))
    ]
    kept = {state.group for state in states}
    for state in states:
        if state.status is not Status.ALERTING and _was_alerting(before.get(state.group)):
            events.append(_event(rule, state, EventType.RESOLVED, now, before.get(state.group)))
    for old in previous:  # states of a grouping the rule no longer has (its group_by changed)
        if old.group not in kept and old.settled is Status.ALERTING:
            events.append(_event(rule, _vanished(old, now), EventType.RESOLVED, now, old))
    return Evaluation(tuple(states), tuple(events))


def failed(rule: AlertRule, previous: Sequence[GroupState], message: str, now: datetime) -> Evaluation:
    """The states after an evaluation that could not run: the rule's own state ("") is error,
    keeping what it had settled on; the groups keep theirs."""
    own = next((state for state in previous if state.group == ("", "")), None)
    settled = own.settled if own is not None else Status.NO_DATA
    error = GroupState("", "", Status.ERROR, own.value if own else 0.0, message, now, now, settled)
    states = (error, *(state for state in previous if state.group != ("", "")))
    events: tuple[AlertEvent, ...] = ()
    if own is None or own.status is not Status.ERROR:
        events = (_event(rule, error, EventType.EVALUATION_FAILED, now, own),)
    return Evaluation(states, events)


def ordered(states: Iterable[GroupState]) -> list[GroupState]:
    """The product's order: alerting, error, no_data, ok; the latest first, then by group."""
    return sorted(states, key=lambda s: (_PRIORITY[s.status], -s.updated_at.timestamp(), s.group_key, s.group_value))


def primary_state(states: Iterable[GroupState]) -> GroupState | None:
    """The state that speaks for the rule: the first in the product's order."""
    first = ordered(states)
    return first[0] if first else None


def _was_alerting(state: GroupState | None) -> bool:
    return state is not None and state.settled is Status.ALERTING


def _observed(rule: AlertRule, key: str, observation: Observation, now: datetime) -> GroupState:
    value = observation.value if observation.value is not None else 0.0
    if observation.events == 0:
        status, message = Status.NO_DATA, NO_DATA_MESSAGE
    elif rule.comparator.holds(value, rule.threshold):
        status, message = Status.ALERTING, f"value {value:.4f} {rule.comparator} threshold {rule.threshold:.4f}"
    else:
        status, message = Status.OK, f"value {value:.4f} is within threshold {rule.threshold:.4f}"
    group_value = observation.group_value if key else ""
    return _state(rule, key, group_value, status, value, message, now)


def _state(
    rule: AlertRule, key: str, value_of_group: str, status: Status, value: float, message: str, now: datetime
) -> GroupState:
    return GroupState(key, value_of_group, status, value, _for_group(key, value_of_group, message), now, now, status)


def _vanished(state: GroupState, now: datetime) -> GroupState:
    message = _for_group(state.group_key, state.group_value, NO_DATA_MESSAGE)
    return replace(state, status=Status.NO_DATA, settled=Status.NO_DATA, value=0.0, message=message,
                   evaluated_at=now, updated_at=now)


def _for_group(key: str, value: str, message: str) -> str:
    """The product's wording: "<message> for <group_by> <value>"."""
    return f"{message} for {key} {value}" if key else message


def _event(
    rule: AlertRule, state: GroupState, kind: EventType, now: datetime, before: GroupState | None
) -> AlertEvent:
    event_id = _event_id(rule, state, kind, before)
    return AlertEvent(event_id, rule.id, state.group_key, state.group_value, kind, state.value, state.message, now)


def _event_id(rule: AlertRule, state: GroupState, kind: EventType, before: GroupState | None) -> str:
    """The same for every evaluation that starts from the same stored state: two workers running
    by mistake make one crossing into one event, so one delivery job and one webhook-id. A
    group's first state is told apart by the rule's last change (a new grouping starts afresh)."""
    since = before.evaluated_at if before is not None else rule.updated_at
    basis = "\x1f".join(
        (rule.id, state.group_key, state.group_value, kind.value, since.isoformat() if since else "")
    )
    return str(uuid.uuid5(_EVENT_IDS, basis))


# The namespace of alert event ids (uuid5).
_EVENT_IDS = uuid.UUID("6f1d5c0e-8a43-4f7e-9d2b-3c1e5a7b9d10")
