"""Entitlements: a subject's usage in its window, and what a check or consume answers.

Pure code. `UsageTotals` holds everything any aggregation needs, so one
storage read (or one ledger entry) answers every meter's `current`; each
aggregation is one line of AGGREGATE_VALUE, the only place a new one is added.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from openspanner.domain.events import StoredEvent
from openspanner.domain.meters import Aggregation
from openspanner.domain.plans import Enforcement, FailurePolicy, Limit, Period, Plan


class EntitlementStateName(StrEnum):
    OK = "ok"
    WARNING = "warning"
    EXCEEDED = "exceeded"
    NO_PLAN = "no_plan"
    NOT_IN_PLAN = "not_in_plan"


class EntitlementEventType(StrEnum):
    WARNING = "warning"
    EXCEEDED = "exceeded"
    RECOVERED = "recovered"


# The product's messages, word for word: its clients may show or match them.
MESSAGE_AVAILABLE = "quota is available"
MESSAGE_WOULD_EXCEED = "quota would be exceeded"
MESSAGE_LIMIT_REACHED = "quota is available; quota limit reached"
MESSAGE_WARNING = "quota is available; warning threshold reached"
MESSAGE_NO_PLAN = "subject is not assigned to a plan"
MESSAGE_NOT_IN_PLAN = "meter is not included in the subject's plan"
MESSAGE_EVALUATION_FAILED = "quota could not be evaluated"
# Of a state row (the product's entitlement worker).
STATE_MESSAGES = {
    EntitlementStateName.OK: "quota is available",
    EntitlementStateName.WARNING: "quota warning threshold reached",
    EntitlementStateName.EXCEEDED: "quota exceeded",
}


@dataclass(slots=True)
class UsageTotals:
    """A subject's events of one meter in one window, summarized for every aggregation.

    first/last are by (timestamp, idempotency_key), the order the query API uses. `distinct`
    holds the counted values of a unique_count meter (domain/distinct.py), empty for the others:
    a window's distinct count is the size of its own set, never a sum of smaller windows'.
    """

    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    first: tuple[int, str, float] | None = None
    last: tuple[int, str, float] | None = None
    # None until a first value: most meters count none, and an empty set costs ~200 bytes an entry.
    distinct: set[str] | None = None

    def add(self, timestamp_us: int, key: str, quantity: float, value: str | None = None) -> None:
        """One event; `value` is what it adds to a distinct count (None: nothing)."""
        if value is not None:
            if self.distinct is None:
                self.distinct = set()
            self.distinct.add(value)
        self.count += 1
        self.sum += quantity
        self.min = min(self.min, quantity)
        self.max = max(self.max, quantity)
        entry = (timestamp_us, key, quantity)
        if self.first is None or entry[:2] < self.first[:2]:
            self.first = entry
        if self.last is None or entry[:2] > self.last[:2]:
            self.last = entry

    def copy(self) -> UsageTotals:
        return replace(self, distinct=set(self.distinct) if self.distinct else None)

    def value(self, aggregation: Aggregation, seconds: float) -> float:
        """The meter's `current`: 0 for a window without events, as the product answers."""
        if self.count == 0:
            return 0.0
        return AGGREGATE_VALUE[aggregation](self, seconds)


AGGREGATE_VALUE: dict[Aggregation, Callable[[UsageTotals, float], float]] = {
    Aggregation.SUM: lambda t, _: t.sum,
    Aggregation.COUNT: lambda t, _: float(t.count),
    Aggregation.AVG: lambda t, _: t.sum / t.count,
    Aggregation.MIN: lambda t, _: t.min,
    Aggregation.MAX: lambda t, _: t.max,
    Aggregation.FIRST: lambda t, _: t.first[2] if t.first else 0.0,
    Aggregation.LAST: lambda t, _: t.last[2] if t.last else 0.0,
    Aggregation.RATE: lambda t, seconds: t.count / seconds if seconds > 0 else 0.0,
    Aggregation.UNIQUE_COUNT: lambda t, _: float(len(t.distinct or ())),
}


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's answer, and the quota of a consume (with enforcement, failure_policy, projected)."""

    allowed: bool
    state: EntitlementStateName
    subject: str
    meter: str
    quantity: float
    message: str
    current: float = 0.0
    limit: float = 0.0
    remaining: float = 0.0
    overage: float = 0.0
    projected: float = 0.0
    plan: Plan | None = None
    period: Period | None = None
    window: Window | None = None
    retry_after_seconds: int | None = None
    enforcement: Enforcement = Enforcement.ADVISORY
    failure_policy: FailurePolicy = FailurePolicy.FAIL_OPEN


def state_of(value: float, limit: float, warning_percent: float) -> EntitlementStateName:
    """exceeded once the value reaches the limit, warning from warning_percent of it."""
    if value >= limit:
        return EntitlementStateName.EXCEEDED
    if limit > 0 and value / limit * 100 >= warning_percent:
        return EntitlementStateName.WARNING
    return EntitlementStateName.OK


