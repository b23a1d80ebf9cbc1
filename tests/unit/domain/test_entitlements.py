"""What a check answers: allowed, state, message, remaining, overage, retry_after (reference §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openspanner.domain.entitlements import (
    EntitlementEventType,
    EntitlementStateName,
    Window,
    event_type_of,
    quota_result,
    unlimited_result,
)
from openspanner.domain.plans import Limit, Plan

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=1), NOW + timedelta(hours=1, seconds=0.5))
LIMIT = Limit("tokens", 100.0, warning_percent=80.0)
PLAN = Plan("p1", "pro", (LIMIT,))


@pytest.mark.parametrize(("current", "quantity", "allowed", "state", "message"), [
    (0, 10, True, "ok", "quota is available"),
    (70, 10, True, "warning", "quota is available; warning threshold reached"),
    (90, 10, True, "exceeded", "quota is available; quota limit reached"),
    (95, 10, False, "exceeded", "quota would be exceeded"),
    (120, 1, False, "exceeded", "quota would be exceeded"),
])
def test_states_and_messages(current: float, quantity: float, allowed: bool, state: str, message: str) -> None:
    result = quota_result("org_1", quantity, PLAN, LIMIT, WINDOW, current, current + quantity, NOW)
    assert (result.allowed, result.state.value, result.message) == (allowed, state, message)
    assert result.remaining == max(100 - current - quantity, 0)
    assert result.overage == max(current + quantity - 100, 0)
    assert result.retry_after_seconds == (None if allowed else 3601)  # rounded up to the window's end


def test_without_a_plan_or_a_limit_nothing_is_allowed() -> None:
    assert unlimited_result("s", "m", 1, None).state is EntitlementStateName.NO_PLAN
    not_in_plan = unlimited_result("s", "m", 1, PLAN)
    assert (not_in_plan.allowed, not_in_plan.state, not_in_plan.message) == (
        False, EntitlementStateName.NOT_IN_PLAN, "meter is not included in the subject's plan"
    )


def test_events_of_state_changes_and_none_for_a_first_ok() -> None:
    ok, warning, exceeded = EntitlementStateName.OK, EntitlementStateName.WARNING, EntitlementStateName.EXCEEDED
    assert event_type_of(None, ok) is None
    assert event_type_of(ok, ok) is None
    assert event_type_of(None, warning) is EntitlementEventType.WARNING
    assert event_type_of(warning, exceeded) is EntitlementEventType.EXCEEDED
    assert event_type_of(exceeded, ok) is EntitlementEventType.RECOVERED
