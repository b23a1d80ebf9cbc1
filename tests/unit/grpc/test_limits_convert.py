"""PlanService and EntitlementService messages <-> the limits domain (grpc/plans_convert.py,
grpc/entitlements_convert.py), and a refused Consume's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2

from openspanner.domain.entitlements import Window, quota_result, unlimited_result
from openspanner.domain.plans import (
    Assignment,
    Enforcement,
    FailurePolicy,
    Limit,
    Period,
    Plan,
    validate_plan,
)
from openspanner.errors import InvalidArgument, QuotaExceeded
from openspanner.grpc.convert import timestamp
from openspanner.grpc.entitlements_convert import decision_filter_from_proto, page_size, quota_to_proto
from openspanner.grpc.plans_convert import assignment_to_proto, plan_draft_from_proto, plan_to_proto
from openspanner.grpc.status import STATUS_DETAILS_KEY, grpc_status, status_trailer
from openspanner.v1 import entitlement_pb2, plan_pb2

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
HARD = Limit(meter="api", limit=100, period=Period.WEEK, warning_percent=80, enforcement=Enforcement.HARD,
             failure_policy=FailurePolicy.FAIL_CLOSED, id="p1-0")
PLAN = Plan(id="p1", name="pro", limits=(HARD,), version=2, parent_plan_id="p0", created_at=NOW, updated_at=NOW)


def test_a_plan_message_becomes_the_domain_draft_with_words_and_defaults_left_to_the_rules() -> None:
    message = plan_pb2.Plan(name="pro", limits=[
        plan_pb2.Limit(meter="api", limit=100, period=plan_pb2.PERIOD_WEEK, enforcement=plan_pb2.ENFORCEMENT_HARD),
        plan_pb2.Limit(meter="tokens", limit=5),
    ])
    draft = plan_draft_from_proto(message, "plan")
    assert (draft.limits[0].period, draft.limits[0].enforcement, draft.limits[0].failure_policy) == ("week", "hard", "")
    _, _, limits = validate_plan(draft, lambda meter: True)
    assert (limits[1].period, limits[1].enforcement, limits[1].warning_percent) == (
        Period.MONTH, Enforcement.ADVISORY, 80.0,
    )


def test_an_enum_number_no_version_declares_is_refused_naming_its_field() -> None:
    message = plan_pb2.Plan(name="pro", limits=[plan_pb2.Limit(meter="api", limit=1, period=42)])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as refused:
        plan_draft_from_proto(message, "plan")
    assert refused.value.field == "plan.limits[0].period"


def test_a_plan_and_its_limits_become_their_message() -> None:
    message = plan_to_proto(PLAN)
    assert (message.id, message.version, message.parent_plan_id, message.is_current) == ("p1", 2, "p0", True)
    (limit,) = message.limits
    assert (limit.period, limit.enforcement, limit.failure_policy) == (
        plan_pb2.PERIOD_WEEK, plan_pb2.ENFORCEMENT_HARD, plan_pb2.FAILURE_POLICY_FAIL_CLOSED,
    )
    assert message.create_time.ToDatetime(tzinfo=UTC) == NOW
    assert not limit.HasField("create_time")


def test_an_assignment_names_its_plan_version_and_status_now() -> None:
    scheduled = Assignment("a1", "org_1", "p1", NOW + timedelta(days=1), NOW - timedelta(days=30))
    message = assignment_to_proto(scheduled, {"p1": PLAN}.get, NOW)
    assert (message.plan_name, message.plan_version, message.active) == ("pro", 2, False)
    assert message.status == plan_pb2.ASSIGNMENT_STATUS_SCHEDULED
    assert not message.HasField("unassigned_time")
    gone = assignment_to_proto(scheduled, {}.get, NOW + timedelta(days=2))
    assert (gone.plan_name, gone.status, gone.active) == ("", plan_pb2.ASSIGNMENT_STATUS_ACTIVE, True)


def test_a_refused_quota_carries_its_window_and_retry_after() -> None:
    window = Window(NOW - timedelta(days=2), NOW + timedelta(days=5))
    quota = quota_to_proto(quota_result("org_1", 5, PLAN, HARD, window, 98, 103, NOW))
    assert (quota.allowed, quota.state, quota.remaining, quota.overage) == (
        False, plan_pb2.ENTITLEMENT_STATE_EXCEEDED, 0, 3,
    )
    assert quota.retry_after_seconds == 5 * 86400
    assert quota.window_end.ToDatetime(tzinfo=UTC) == window.end
    assert (quota.plan_id, quota.enforcement) == ("p1", plan_pb2.ENFORCEMENT_HARD)


def test_no_plan_has_no_window_and_no_plan_id() -> None:
    quota = quota_to_proto(unlimited_result("org_1", "api", 1, None))
    assert quota.state == plan_pb2.ENTITLEMENT_STATE_NO_PLAN and not quota.allowed
    assert not quota.HasField("window_end") and quota.plan_id == "" and quota.retry_after_seconds == 0


def test_decision_filters_and_page_sizes() -> None:
    where = decision_filter_from_proto(entitlement_pb2.ListDecisionsRequest(
        subject="s", outcome=entitlement_pb2.DECISION_OUTCOME_ACCEPTED, state=plan_pb2.ENTITLEMENT_STATE_WARNING,
        evaluation_failed=True,
    ))
    assert (where.subject, where.accepted, where.state, where.evaluation_failed) == ("s", True, "warning", True)
    both = decision_filter_from_proto(entitlement_pb2.ListDecisionsRequest())
    assert (both.accepted, both.evaluation_failed, both.enforcement, both.state) == (None, None, "", "")
    assert page_size(0) == 50 and page_size(200) == 200
    for wrong in (-1, 201):
        with pytest.raises(InvalidArgument) as refused:
            page_size(wrong)
        assert refused.value.field == "page_size"


def test_a_refused_consume_is_resource_exhausted_with_retry_info_and_the_decision() -> None:
    decision = entitlement_pb2.ConsumeResponse(accepted=False, quota=entitlement_pb2.Quota(limit=100))
    refusal = QuotaExceeded("quota would be exceeded", retry_after_seconds=3600)
    assert grpc_status(refusal) == grpc.StatusCode.RESOURCE_EXHAUSTED
    ((key, value),) = status_trailer(refusal, (decision,))
    details = status_pb2.Status.FromString(value).details
    retry, carried = error_details_pb2.RetryInfo(), entitlement_pb2.ConsumeResponse()
    assert key == STATUS_DETAILS_KEY
    assert details[0].Unpack(retry) and retry.retry_delay.seconds == 3600
    assert details[1].Unpack(carried) and carried == decision


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 10, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30),  # naive: UTC
        datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_timestamps_are_the_ones_protobuf_makes(value: datetime) -> None:
    made = Timestamp()
    made.FromDatetime(value)
    assert timestamp(value) == made
