"""Plan rules and the usage window, against a reference of Go's AddDate written here."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.domain.plans import (
    Enforcement,
    FailurePolicy,
    LimitDraft,
    Period,
    PlanDraft,
    add_period,
    period_window,
    validate_plan,
)
from openspanner.errors import InvalidArgument, NotFound


def go_add_date(moment: datetime, years: int, months: int, days: int) -> datetime:
    """Go's time.AddDate, by its definition: add to the fields, then carry an overflowing day
    into the following months one month length at a time."""
    year, month, day = moment.year + years, moment.month + months, moment.day
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    while day > calendar.monthrange(year, month)[1]:
        day -= calendar.monthrange(year, month)[1]
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return moment.replace(year=year, month=month, day=day) + timedelta(days=days)


STEPS = {Period.DAY: (0, 0, 1), Period.WEEK: (0, 0, 7), Period.MONTH: (0, 1, 0), Period.YEAR: (1, 0, 0)}


def reference_window(at: datetime, anchor: datetime, period: Period) -> tuple[datetime, datetime]:
    """The product's loop: step from the anchor until the window holds `at`."""
    start = anchor
    end = go_add_date(start, *STEPS[period])
    if at < anchor:
        return start, end
    while end <= at:
        start, end = end, go_add_date(end, *STEPS[period])
    return start, end


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("start", "period", "expected"), [
    (utc(2026, 1, 31, 10), Period.MONTH, utc(2026, 3, 3, 10)),  # Feb 31 -> Mar 3
    (utc(2024, 1, 31), Period.MONTH, utc(2024, 3, 2)),  # a leap February
    (utc(2024, 2, 29, 12), Period.YEAR, utc(2025, 3, 1, 12)),
    (utc(2024, 2, 29), Period.MONTH, utc(2024, 3, 29)),
    (utc(2026, 12, 31), Period.MONTH, utc(2027, 1, 31)),
    (utc(2026, 3, 31), Period.MONTH, utc(2026, 5, 1)),
    (utc(2026, 12, 28), Period.WEEK, utc(2027, 1, 4)),
    (utc(2026, 2, 28, 23, 59), Period.DAY, utc(2026, 3, 1, 23, 59)),
])
def test_one_period_after_a_start_overflows_as_go_does(start: datetime, period: Period, expected: datetime) -> None:
    assert add_period(start, period) == expected == go_add_date(start, *STEPS[period])


def test_windows_from_the_31st_keep_the_shifted_day() -> None:
    anchor = utc(2026, 1, 31, 8)
    assert period_window(utc(2026, 2, 15), anchor, Period.MONTH) == (anchor, utc(2026, 3, 3, 8))
    assert period_window(utc(2026, 3, 3, 8), anchor, Period.MONTH) == (utc(2026, 3, 3, 8), utc(2026, 4, 3, 8))
    assert period_window(utc(2026, 3, 3, 7, 59), anchor, Period.MONTH)[0] == anchor


def test_a_year_from_the_29th_of_february() -> None:
    anchor = utc(2024, 2, 29)
    assert period_window(utc(2025, 2, 28), anchor, Period.YEAR) == (anchor, utc(2025, 3, 1))
    assert period_window(utc(2025, 3, 1), anchor, Period.YEAR) == (utc(2025, 3, 1), utc(2026, 3, 1))


def test_an_instant_before_the_anchor_is_in_the_first_window() -> None:
    anchor = utc(2026, 5, 10)
    assert period_window(utc(2026, 1, 1), anchor, Period.DAY) == (anchor, utc(2026, 5, 11))


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(anchor=moments, at=moments, period=st.sampled_from(list(Period)))
def test_every_window_is_the_reference_one(anchor: datetime, at: datetime, period: Period) -> None:
    if period is Period.DAY and (at - anchor) > timedelta(days=3 * 366):
        at = anchor + (at - anchor) % timedelta(days=3 * 366)  # keeps the reference's stepping short
    start, end = period_window(at, anchor, period)
    assert (start, end) == reference_window(at, anchor, period)
    assert start <= at < end or at < anchor


def meter_known(name: str) -> bool:
    return name != "unknown"


def draft(**limit: object) -> PlanDraft:
    return PlanDraft("pro", (LimitDraft(**{"meter": "tokens", "limit": 10.0, **limit}),))  # type: ignore[arg-type]


def test_defaults_fill_in() -> None:
    name, _, (limit,) = validate_plan(draft(), meter_known)
    assert (name, limit.period, limit.warning_percent, limit.enforcement, limit.failure_policy) == (
        "pro", Period.MONTH, 80.0, Enforcement.ADVISORY, FailurePolicy.FAIL_OPEN
    )
    _, _, (limit,) = validate_plan(draft(period="Week", enforcement="HARD", failure_policy="fail_closed"), meter_known)
    assert (limit.period, limit.enforcement, limit.failure_policy) == (
        Period.WEEK, Enforcement.HARD, FailurePolicy.FAIL_CLOSED
    )


@pytest.mark.parametrize(("fields", "field"), [
    ({"limit": 0.0}, "limits[0].limit"),
    ({"limit": -1.0}, "limits[0].limit"),
    ({"limit": math.nan}, "limits[0].limit"),
    ({"limit": math.inf}, "limits[0].limit"),
    ({"warning_percent": 100.5}, "limits[0].warning_percent"),
    ({"warning_percent": math.nan}, "limits[0].warning_percent"),
    ({"period": "hour"}, "limits[0].period"),
    ({"enforcement": "soft"}, "limits[0].enforcement"),
    ({"failure_policy": "maybe"}, "limits[0].failure_policy"),
    ({"meter": ""}, "limits[0].meter"),
])
def test_a_broken_rule_names_its_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_plan(draft(**fields), meter_known)
    assert refused.value.field == field


def test_an_unknown_meter_is_not_found_and_a_repeat_is_refused() -> None:
    with pytest.raises(NotFound) as missing:
        validate_plan(draft(meter="unknown"), meter_known)
    assert missing.value.field == "limits[0].meter"
    twice = PlanDraft("p", (LimitDraft("tokens", 1.0, "day"), LimitDraft("tokens", 2.0, "DAY")))
    with pytest.raises(InvalidArgument) as repeated:
        validate_plan(twice, meter_known)
    assert repeated.value.field == "limits[1].period"
    validate_plan(PlanDraft("p", (LimitDraft("tokens", 1.0, "day"), LimitDraft("tokens", 2.0, "month"))), meter_known)
    for name, field in (("", "name"), ("x" * 121, "name")):
        with pytest.raises(InvalidArgument) as refused:
            validate_plan(PlanDraft(name, draft().limits), meter_known)
        assert refused.value.field == field
    with pytest.raises(InvalidArgument) as empty:
        validate_plan(PlanDraft("p", ()), meter_known)
    assert empty.value.field == "limits"
