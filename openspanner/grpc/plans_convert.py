"""PlanService messages <-> the limits core's domain values, converted once at this edge.

Enums travel as buf-style names (PERIOD_DAY); the domain takes the words
(`day`), unspecified as "" (the domain's default), so its rules and messages
are the REST API's. An enum number no version declares is refused naming
its field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from openspanner.domain.entitlements import EntitlementStateName, PreviewLine, ProgressItem
from openspanner.domain.plans import Assignment, Limit, LimitDraft, Plan, PlanDraft
from openspanner.grpc.convert import enum_name, timestamp
from openspanner.v1 import plan_pb2

PlanOf = Callable[[str], Plan | None]


def enum_word(enum: EnumTypeWrapper, prefix: str, number: int, field: str) -> str:
    """The domain's word of a request's enum (PERIOD_DAY -> day); "" when unspecified."""
    if number == 0:
        return ""
    return enum_name(enum, number, field).removeprefix(prefix).lower()


@functools.cache
def enum_number(enum: EnumTypeWrapper, prefix: str, word: StrEnum | str | None) -> int:
    """The number of a domain enum (day -> PERIOD_DAY); 0 for None. Cached: every Check answer
    converts four of them, and the words are few."""
    if not word:
        return 0
    return int(enum.Value(prefix + str(word).upper()))


def period_number(period: StrEnum | None) -> plan_pb2.Period:
    return enum_number(plan_pb2.Period, "PERIOD_", period)  # type: ignore[return-value]


def state_number(state: EntitlementStateName | str | None) -> plan_pb2.EntitlementState:
    return enum_number(plan_pb2.EntitlementState, "ENTITLEMENT_STATE_", state)  # type: ignore[return-value]


def plan_draft_from_proto(message: plan_pb2.Plan, field: str) -> PlanDraft:
    """A plan to create or update; its rules are the domain's (validate_plan)."""
    return PlanDraft(
        name=message.name,
        description=message.description,
        limits=tuple(_limit_draft(limit, f"{field}.limits[{i}]") for i, limit in enumerate(message.limits)),
    )


def _limit_draft(message: plan_pb2.Limit, field: str) -> LimitDraft:
    return LimitDraft(
        meter=message.meter,
        limit=message.limit,
        period=enum_word(plan_pb2.Period, "PERIOD_", message.period, f"{field}.period"),
        warning_percent=message.warning_percent,
        enforcement=enum_word(plan_pb2.Enforcement, "ENFORCEMENT_", message.enforcement, f"{field}.enforcement"),
        failure_policy=enum_word(
            plan_pb2.FailurePolicy, "FAILURE_POLICY_", message.failure_policy, f"{field}.failure_policy"
        ),
    )


def plan_to_proto(plan: Plan) -> plan_pb2.Plan:
    message = plan_pb2.Plan(
        id=plan.id,
        name=plan.name,
        description=plan.description,
        version=plan.version,
        parent_plan_id=plan.parent_plan_id,
        is_current=plan.is_current,
        limits=[limit_to_proto(limit) for limit in plan.limits],
    )
    _set_time(message, "create_time", plan.created_at)
    _set_time(message, "update_time", plan.updated_at)
    return message


def limit_to_proto(limit: Limit) -> plan_pb2.Limit:
    message = plan_pb2.Limit(
        id=limit.id,
        meter=limit.meter,
        period=period_number(limit.period),
        limit=limit.limit,
        warning_percent=limit.warning_percent,
        enforcement=enum_number(plan_pb2.Enforcement, "ENFORCEMENT_", limit.enforcement),  # type: ignore[arg-type]
        failure_policy=enum_number(plan_pb2.FailurePolicy, "FAILURE_POLICY_", limit.failure_policy),  # type: ignore[arg-type]
    )
    _set_time(message, "create_time", limit.created_at)
    _set_time(message, "update_time", limit.updated_at)
    return message


