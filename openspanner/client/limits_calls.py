"""PlanService and EntitlementService calls as both clients make them (calls.py's shape).

Which calls are sent again after DEADLINE_EXCEEDED (`repeatable`): reads,
Check (stores nothing), PreviewPlan (changes nothing) and Consume (keyed by
its idempotency key: a consume that was carried out replays its decision).
Not CreatePlan, UpdatePlan, DeletePlan, AssignPlan and UnassignPlan: a
timed-out one may have been carried out, and repeating it would make
another plan or version, or answer NOT_FOUND or FAILED_PRECONDITION for the
caller's own success.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from openspanner.client import limits_convert as convert
from openspanner.client.calls import Call, PagedCall, Rpc
from openspanner.client.limits_convert import (
    Assignment,
    ConsumeResult,
    Decision,
    EntitlementEvent,
    EntitlementState,
    PeriodSnapshot,
    Plan,
    Preview,
    Progress,
    Quota,
)
from openspanner.v1 import entitlement_pb2, plan_pb2

CREATE_PLAN = Rpc("PlanService", "CreatePlan", plan_pb2.CreatePlanResponse, repeatable=False)
GET_PLAN = Rpc("PlanService", "GetPlan", plan_pb2.GetPlanResponse, repeatable=True)
LIST_PLANS = Rpc("PlanService", "ListPlans", plan_pb2.ListPlansResponse, repeatable=True)
UPDATE_PLAN = Rpc("PlanService", "UpdatePlan", plan_pb2.UpdatePlanResponse, repeatable=False)
DELETE_PLAN = Rpc("PlanService", "DeletePlan", plan_pb2.DeletePlanResponse, repeatable=False)
PREVIEW_PLAN = Rpc("PlanService", "PreviewPlan", plan_pb2.PreviewPlanResponse, repeatable=True)
ASSIGN_PLAN = Rpc("PlanService", "AssignPlan", plan_pb2.AssignPlanResponse, repeatable=False)
UNASSIGN_PLAN = Rpc("PlanService", "UnassignPlan", plan_pb2.UnassignPlanResponse, repeatable=False)
LIST_ASSIGNMENTS = Rpc("PlanService", "ListAssignments", plan_pb2.ListAssignmentsResponse, repeatable=True)
GET_SUBJECT_PROGRESS = Rpc(
    "PlanService", "GetSubjectProgress", plan_pb2.GetSubjectProgressResponse, repeatable=True
)
CHECK = Rpc("EntitlementService", "Check", entitlement_pb2.CheckResponse, repeatable=True)
CONSUME = Rpc("EntitlementService", "Consume", entitlement_pb2.ConsumeResponse, repeatable=True)
GET_DECISION = Rpc("EntitlementService", "GetDecision", entitlement_pb2.GetDecisionResponse, repeatable=True)
LIST_DECISIONS = Rpc("EntitlementService", "ListDecisions", entitlement_pb2.ListDecisionsResponse, repeatable=True)
LIST_STATES = Rpc("EntitlementService", "ListStates", entitlement_pb2.ListStatesResponse, repeatable=True)
LIST_ENTITLEMENT_EVENTS = Rpc(
    "EntitlementService", "ListEvents", entitlement_pb2.EntitlementServiceListEventsResponse, repeatable=True
)
LIST_PERIODS = Rpc("EntitlementService", "ListPeriods", entitlement_pb2.ListPeriodsResponse, repeatable=True)


def create_plan(definition: Mapping[str, Any]) -> Call[Plan]:
    return Call(CREATE_PLAN, plan_pb2.CreatePlanRequest(plan=convert.plan_message(definition)), convert.plan)


def get_plan(plan_id: str) -> Call[Plan]:
    return Call(GET_PLAN, plan_pb2.GetPlanRequest(id=plan_id), convert.plan)


def list_plans(include_retired: bool) -> Call[list[Plan]]:
    return Call(LIST_PLANS, plan_pb2.ListPlansRequest(include_retired=include_retired), convert.plans)


def update_plan(plan_id: str, definition: Mapping[str, Any]) -> Call[Plan]:
    request = plan_pb2.UpdatePlanRequest(id=plan_id, plan=convert.plan_message(definition))
    return Call(UPDATE_PLAN, request, convert.plan)


def delete_plan(plan_id: str) -> Call[None]:
    return Call(DELETE_PLAN, plan_pb2.DeletePlanRequest(id=plan_id), convert.nothing)


def preview_plan(plan_id: str, definition: Mapping[str, Any]) -> Call[Preview]:
    request = plan_pb2.PreviewPlanRequest(id=plan_id, plan=convert.plan_message(definition))
    return Call(PREVIEW_PLAN, request, convert.plain)


def assign_plan(subject: str, plan_id: str, effective_at: datetime | None) -> Call[Assignment]:
    return Call(ASSIGN_PLAN, convert.assign_plan_request(subject, plan_id, effective_at), convert.assignment)


def unassign_plan(subject: str) -> Call[Assignment]:
    return Call(UNASSIGN_PLAN, plan_pb2.UnassignPlanRequest(subject=subject), convert.assignment)


def list_assignments(subject: str, plan_id: str, include_history: bool, limit: int) -> Call[list[Assignment]]:
    request = plan_pb2.ListAssignmentsRequest(
        subject=subject, plan_id=plan_id, include_history=include_history, page_size=limit
    )
    return Call(LIST_ASSIGNMENTS, request, convert.assignments)


def get_subject_progress(subject: str) -> Call[Progress]:
    return Call(GET_SUBJECT_PROGRESS, plan_pb2.GetSubjectProgressRequest(subject=subject), convert.progress)


def check(subject: str, meter: str, quantity: float) -> Call[Quota]:
    request = entitlement_pb2.CheckRequest(subject=subject, meter=meter, quantity=quantity)
    return Call(CHECK, request, convert.quota)


def consume(event: Mapping[str, Any]) -> Call[ConsumeResult]:
    return Call(CONSUME, convert.consume_request(event), convert.plain)


def get_decision(idempotency_key: str) -> Call[Decision]:
    request = entitlement_pb2.GetDecisionRequest(idempotency_key=idempotency_key)
    return Call(GET_DECISION, request, convert.decision)


def list_decisions(
    *,
    subject: str,
    meter: str,
    outcome: str | None,
    evaluation_failed: bool | None,
    enforcement: str | None,
    state: str | None,
    page_size: int,
) -> PagedCall[Decision]:
    request = convert.list_decisions_request(
        subject=subject, meter=meter, outcome=outcome, evaluation_failed=evaluation_failed,
        enforcement=enforcement, state=state, page_size=page_size,
    )
    return PagedCall(LIST_DECISIONS, request, convert.decisions)


def list_states(subject: str, meter: str, state: str | None, limit: int) -> Call[list[EntitlementState]]:
    return Call(LIST_STATES, convert.list_states_request(subject, meter, state, limit), convert.states)


def list_entitlement_events(
    subject: str, meter: str, event_type: str | None, limit: int
) -> Call[list[EntitlementEvent]]:
    request = convert.list_entitlement_events_request(subject, meter, event_type, limit)
    return Call(LIST_ENTITLEMENT_EVENTS, request, convert.entitlement_events)


def list_periods(subject: str, meter: str, limit: int) -> Call[list[PeriodSnapshot]]:
    request = entitlement_pb2.ListPeriodsRequest(subject=subject, meter=meter, page_size=limit)
    return Call(LIST_PERIODS, request, convert.periods)
