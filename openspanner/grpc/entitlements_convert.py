"""EntitlementService messages <-> the limits core's domain values, converted once at this edge."""

from __future__ import annotations

from openspanner.domain import events as domain_events
from openspanner.domain.entitlements import (
    CheckResult,
    ConsumeAnswer,
    ConsumeDecision,
    EntitlementEvent,
    EntitlementState,
    PeriodSnapshot,
)
from openspanner.errors import InvalidArgument
from openspanner.grpc.convert import read_timestamp_us, stored_event_to_proto, timestamp
from openspanner.grpc.plans_convert import enum_number, enum_word, period_number, state_number
from openspanner.grpc.usage_convert import decode_values
from openspanner.storage.entitlements import DecisionFilter
from openspanner.v1 import entitlement_pb2, plan_pb2

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int, field: str = "page_size") -> int:
    """0 means DEFAULT_PAGE_SIZE; past MAX_PAGE_SIZE or negative is refused, as REST refuses its `limit`."""
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 0 < requested <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"must be between 0 and {MAX_PAGE_SIZE}, got {requested}", field=field)
    return requested


def consume_event_from_proto(request: entitlement_pb2.ConsumeRequest) -> domain_events.UsageEvent:
    """The usage event a Consume records (the domain checks its rules, the meter's among them)."""
    return domain_events.UsageEvent(
        idempotency_key=request.idempotency_key,
        subject=request.subject,
        meter=request.meter,
        quantity=request.quantity,
        timestamp_us=read_timestamp_us(request, "timestamp"),
        metadata=decode_values(request.metadata.fields.items()),
    )


def quota_to_proto(quota: CheckResult) -> entitlement_pb2.Quota:
    message = entitlement_pb2.Quota(
        allowed=quota.allowed,
        state=state_number(quota.state),
        subject=quota.subject,
        meter=quota.meter,
        quantity=quota.quantity,
        current=quota.current,
        projected=quota.projected,
        limit=quota.limit,
        remaining=quota.remaining,
        overage=quota.overage,
        plan_id=quota.plan.id if quota.plan else "",
        plan_name=quota.plan.name if quota.plan else "",
        period=period_number(quota.period),
        enforcement=enum_number(plan_pb2.Enforcement, "ENFORCEMENT_", quota.enforcement),  # type: ignore[arg-type]
        failure_policy=enum_number(plan_pb2.FailurePolicy, "FAILURE_POLICY_", quota.failure_policy),  # type: ignore[arg-type]
        retry_after_seconds=quota.retry_after_seconds or 0,
        message=quota.message,
    )
    if quota.window is not None:
        message.window_start.CopyFrom(timestamp(quota.window.start))
        message.window_end.CopyFrom(timestamp(quota.window.end))
    return message


def consume_response(answer: ConsumeAnswer) -> entitlement_pb2.ConsumeResponse:
    message = entitlement_pb2.ConsumeResponse(
        accepted=answer.decision.accepted,
        replayed=answer.replayed,
        evaluation_failed=answer.decision.evaluation_failed,
        quota=quota_to_proto(answer.decision.quota),
    )
    if answer.event is not None:
        message.event.CopyFrom(stored_event_to_proto(answer.event))
    return message


def decision_to_proto(decision: ConsumeDecision) -> entitlement_pb2.Decision:
    return entitlement_pb2.Decision(
        idempotency_key=decision.idempotency_key,
        accepted=decision.accepted,
        evaluation_failed=decision.evaluation_failed,
        event_id=decision.event_id,
        quota=quota_to_proto(decision.quota),
        create_time=timestamp(decision.created_at),
    )


def decision_filter_from_proto(request: entitlement_pb2.ListDecisionsRequest) -> DecisionFilter:
    outcome = enum_word(entitlement_pb2.DecisionOutcome, "DECISION_OUTCOME_", request.outcome, "outcome")
    return DecisionFilter(
        subject=request.subject,
        meter=request.meter,
        accepted=None if not outcome else outcome == "accepted",
        evaluation_failed=request.evaluation_failed if request.HasField("evaluation_failed") else None,
        enforcement=enum_word(plan_pb2.Enforcement, "ENFORCEMENT_", request.enforcement, "enforcement"),
        state=state_word(request.state),
    )


def state_word(number: int) -> str:
    """A state filter as the domain spells it; "" for any."""
    return enum_word(plan_pb2.EntitlementState, "ENTITLEMENT_STATE_", number, "state")


def state_to_proto(state: EntitlementState) -> entitlement_pb2.State:
    return entitlement_pb2.State(
        subject=state.subject,
        meter=state.meter,
        plan_id=state.plan_id,
        plan_name=state.plan_name,
        period=period_number(state.period),
        state=state_number(state.state),
        current=state.current,
        limit=state.limit,
        remaining=state.remaining,
        warning_percent=state.warning_percent,
        message=state.message,
        evaluate_time=timestamp(state.evaluated_at),
        update_time=timestamp(state.updated_at),
    )


def entitlement_event_to_proto(event: EntitlementEvent) -> entitlement_pb2.EntitlementEvent:
    return entitlement_pb2.EntitlementEvent(
        id=event.id,
        subject=event.subject,
        meter=event.meter,
        plan_id=event.plan_id,
        plan_name=event.plan_name,
        previous_state=state_number(event.previous_state),
        state=state_number(event.state),
        type=enum_number(entitlement_pb2.EntitlementEvent.Type, "TYPE_", event.type),  # type: ignore[arg-type]
        current=event.current,
        limit=event.limit,
        message=event.message,
        create_time=timestamp(event.created_at),
    )


def period_snapshot_to_proto(snapshot: PeriodSnapshot) -> entitlement_pb2.PeriodSnapshot:
    return entitlement_pb2.PeriodSnapshot(
        subject=snapshot.subject,
        meter=snapshot.meter,
        plan_id=snapshot.plan_id,
        plan_name=snapshot.plan_name,
        plan_version=snapshot.plan_version,
        period=period_number(snapshot.period),
        window_start=timestamp(snapshot.window.start),
        window_end=timestamp(snapshot.window.end),
        state=state_number(snapshot.state),
        current=snapshot.current,
        limit=snapshot.limit,
        included=snapshot.included,
        overage=snapshot.overage,
        remaining=snapshot.remaining,
        warning_percent=snapshot.warning_percent,
        event_count=snapshot.event_count,
        update_time=timestamp(snapshot.updated_at),
    )
