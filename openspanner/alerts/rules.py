"""An alert rule and the rules it must keep, checked against its meter.

Defaults, ranges and messages follow the product (app/alert/service.go):
window 3600 s (60 s .. 366 days), evaluation interval 60 s (1 s .. 24 h),
comparator gte, a finite threshold, a name of at most 120 characters.
Every refusal names the request field it is about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from openspanner.domain.meters import Meter
from openspanner.domain.values import SUBJECT, describe_value, stored_text, value_from_text
from openspanner.errors import InvalidArgument

T = TypeVar("T")

DEFAULT_WINDOW_SECONDS = 3600
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 366 * 24 * 3600
DEFAULT_INTERVAL_SECONDS = 60
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 24 * 3600
MAX_NAME_CHARACTERS = 120
# A rule is evaluated this long after an event it matches was committed (the product's delay).
EVENT_DELAY_SECONDS = 5.0


class Comparator(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
    NEQ = "neq"

    def holds(self, value: float, threshold: float) -> bool:
        """Whether `value <comparator> threshold`: the rule's condition for alerting."""
        match self:
            case Comparator.GT:
                return value > threshold
            case Comparator.GTE:
                return value >= threshold
            case Comparator.LT:
                return value < threshold
            case Comparator.LTE:
                return value <= threshold
            case Comparator.EQ:
                return value == threshold
            case Comparator.NEQ:
                return value != threshold


@dataclass(frozen=True)
class AlertRule:
    id: str
    name: str
    meter: str
    destination_id: str
    threshold: float
    enabled: bool = True
    subject: str = ""
    # Equality filters on dimensions: only events whose dimension has this value count.
    metadata: Mapping[str, str] = field(default_factory=dict)
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    comparator: Comparator = Comparator.GTE
    evaluation_interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    # "subject" or a dimension of the meter; "" evaluates the rule as one group.
    group_by: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RuleDraft:
    """A rule as a request gives it: None means "not given" (the default on create, unchanged on update)."""

    name: str | None = None
    meter: str | None = None
    destination_id: str | None = None
    threshold: float | None = None
    enabled: bool | None = None
    subject: str | None = None
    metadata: Mapping[str, str] | None = None
    window_seconds: int | None = None
    comparator: str | None = None
    evaluation_interval_seconds: int | None = None
    group_by: str | None = None


def merged(current: AlertRule, draft: RuleDraft) -> AlertRule:
    """`current` with the fields the draft gives; checked afterwards by `check_rule`."""
    return AlertRule(
        id=current.id,
        name=_given(draft.name, current.name),
        meter=_given(draft.meter, current.meter),
        destination_id=_given(draft.destination_id, current.destination_id),
        threshold=_given(draft.threshold, current.threshold),
        enabled=_given(draft.enabled, current.enabled),
        subject=_given(draft.subject, current.subject),
        metadata=_given(draft.metadata, current.metadata),
        window_seconds=_given(draft.window_seconds, current.window_seconds),
        comparator=Comparator(_comparator(_given(draft.comparator, current.comparator.value))),
        evaluation_interval_seconds=_given(draft.evaluation_interval_seconds, current.evaluation_interval_seconds),
        group_by=_given(draft.group_by, current.group_by),
        created_at=current.created_at,
        updated_at=current.updated_at,
    )


def new_rule(rule_id: str, draft: RuleDraft) -> AlertRule:
    """A rule from a create request: required fields checked, defaults filled for the rest."""
    for name in ("name", "meter", "destination_id"):
        if not (getattr(draft, name) or "").strip():
            raise InvalidArgument("is required", field=name)
    # An absent threshold is 0, as in the product.
    blank = AlertRule(id=rule_id, name="", meter="", destination_id="", threshold=0.0)
    return merged(blank, draft)


def check_rule(rule: AlertRule, meter: Meter) -> AlertRule:
    """The rule normalised (names trimmed, `metadata.` prefixes dropped, zeros as defaults),
    or a refusal naming its field."""
    name = rule.name.strip()
    if not name:
        raise InvalidArgument("is required", field="name")
    if len(name) > MAX_NAME_CHARACTERS:
        raise InvalidArgument(f"is too long: at most {MAX_NAME_CHARACTERS} characters", field="name")
    if not rule.destination_id.strip():
        raise InvalidArgument("is required", field="destination_id")
    if not math.isfinite(rule.threshold):
        raise InvalidArgument("must be finite", field="threshold")
    window = rule.window_seconds or DEFAULT_WINDOW_SECONDS
    _check_range(window, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS, "window_seconds")
    interval = rule.evaluation_interval_seconds or DEFAULT_INTERVAL_SECONDS
    _check_range(interval, MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS, "evaluation_interval_seconds")
    return AlertRule(
        id=rule.id,
        name=name,
        meter=meter.name,
        destination_id=rule.destination_id.strip(),
        threshold=float(rule.threshold),
        enabled=rule.enabled,
        subject=rule.subject.strip(),
        metadata=_metadata(rule.metadata, meter),
        window_seconds=window,
        comparator=rule.comparator,
        evaluation_interval_seconds=interval,
        group_by=_group_by(rule.group_by, meter),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _given(value: T | None, current: T) -> T:
    return current if value is None else value


def _comparator(value: str) -> str:
    text = value.strip() or Comparator.GTE.value
    if text not in Comparator.__members__.values():
        choices = ", ".join(c.value for c in Comparator)
        raise InvalidArgument(f"unsupported comparator {text!r}: one of {choices}", field="comparator")
    return text


def _check_range(value: int, low: int, high: int, name: str) -> None:
    if value < low:
        raise InvalidArgument(f"must be at least {low} seconds, got {value}", field=name)
    if value > high:
        raise InvalidArgument(f"cannot exceed {high} seconds, got {value}", field=name)


def _metadata(filters: Mapping[str, str], meter: Meter) -> dict[str, str]:
    checked: dict[str, str] = {}
    for raw_key, raw_value in filters.items():
        key = raw_key.strip().removeprefix("metadata.")
        value = raw_value.strip()
        where = f"metadata.{key}" if key else "metadata"
        if not key:
            raise InvalidArgument("a filter key is required", field=where)
        if key not in meter.dimensions_by_name:
            raise InvalidArgument(_unknown_dimension(key, meter), field=where)
        if not value:
            raise InvalidArgument("a filter value is required", field=where)
        dimension_type = meter.dimensions_by_name[key].type
        typed = value_from_text(value, dimension_type)
        text = stored_text(typed, dimension_type)
        if text is None:
            raise InvalidArgument(
                f"must be a {dimension_type} like dimension {key!r}, got {describe_value(typed)}", field=where
            )
        checked[key] = text
    return checked


def _group_by(value: str, meter: Meter) -> str:
    name = value.strip().removeprefix("metadata.")
    if name and name != SUBJECT and name not in meter.dimensions_by_name:
        raise InvalidArgument(_unknown_dimension(name, meter), field="group_by")
    return name


def _unknown_dimension(name: str, meter: Meter) -> str:
    declared = ", ".join([SUBJECT, *meter.dimensions_by_name])
    return f"unknown dimension {name!r} of meter {meter.name!r} (declared: {declared})"
