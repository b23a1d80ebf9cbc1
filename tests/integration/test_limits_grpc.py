"""PlanService and EntitlementService over gRPC on a real server: every RPC, refusals naming
their field, a hard refusal as RESOURCE_EXHAUSTED with RetryInfo and its decision, and 64
racing callers exactly at the limit."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from openspanner.v1 import (
    entitlement_pb2,
    entitlement_pb2_grpc,
    meter_pb2,
    plan_pb2,
    plan_pb2_grpc,
    query_pb2,
    usage_pb2,
)
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, start_server

STATUS_DETAILS_KEY = "grpc-status-details-bin"
METADATA = (("authorization", f"Bearer {ADMIN_KEY}"),)


class Stubs:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.plans = plan_pb2_grpc.PlanServiceStub(client.channel)
        self.entitlements = entitlement_pb2_grpc.EntitlementServiceStub(client.channel)

    def call(self, method: Any, request: Any) -> Any:
        return self.client.call(method, request)

    def refusal(self, method: Any, request: Any) -> tuple[grpc.StatusCode, status_pb2.Status]:
        """The status code and the google.rpc.Status details of a call that must fail."""
        with pytest.raises(grpc.RpcError) as failed:
            self.call(method, request)
        error: Any = failed.value
        details = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
        return error.code(), status_pb2.Status.FromString(details) if details else status_pb2.Status()


@pytest.fixture
def stubs(client: Client) -> Iterator[Stubs]:
    yield Stubs(client)


def field_of(status: status_pb2.Status) -> str:
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return bad.field_violations[0].field
    return ""


def new_subject() -> str:
    return f"org_{uuid.uuid4().hex[:8]}"


def limit(meter: str, amount: float, **fields: Any) -> plan_pb2.Limit:
    return plan_pb2.Limit(meter=meter, limit=amount, **fields)


def create_plan(stubs: Stubs, *limits: plan_pb2.Limit, name: str = "pro") -> plan_pb2.Plan:
    request = plan_pb2.CreatePlanRequest(plan=plan_pb2.Plan(name=name, limits=list(limits)))
    return stubs.call(stubs.plans.CreatePlan, request).plan


def assign(stubs: Stubs, subject: str, plan_id: str) -> plan_pb2.Assignment:
    return stubs.call(stubs.plans.AssignPlan, plan_pb2.AssignPlanRequest(subject=subject, plan_id=plan_id)).assignment


def consume_request(subject: str, meter: str, quantity: float = 1, key: str = "") -> entitlement_pb2.ConsumeRequest:
    return entitlement_pb2.ConsumeRequest(
        idempotency_key=key or uuid.uuid4().hex, subject=subject, meter=meter, quantity=quantity
    )


def test_plan_crud_versions_preview_assignments_and_progress(stubs: Stubs, make_meter: Any) -> None:
    meter = make_meter(dimensions=[]).name
    plan = create_plan(stubs, limit(meter, 10, period=plan_pb2.PERIOD_WEEK, enforcement=plan_pb2.ENFORCEMENT_HARD))
    assert (plan.version, plan.is_current, plan.limits[0].warning_percent) == (1, True, 80)
    assert plan.limits[0].failure_policy == plan_pb2.FAILURE_POLICY_FAIL_OPEN
    assert stubs.call(stubs.plans.GetPlan, plan_pb2.GetPlanRequest(id=plan.id)).plan == plan

    subject = new_subject()
    assignment = assign(stubs, subject, plan.id)
    assert (assignment.status, assignment.active, assignment.plan_version) == (
        plan_pb2.ASSIGNMENT_STATUS_ACTIVE, True, 1,
    )
    stubs.call(stubs.entitlements.Consume, consume_request(subject, meter, 9))
    proposal = plan_pb2.Plan(name="pro", limits=[limit(meter, 20, period=plan_pb2.PERIOD_WEEK)])
    preview = stubs.call(stubs.plans.PreviewPlan, plan_pb2.PreviewPlanRequest(id=plan.id, plan=proposal))
    (previewed,) = preview.subjects
    (line,) = previewed.items
    assert (previewed.subject, line.current, line.current_limit, line.proposed_limit) == (subject, 9, 10, 20)
    assert (line.current_state, line.proposed_state) == (
        plan_pb2.ENTITLEMENT_STATE_WARNING, plan_pb2.ENTITLEMENT_STATE_OK,
    )
    assert (preview.summary.subjects, preview.summary.ok) == (1, 1)

    updated = stubs.call(stubs.plans.UpdatePlan, plan_pb2.UpdatePlanRequest(id=plan.id, plan=proposal)).plan
    assert (updated.version, updated.parent_plan_id, updated.is_current) == (2, plan.id, True)
    listed = stubs.call(stubs.plans.ListPlans, plan_pb2.ListPlansRequest(include_retired=True)).plans
    assert {(p.id, p.is_current) for p in listed} >= {(plan.id, False), (updated.id, True)}
    assert plan.id not in {p.id for p in stubs.call(stubs.plans.ListPlans, plan_pb2.ListPlansRequest()).plans}

    history = stubs.call(
        stubs.plans.ListAssignments, plan_pb2.ListAssignmentsRequest(subject=subject, include_history=True)
    ).assignments
    assert [(a.plan_id, a.status) for a in history] == [
        (updated.id, plan_pb2.ASSIGNMENT_STATUS_ACTIVE), (plan.id, plan_pb2.ASSIGNMENT_STATUS_ENDED),
    ]
    assert history[0].period_anchor_time == history[1].period_anchor_time

    progress = stubs.call(stubs.plans.GetSubjectProgress, plan_pb2.GetSubjectProgressRequest(subject=subject)).progress
    (item,) = progress.items
    assert (progress.plan.id, item.current, item.limit, item.remaining, item.percent) == (updated.id, 9, 20, 11, 45)
    assert (item.state, item.period, item.unit) == (plan_pb2.ENTITLEMENT_STATE_OK, plan_pb2.PERIOD_WEEK, "request")
    assert item.window_end.ToDatetime() - item.window_start.ToDatetime() == timedelta(days=7)

    code, status = stubs.refusal(stubs.plans.DeletePlan, plan_pb2.DeletePlanRequest(id=updated.id))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    ended = stubs.call(stubs.plans.UnassignPlan, plan_pb2.UnassignPlanRequest(subject=subject)).assignment
    assert (ended.status, ended.active, ended.HasField("unassigned_time")) == (
        plan_pb2.ASSIGNMENT_STATUS_ENDED, False, True,
    )
    stubs.call(stubs.plans.DeletePlan, plan_pb2.DeletePlanRequest(id=updated.id))
    code, status = stubs.refusal(stubs.plans.GetPlan, plan_pb2.GetPlanRequest(id=updated.id))
    assert (code, field_of(status)) == (grpc.StatusCode.NOT_FOUND, "id")


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ({"limit": 0}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].limit"),
        ({"limit": -5}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].limit"),
        ({"limit": float("nan")}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].limit"),
        ({"limit": float("inf")}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].limit"),
        ({"warning_percent": 150}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].warning_percent"),
        ({"period": 42}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].period"),
        ({"enforcement": 9}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].enforcement"),
        ({"failure_policy": 9}, grpc.StatusCode.INVALID_ARGUMENT, "plan.limits[0].failure_policy"),
        ({"meter": "no_such_meter"}, grpc.StatusCode.NOT_FOUND, "plan.limits[0].meter"),
    ],
)
def test_a_bad_limit_is_refused_naming_its_field(
    stubs: Stubs, make_meter: Any, bad: dict[str, Any], code: grpc.StatusCode, field: str
) -> None:
    fields: dict[str, Any] = {"meter": make_meter(dimensions=[]).name, "limit": 10, **bad}
    request = plan_pb2.CreatePlanRequest(plan=plan_pb2.Plan(name="p", limits=[plan_pb2.Limit(**fields)]))
    assert (lambda c, s: (c, field_of(s)))(*stubs.refusal(stubs.plans.CreatePlan, request)) == (code, field)


def test_other_refusals_name_their_field(stubs: Stubs, make_meter: Any) -> None:
    meter = make_meter(dimensions=[]).name
    twice = plan_pb2.Plan(name="p", limits=[limit(meter, 1), limit(meter, 2, period=plan_pb2.PERIOD_MONTH)])
    cases: list[tuple[Any, Any, grpc.StatusCode, str]] = [
        (stubs.plans.CreatePlan, plan_pb2.CreatePlanRequest(plan=twice), grpc.StatusCode.INVALID_ARGUMENT,
         "plan.limits[1].period"),
        (stubs.plans.CreatePlan, plan_pb2.CreatePlanRequest(plan=plan_pb2.Plan(limits=[limit(meter, 1)])),
         grpc.StatusCode.INVALID_ARGUMENT, "plan.name"),
        (stubs.plans.CreatePlan, plan_pb2.CreatePlanRequest(plan=plan_pb2.Plan(name="p")),
         grpc.StatusCode.INVALID_ARGUMENT, "plan.limits"),
        (stubs.entitlements.Consume, entitlement_pb2.ConsumeRequest(subject="s", meter=meter, quantity=1),
         grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key"),
        (stubs.entitlements.Consume, consume_request(new_subject(), meter, -1), grpc.StatusCode.INVALID_ARGUMENT,
         "quantity"),
        (stubs.entitlements.Check, entitlement_pb2.CheckRequest(subject="s", meter=meter, quantity=-1),
         grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        (stubs.entitlements.ListDecisions, entitlement_pb2.ListDecisionsRequest(page_size=500),
         grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
        (stubs.entitlements.GetDecision, entitlement_pb2.GetDecisionRequest(idempotency_key=uuid.uuid4().hex),
         grpc.StatusCode.NOT_FOUND, "idempotency_key"),
        (stubs.plans.GetSubjectProgress, plan_pb2.GetSubjectProgressRequest(subject=new_subject()),
         grpc.StatusCode.NOT_FOUND, "subject"),
        (stubs.plans.UnassignPlan, plan_pb2.UnassignPlanRequest(subject=new_subject()),
         grpc.StatusCode.NOT_FOUND, "subject"),
    ]
    for method, request, code, field in cases:
        got_code, status = stubs.refusal(method, request)
        assert (got_code, field_of(status)) == (code, field), request

    plan = create_plan(stubs, limit(meter, 5))
    stubs.call(stubs.plans.UpdatePlan, plan_pb2.UpdatePlanRequest(id=plan.id, plan=plan_pb2.Plan(
        name="p2", limits=[limit(meter, 6)])))
    retired = [
        (stubs.plans.UpdatePlan, plan_pb2.UpdatePlanRequest(id=plan.id, plan=plan_pb2.Plan(
            name="p3", limits=[limit(meter, 7)]))),
        (stubs.plans.AssignPlan, plan_pb2.AssignPlanRequest(subject=new_subject(), plan_id=plan.id)),
    ]
    for method, request in retired:
        assert stubs.refusal(method, request)[0] == grpc.StatusCode.FAILED_PRECONDITION


def test_check_answers_each_state(stubs: Stubs, make_meter: Any) -> None:
    meter, other = make_meter(dimensions=[]).name, make_meter(dimensions=[]).name
    plan = create_plan(stubs, limit(meter, 10, warning_percent=50))
    subject = new_subject()

    def check(meter_name: str, quantity: float = 1, who: str = subject) -> entitlement_pb2.Quota:
        request = entitlement_pb2.CheckRequest(subject=who, meter=meter_name, quantity=quantity)
        return stubs.call(stubs.entitlements.Check, request).quota

    nothing = check(meter)
    assert (nothing.state, nothing.allowed, nothing.message) == (
        plan_pb2.ENTITLEMENT_STATE_NO_PLAN, False, "subject is not assigned to a plan",
    )
    assign(stubs, subject, plan.id)
    assert (check(other).state, check(other).allowed) == (plan_pb2.ENTITLEMENT_STATE_NOT_IN_PLAN, False)
    fine = check(meter, 0)
    assert (fine.state, fine.allowed, fine.quantity, fine.remaining, fine.plan_id) == (
        plan_pb2.ENTITLEMENT_STATE_OK, True, 1, 9, plan.id,
    )
    assert fine.retry_after_seconds == 0 and fine.window_end.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    assert check(meter, 5).state == plan_pb2.ENTITLEMENT_STATE_WARNING
    over = check(meter, 11)
    assert (over.state, over.allowed, over.overage, over.message) == (
        plan_pb2.ENTITLEMENT_STATE_EXCEEDED, False, 1, "quota would be exceeded",
    )
    assert 0 < over.retry_after_seconds <= 31 * 86400


def test_a_hard_refusal_is_resource_exhausted_with_retry_info_and_its_decision(stubs: Stubs, make_meter: Any) -> None:
    meter = make_meter(dimensions=[]).name
    plan = create_plan(stubs, limit(meter, 3, enforcement=plan_pb2.ENFORCEMENT_HARD))
    subject = new_subject()
    assign(stubs, subject, plan.id)
    first = consume_request(subject, meter, 3)
    accepted = stubs.call(stubs.entitlements.Consume, first)
    assert (accepted.accepted, accepted.replayed, accepted.event.quantity, accepted.quota.projected) == (
        True, False, 3, 3,
    )
    again = stubs.call(stubs.entitlements.Consume, first)
    assert (again.accepted, again.replayed, again.event.id) == (True, True, accepted.event.id)

    refused_request = consume_request(subject, meter, 1)
    for replayed in (False, True):
        code, status = stubs.refusal(stubs.entitlements.Consume, refused_request)
        retry, decision = error_details_pb2.RetryInfo(), entitlement_pb2.ConsumeResponse()
        unpacked = {d.type_url.rsplit(".", 1)[-1]: d for d in status.details}
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert unpacked["RetryInfo"].Unpack(retry) and unpacked["ConsumeResponse"].Unpack(decision)
        assert (decision.accepted, decision.replayed, decision.HasField("event")) == (False, replayed, False)
        assert (decision.quota.current, decision.quota.remaining, decision.quota.overage) == (3, 0, 1)
        assert retry.retry_delay.seconds == decision.quota.retry_after_seconds > 0

    stored = stubs.call(stubs.entitlements.GetDecision, entitlement_pb2.GetDecisionRequest(
        idempotency_key=refused_request.idempotency_key)).decision
    assert (stored.accepted, stored.event_id, stored.quota.limit) == (False, "", 3)
    kept = stubs.call(stubs.entitlements.GetDecision, entitlement_pb2.GetDecisionRequest(
        idempotency_key=first.idempotency_key)).decision
    assert (kept.accepted, kept.event_id) == (True, accepted.event.id)


def test_decisions_page_by_cursor_and_states_events_and_periods_are_listed(stubs: Stubs, make_meter: Any) -> None:
    meter = make_meter(dimensions=[]).name
    plan = create_plan(stubs, limit(meter, 4, enforcement=plan_pb2.ENFORCEMENT_HARD))
    subject = new_subject()
    assign(stubs, subject, plan.id)
    keys = [uuid.uuid4().hex for _ in range(5)]
    for key in keys:
        try:
            stubs.call(stubs.entitlements.Consume, consume_request(subject, meter, 1, key))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # the fifth
    pages, token = [], ""
    while True:
        page = stubs.call(stubs.entitlements.ListDecisions, entitlement_pb2.ListDecisionsRequest(
            subject=subject, page_size=2, page_token=token))
        pages.append([d.idempotency_key for d in page.decisions])
        token = page.next_page_token
        if not token:
            break
    assert sorted(key for page in pages for key in page) == sorted(keys)
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    rejected = stubs.call(stubs.entitlements.ListDecisions, entitlement_pb2.ListDecisionsRequest(
        subject=subject, outcome=entitlement_pb2.DECISION_OUTCOME_REJECTED)).decisions
    assert [d.idempotency_key for d in rejected] == [keys[4]]

    (state,) = stubs.call(stubs.entitlements.ListStates, entitlement_pb2.ListStatesRequest(subject=subject)).states
    assert (state.meter, state.state, state.current, state.limit, state.plan_id) == (
        meter, plan_pb2.ENTITLEMENT_STATE_EXCEEDED, 4, 4, plan.id,
    )
    events = stubs.call(stubs.entitlements.ListEvents, entitlement_pb2.EntitlementServiceListEventsRequest(
        subject=subject)).events
    assert entitlement_pb2.EntitlementEvent.TYPE_EXCEEDED in {e.type for e in events}
    recovered = stubs.call(stubs.entitlements.ListEvents, entitlement_pb2.EntitlementServiceListEventsRequest(
        subject=subject, type=entitlement_pb2.EntitlementEvent.TYPE_RECOVERED)).events
    assert list(recovered) == []
    periods = stubs.call(stubs.entitlements.ListPeriods, entitlement_pb2.ListPeriodsRequest(subject=subject)).periods
    assert [(p.meter, p.current, p.included, p.event_count) for p in periods] == [(meter, 4, 4, 4)]


def test_64_racing_callers_over_grpc_stop_exactly_at_the_limit(
    shared_server: ServerProcess, stubs: Stubs, make_meter: Any
) -> None:
    meter = make_meter(dimensions=[]).name
    plan = create_plan(stubs, limit(meter, 1000, enforcement=plan_pb2.ENFORCEMENT_HARD))
    subject = new_subject()
    assign(stubs, subject, plan.id)

    async def race() -> list[grpc.StatusCode]:
        async with grpc.aio.insecure_channel(shared_server.address) as channel:
            consume = entitlement_pb2_grpc.EntitlementServiceStub(channel).Consume
            requests = iter([consume_request(subject, meter, 1) for _ in range(2000)])
            outcomes: list[grpc.StatusCode] = []

            async def caller() -> None:
                for request in requests:
                    try:
                        await consume(request, metadata=METADATA, timeout=120)
                        outcomes.append(grpc.StatusCode.OK)
                    except grpc.aio.AioRpcError as error:
                        outcomes.append(error.code())

            await asyncio.gather(*(caller() for _ in range(64)))
            return outcomes

    outcomes = asyncio.run(race())
    assert (outcomes.count(grpc.StatusCode.OK), outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)) == (1000, 1000)
    now = datetime.now(UTC)
    query = query_pb2.QueryUsageRequest(meter=meter, subjects=[subject])
    query.start_time.FromDatetime(now - timedelta(days=1))
    query.end_time.FromDatetime(now + timedelta(minutes=1))
    (row,) = stubs.call(stubs.client.query.QueryUsage, query).rows
    assert (row.value, row.event_count) == (1000, 1000)
    # Consumed events are ordinary events: a RecordUsage of the same subject counts toward the limit.
    over = entitlement_pb2.CheckRequest(subject=subject, meter=meter, quantity=1)
    assert stubs.call(stubs.entitlements.Check, over).quota.current == 1000
    stubs.call(stubs.client.usage.RecordUsage, usage_pb2.UsageEvent(
        idempotency_key=uuid.uuid4().hex, subject=subject, meter=meter, quantity=5))
    assert stubs.call(stubs.entitlements.Check, over).quota.current == 1005


def test_after_sigkill_usage_and_decisions_over_grpc_are_what_storage_holds(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        stubs = Stubs(Client(server.address))
        meter = stubs.call(stubs.client.meters.CreateMeter, meter_pb2.Meter(name="m_kill", aggregation="sum")).name
        subject = new_subject()
        assign(stubs, subject, create_plan(stubs, limit(meter, 10, enforcement=plan_pb2.ENFORCEMENT_HARD)).id)
        accepted = stubs.call(stubs.entitlements.Consume, consume_request(subject, meter, 6, key="before-kill"))
        assert stubs.refusal(stubs.entitlements.Consume, consume_request(subject, meter, 6, key="refused"))[0] == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        stubs.client.close()
    finally:
        server.stop(signal.SIGKILL)
    with running_server(tmp_path, server.database) as restarted:
        stubs = Stubs(Client(restarted.address))
        check = entitlement_pb2.CheckRequest(subject=subject, meter=meter, quantity=1)
        assert stubs.call(stubs.entitlements.Check, check).quota.current == 6
        replay = stubs.call(stubs.entitlements.Consume, consume_request(subject, meter, 6, key="before-kill"))
        assert (replay.accepted, replay.replayed, replay.event.id) == (True, True, accepted.event.id)
        code, status = stubs.refusal(stubs.entitlements.Consume, consume_request(subject, meter, 6, key="refused"))
        decision = entitlement_pb2.ConsumeResponse()
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert any(d.Unpack(decision) for d in status.details) and decision.replayed
        assert stubs.call(stubs.entitlements.Consume, consume_request(subject, meter, 4, key="after")).accepted
        assert stubs.call(stubs.entitlements.Check, check).quota.current == 10
        stubs.client.close()