def quota_result(
    subject: str,
    quantity: float,
    plan: Plan,
    limit: Limit,
    window: Window,
    current: float,
    projected: float,
    now: datetime,
) -> CheckResult:
    """The answer for a limited meter: allowed iff projected <= limit (reference §4)."""
    allowed = projected <= limit.limit
    state = state_of(projected, limit.limit, limit.warning_percent)
    retry_after = None
    if not allowed:
        state, message = EntitlementStateName.EXCEEDED, MESSAGE_WOULD_EXCEED
        retry_after = max(math.ceil((window.end - now).total_seconds()), 0)
    elif state is EntitlementStateName.EXCEEDED:
        message = MESSAGE_LIMIT_REACHED
    elif state is EntitlementStateName.WARNING:
        message = MESSAGE_WARNING
    else:
        message = MESSAGE_AVAILABLE
    return CheckResult(
        allowed=allowed,
        state=state,
        subject=subject,
        meter=limit.meter,
        quantity=quantity,
        message=message,
        current=current,
        limit=limit.limit,
        remaining=max(limit.limit - projected, 0.0),
        overage=max(projected - limit.limit, 0.0),
        projected=projected,
        plan=plan,
        period=limit.period,
        window=window,
        retry_after_seconds=retry_after,
        enforcement=limit.enforcement,
        failure_policy=limit.failure_policy,
    )


def unlimited_result(subject: str, meter: str, quantity: float, plan: Plan | None) -> CheckResult:
    """No plan, or the meter not in it: not allowed for a check (200), advisory for a consume."""
    if plan is None:
        return CheckResult(False, EntitlementStateName.NO_PLAN, subject, meter, quantity, MESSAGE_NO_PLAN)
    return CheckResult(
        False, EntitlementStateName.NOT_IN_PLAN, subject, meter, quantity, MESSAGE_NOT_IN_PLAN, plan=plan
    )


@dataclass(frozen=True, slots=True)
class ConsumeDecision:
    """A consume's stored answer, replayed for its key without evaluating again."""

    idempotency_key: str
    accepted: bool
    evaluation_failed: bool
    quota: CheckResult
    created_at: datetime
    # The recorded event's id, when accepted.
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class ConsumeAnswer:
    """A consume's answer: its decision, whether it was replayed, and the event as stored
    (None when nothing was recorded)."""

    decision: ConsumeDecision
    replayed: bool
    event: StoredEvent | None


@dataclass(frozen=True, slots=True)
class ProgressItem:
    meter: str
    period: Period
    state: EntitlementStateName
    current: float
    limit: float
    remaining: float
    overage: float
    percent: float
    warning_percent: float
    window: Window
    unit: str
    aggregation: Aggregation
    event_count: int


def progress_item(
    limit: Limit, window: Window, totals: UsageTotals, aggregation: Aggregation, unit: str
) -> ProgressItem:
    current = totals.value(aggregation, window.seconds)
    return ProgressItem(
        meter=limit.meter,
        period=limit.period,
        state=state_of(current, limit.limit, limit.warning_percent),
        current=current,
        limit=limit.limit,
        remaining=max(limit.limit - current, 0.0),
        overage=max(current - limit.limit, 0.0),
        percent=current / limit.limit * 100 if limit.limit > 0 else 0.0,
        warning_percent=limit.warning_percent,
        window=window,
        unit=unit,
        aggregation=aggregation,
        event_count=totals.count,
    )


@dataclass(frozen=True, slots=True)
class EntitlementState:
    """The latest evaluated state of a (subject, meter) of a plan."""

    subject: str
    meter: str
    plan_id: str
    plan_name: str
    period: Period
    state: EntitlementStateName
    current: float
    limit: float
    remaining: float
    warning_percent: float
    message: str
    evaluated_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EntitlementEvent:
    """A change of state: warning, exceeded, or recovered back to ok (the first ok writes none)."""

    id: str
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    type: EntitlementEventType
    previous_state: str
    state: EntitlementStateName
    current: float
    limit: float
    message: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PeriodSnapshot:
    """A (subject, meter)'s usage in one window; kept as the window goes on, final once it closes."""

    subject: str
    meter: str
    plan_id: str
    plan_name: str
    plan_version: int
    period: Period
    window: Window
    state: EntitlementStateName
    current: float
    limit: float
    included: float
    overage: float
    remaining: float
    warning_percent: float
    event_count: int
    updated_at: datetime


def event_type_of(previous: EntitlementStateName | None, new: EntitlementStateName) -> EntitlementEventType | None:
    """The event a change of state writes: none for no change and for a first ok."""
    if previous is new:
        return None
    if new is EntitlementStateName.OK:
        return None if previous is None else EntitlementEventType.RECOVERED
    if new is EntitlementStateName.WARNING:
        return EntitlementEventType.WARNING
    if new is EntitlementStateName.EXCEEDED:
        return EntitlementEventType.EXCEEDED
    return None


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One limit of a subject under a proposed plan version, beside the current version's.

    `item` is the usage under the proposed limit (under the current one when `removed`)."""

    item: ProgressItem
    current_limit: float
    proposed_limit: float
    current_state: EntitlementStateName | None
    proposed_state: EntitlementStateName | None
    removed: bool
    existing_limit_found: bool
