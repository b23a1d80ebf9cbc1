"""Plans and entitlements in the client: plain values to requests and back, and a refused
Consume read from its status details as QuotaExceededError (never retried)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from openspanner.client import QuotaExceededError, ResourceExhaustedError
from openspanner.client.errors import api_error
from openspanner.client.limits_convert import (
    consume_request,
    enum_number,
    enum_word,
    list_decisions_request,
    plain,
    plan_message,
)
from openspanner.client.retry import verdict
from openspanner.errors import QuotaExceeded, ResourceExhausted
from openspanner.grpc.status import status_trailer
from openspanner.v1 import entitlement_pb2, plan_pb2


def test_a_plan_definition_becomes_its_message_with_the_enums_of_its_words() -> None:
    plan = plan_message({
        "name": "pro", "description": "d",
        "limits": [{"meter": "api", "period": "Week", "limit": 10, "warning_percent": 90,
                    "enforcement": "hard", "failure_policy": "fail_closed"}],
    })
    (limit,) = plan.limits
    assert (plan.name, plan.description) == ("pro", "d")
    assert (limit.meter, limit.limit, limit.warning_percent) == ("api", 10.0, 90.0)
    assert limit.period == plan_pb2.PERIOD_WEEK
    assert limit.enforcement == plan_pb2.ENFORCEMENT_HARD
    assert limit.failure_policy == plan_pb2.FAILURE_POLICY_FAIL_CLOSED


def test_a_plan_read_back_can_be_sent_again() -> None:
    stored = plan_pb2.Plan(id="p1", name="pro", version=2, is_current=True,
                           limits=[plan_pb2.Limit(id="l1", meter="api", limit=5, period=plan_pb2.PERIOD_DAY)])
    stored.create_time.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    again = plan_message(plain(stored))
    assert again.limits[0].period == plan_pb2.PERIOD_DAY
    assert again.name == "pro" and not again.id


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"name": "x", "limits": [{"meter": "a", "limit": 1, "period": "fortnight"}]}, "plan.limits[0].period"),
        ({"name": "x", "limits": [{"meter": "a", "limit": 1, "enforcement": "strict"}]}, "plan.limits[0].enforcement"),
        ({"name": "x", "limits": [{"meter": "a", "limit": 1, "colour": "red"}]}, "plan.limits[0]"),
        ({"name": "x", "owner": "me"}, "plan"),
    ],
)
def test_an_unknown_word_or_field_is_refused_before_sending_naming_it(definition: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field) + ": unknown"):
        plan_message(definition)


def test_enum_words_are_the_rest_api_s() -> None:
    state = plan_pb2.EntitlementState.DESCRIPTOR
    assert enum_word(state, plan_pb2.ENTITLEMENT_STATE_NOT_IN_PLAN) == "not_in_plan"
    assert enum_word(state, 0) is None
    assert enum_number(state, "no_plan", "state") == plan_pb2.ENTITLEMENT_STATE_NO_PLAN
    assert enum_number(state, "", "state") == 0
    event_type = entitlement_pb2.EntitlementEvent.Type.DESCRIPTOR
    assert enum_word(event_type, entitlement_pb2.EntitlementEvent.TYPE_RECOVERED) == "recovered"


def test_answers_are_plain_values() -> None:
    quota = entitlement_pb2.Quota(allowed=False, state=plan_pb2.ENTITLEMENT_STATE_EXCEEDED, limit=10,
                                  retry_after_seconds=30, period=plan_pb2.PERIOD_MONTH)
    quota.window_end.FromDatetime(datetime(2026, 2, 1, tzinfo=UTC))
    values = plain(entitlement_pb2.ConsumeResponse(quota=quota))
    assert values["event"] is None
    assert values["quota"]["state"] == "exceeded" and values["quota"]["period"] == "month"
    assert values["quota"]["window_end"] == datetime(2026, 2, 1, tzinfo=UTC)
    assert values["quota"]["window_start"] is None
    assert values["quota"]["enforcement"] is None


def test_consume_request_and_decision_filters() -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    request = consume_request({"idempotency_key": "k", "subject": "s", "meter": "m", "quantity": 2,
                               "timestamp": at, "metadata": {"region": "eu"}})
    assert request.timestamp.ToDatetime(tzinfo=UTC) == at and request.metadata["region"] == "eu"
    with pytest.raises(ValueError, match="event: unknown fields plan"):
        consume_request({"plan": "x"})
    listing = list_decisions_request(subject="s", meter="", outcome="rejected", evaluation_failed=False,
                                     enforcement="hard", state=None, page_size=10)
    assert listing.outcome == entitlement_pb2.DECISION_OUTCOME_REJECTED
    assert listing.HasField("evaluation_failed") and not listing.evaluation_failed
    assert not list_decisions_request(subject="", meter="", outcome="all", evaluation_failed=None,
                                      enforcement=None, state=None, page_size=10).HasField("evaluation_failed")


class _Failed(grpc.RpcError):
    """A failed call as grpc raises it: an RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, bytes], ...]) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailing


def test_a_refused_consume_is_a_quota_exceeded_error_with_its_decision_and_is_not_retried() -> None:
    decision = entitlement_pb2.ConsumeResponse(
        accepted=False, replayed=True,
        quota=entitlement_pb2.Quota(state=plan_pb2.ENTITLEMENT_STATE_EXCEEDED, limit=10, remaining=0,
                                    retry_after_seconds=90, message="quota would be exceeded"),
    )
    refusal = QuotaExceeded("quota would be exceeded", retry_after_seconds=90)
    error = api_error(_Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, str(refusal), status_trailer(refusal, (decision,))))
    assert isinstance(error, QuotaExceededError) and isinstance(error, ResourceExhaustedError)
    assert error.retry_after == 90
    assert error.decision["accepted"] is False and error.decision["replayed"] is True
    assert error.decision["quota"]["limit"] == 10 and error.decision["quota"]["state"] == "exceeded"
    assert verdict(True, error).retryable is False


def test_a_full_server_is_still_retried() -> None:
    full = ResourceExhausted("too many pending events")
    error = api_error(_Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, str(full), status_trailer(full)))
    assert type(error) is ResourceExhaustedError
    assert verdict(True, error).retryable is True