def assignment_to_proto(assignment: Assignment, plan_of: PlanOf, now: datetime) -> plan_pb2.Assignment:
    """`plan_of` names the plan version (a deleted one leaves its name empty)."""
    plan = plan_of(assignment.plan_id)
    status = assignment.status_at(now)
    message = plan_pb2.Assignment(
        id=assignment.id,
        subject=assignment.subject,
        plan_id=assignment.plan_id,
        plan_name=plan.name if plan else "",
        plan_version=plan.version if plan else 0,
        status=enum_number(plan_pb2.AssignmentStatus, "ASSIGNMENT_STATUS_", status),  # type: ignore[arg-type]
        active=status.value == "active",
    )
    _set_time(message, "assigned_time", assignment.assigned_at)
    _set_time(message, "period_anchor_time", assignment.period_anchor_at)
    _set_time(message, "unassigned_time", assignment.unassigned_at)
    _set_time(message, "update_time", assignment.updated_at)
    return message


def progress_to_proto(subject: str, plan: Plan, items: Sequence[ProgressItem]) -> plan_pb2.SubjectProgress:
    return plan_pb2.SubjectProgress(
        subject=subject, plan=plan_to_proto(plan), items=[progress_item_to_proto(item) for item in items]
    )


def progress_item_to_proto(item: ProgressItem) -> plan_pb2.ProgressItem:
    return plan_pb2.ProgressItem(
        meter=item.meter,
        period=period_number(item.period),
        state=state_number(item.state),
        current=item.current,
        limit=item.limit,
        remaining=item.remaining,
        overage=item.overage,
        percent=item.percent,
        warning_percent=item.warning_percent,
        window_start=timestamp(item.window.start),
        window_end=timestamp(item.window.end),
        unit=item.unit,
        aggregation=item.aggregation.value,
    )


def preview_to_proto(
    current: Plan, proposed: Plan, previews: Sequence[tuple[Assignment, Sequence[PreviewLine]]], now: datetime
) -> plan_pb2.PreviewPlanResponse:
    """Each assigned subject's limits under the proposal beside the current version's; the
    summary counts the proposed states of the limits kept, as REST's does."""
    subjects = [
        plan_pb2.PreviewSubject(
            subject=assignment.subject,
            assignment_id=assignment.id,
            assignment_status=enum_number(  # type: ignore[arg-type]
                plan_pb2.AssignmentStatus, "ASSIGNMENT_STATUS_", assignment.status_at(now)
            ),
            items=[_preview_item(line) for line in lines],
        )
        for assignment, lines in previews
    ]
    lines = [line for _, subject_lines in previews for line in subject_lines]
    kept = [line.proposed_state for line in lines if not line.removed]
    summary = plan_pb2.PreviewSummary(
        subjects=len(subjects),
        ok=kept.count(EntitlementStateName.OK),
        warning=kept.count(EntitlementStateName.WARNING),
        exceeded=kept.count(EntitlementStateName.EXCEEDED),
        removed_limits=sum(line.removed for line in lines),
    )
    return plan_pb2.PreviewPlanResponse(
        current=plan_to_proto(current), proposed=plan_to_proto(proposed), summary=summary, subjects=subjects
    )


def _preview_item(line: PreviewLine) -> plan_pb2.PreviewItem:
    item = line.item
    return plan_pb2.PreviewItem(
        meter=item.meter,
        period=period_number(item.period),
        current=item.current,
        current_limit=line.current_limit,
        proposed_limit=line.proposed_limit,
        current_state=state_number(line.current_state),
        proposed_state=state_number(line.proposed_state),
        remaining=item.remaining,
        overage=item.overage,
        percent=item.percent,
        warning_percent=item.warning_percent,
        window_start=timestamp(item.window.start),
        window_end=timestamp(item.window.end),
        removed=line.removed,
        existing_limit_found=line.existing_limit_found,
    )


def _set_time(message: object, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))
