"""Plans, their limits and subjects' assignments: the model, the write rules and the usage window.

Pure code, no I/O. The rules are the product's (a limit per meter and
period, versions on update, assignments anchored at a subject's first
plan); error messages name the field, because they go to clients verbatim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from openspanner.errors import InvalidArgument, NotFound

MAX_PLAN_NAME_LENGTH = 120
MAX_PLAN_DESCRIPTION_LENGTH = 1024
DEFAULT_WARNING_PERCENT = 80.0

E = TypeVar("E", bound=StrEnum)


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Enforcement(StrEnum):
    """advisory: usage is always recorded, the limit only reported; hard: usage past it is refused."""

    ADVISORY = "advisory"
    HARD = "hard"


class FailurePolicy(StrEnum):
    """What a consume does when its quota cannot be evaluated (storage down)."""

    FAIL_OPEN = "fail_open"
    FAIL_CLOSED = "fail_closed"


class AssignmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Limit:
    meter: str
    limit: float
    period: Period = Period.MONTH
    warning_percent: float = DEFAULT_WARNING_PERCENT
    enforcement: Enforcement = Enforcement.ADVISORY
    failure_policy: FailurePolicy = FailurePolicy.FAIL_OPEN
    id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """One version of a plan. An update makes a new version (parent_plan_id = the old id)
    and retires the old one (is_current False): versions are never changed in place, so a
    decision or period snapshot naming a version keeps meaning what it meant."""

    id: str
    name: str
    limits: tuple[Limit, ...]
    description: str = ""
    version: int = 1
    parent_plan_id: str = ""
    is_current: bool = True
    deleted: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def limit_for(self, meter: str) -> Limit | None:
        """The plan's first limit of a meter, as the product picks it."""
        return next((limit for limit in self.limits if limit.meter == meter), None)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A subject's plan from `assigned_at` (its effective time) until `unassigned_at`.

    period_anchor_at starts every window of the subject: its first assignment, kept when
    the subject moves to another plan or version, so a move does not reset usage.
    """

    id: str
    subject: str
    plan_id: str
    assigned_at: datetime
    period_anchor_at: datetime
    unassigned_at: datetime | None = None
    updated_at: datetime | None = None

    def status_at(self, now: datetime) -> AssignmentStatus:
        if self.unassigned_at is not None and self.unassigned_at <= now:
            return AssignmentStatus.ENDED
        if self.assigned_at > now:
            return AssignmentStatus.SCHEDULED
        return AssignmentStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """What a create or update request asks for, before the rules and defaults."""

    name: str
    limits: tuple[LimitDraft, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class LimitDraft:
    """A limit as sent: enums still text, so an unknown value is refused naming its field."""

    meter: str
    limit: float
    period: str = ""
    warning_percent: float = 0.0
    enforcement: str = ""
    failure_policy: str = ""


def validate_plan(draft: PlanDraft, meter_exists: Callable[[str], bool]) -> tuple[str, str, tuple[Limit, ...]]:
    """The plan's name, description and limits with defaults filled in, or the first rule broken.

    An unknown meter is NotFound (404), as in the product; every other rule is InvalidArgument.
    """
    name = draft.name.strip()
    if not name:
        raise InvalidArgument("is required", field="name")
    if len(name) > MAX_PLAN_NAME_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_PLAN_NAME_LENGTH} characters", field="name")
    if len(draft.description) > MAX_PLAN_DESCRIPTION_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_PLAN_DESCRIPTION_LENGTH} characters", field="description")
    if not draft.limits:
        raise InvalidArgument("a plan needs at least one limit", field="limits")
    limits = tuple(_validated_limit(index, d, meter_exists) for index, d in enumerate(draft.limits))
    seen: set[tuple[str, Period]] = set()
    for index, limit in enumerate(limits):
        if (limit.meter, limit.period) in seen:
            raise InvalidArgument(
                f"meter {limit.meter!r} has two limits for period {limit.period.value}", field=f"limits[{index}].period"
            )
        seen.add((limit.meter, limit.period))
    return name, draft.description, limits


def _validated_limit(index: int, draft: LimitDraft, meter_exists: Callable[[str], bool]) -> Limit:
    where = f"limits[{index}]"
    meter = draft.meter.strip()
    if not meter:
        raise InvalidArgument("is required", field=f"{where}.meter")
    if not meter_exists(meter):
        raise NotFound(f"meter {meter!r} does not exist", field=f"{where}.meter")
    if not (math.isfinite(draft.limit) and draft.limit > 0):
        raise InvalidArgument(f"must be a finite number greater than 0, got {draft.limit}", field=f"{where}.limit")
    warning = draft.warning_percent or DEFAULT_WARNING_PERCENT
    if not (math.isfinite(warning) and 0 < warning <= 100):
        raise InvalidArgument(f"must be in (0, 100], got {draft.warning_percent}", field=f"{where}.warning_percent")
    return Limit(
        meter=meter,
        limit=draft.limit,
        period=_choice(Period, draft.period, Period.MONTH, f"{where}.period"),
        warning_percent=warning,
        enforcement=_choice(Enforcement, draft.enforcement, Enforcement.ADVISORY, f"{where}.enforcement"),
        failure_policy=_choice(FailurePolicy, draft.failure_policy, FailurePolicy.FAIL_OPEN, f"{where}.failure_policy"),
    )


def _choice(kind: type[E], text: str, default: E, field_name: str) -> E:
    value = text.strip().lower()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidArgument(f"{text!r} is not one of {allowed}", field=field_name) from None


def plan_not_found(plan_id: str) -> NotFound:
    return NotFound(f"plan {plan_id!r} does not exist", field="plan_id")


def stamped_limits(limits: tuple[Limit, ...], plan_id: str, now: datetime) -> tuple[Limit, ...]:
    """Limits of a new plan version, each with an id derived from the version and its position."""
    return tuple(replace(limit, id=f"{plan_id}-{i}", created_at=now, updated_at=now) for i, limit in enumerate(limits))


# --- The usage window (reference §3) ---------------------------------------------------


def add_period(start: datetime, period: Period) -> datetime:
    """`start` plus one period, with Go's AddDate overflow: a day past the month's end rolls
    into the next month (Jan 31 + 1 month = Mar 3, Feb 29 + 1 year = Mar 1), as the product does."""
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    months = 12 if period is Period.YEAR else 1
    return add_months(start, months)


def add_months(start: datetime, months: int) -> datetime:
    """Go's time.AddDate(0, months, 0): the day is kept and then normalized, never clamped."""
    year, month_index = divmod(start.month - 1 + months, 12)
    year += start.year
    first = start.replace(year=year, month=month_index + 1, day=1)
    return first + timedelta(days=start.day - 1)


def period_window(at: datetime, anchor: datetime, period: Period) -> tuple[datetime, datetime]:
    """[from, to): the window of `period` steps from `anchor` that holds `at` (the first one
    when `at` is before the anchor). Months and years are stepped from the previous window's
    start, so a shifted day stays shifted, as Go's repeated AddDate does."""
    if at < anchor:
        return anchor, add_period(anchor, period)
    start = _near_window_start(at, anchor, period)
    end = add_period(start, period)
    while end <= at:
        start, end = end, add_period(end, period)
    return start, end


def _near_window_start(at: datetime, anchor: datetime, period: Period) -> datetime:
    """A window start at or before `at`, found without stepping from the anchor one period at
    a time for day and week windows (a years-old anchor would take thousands of steps)."""
    if period in (Period.DAY, Period.WEEK):
        step = timedelta(days=1 if period is Period.DAY else 7)
        return anchor + step * ((at - anchor) // step)
    return anchor


def window_seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
