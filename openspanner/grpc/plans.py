"""PlanService: decode the request, ask the limits service, encode the answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc

from openspanner.domain.plans import Plan
from openspanner.errors import NotFound, OpenSpannerError
from openspanner.grpc.convert import read_timestamp_us
from openspanner.grpc.entitlements_convert import page_size
from openspanner.grpc.plans_convert import (
    assignment_to_proto,
    plan_draft_from_proto,
    plan_to_proto,
    preview_to_proto,
    progress_to_proto,
)
from openspanner.grpc.rpc import rpc
from openspanner.limits.service import LimitsService
from openspanner.v1 import plan_pb2, plan_pb2_grpc


class PlanService(plan_pb2_grpc.PlanServiceServicer):
    def __init__(self, limits: LimitsService) -> None:
        self._limits = limits

    @rpc
    async def CreatePlan(
        self, request: plan_pb2.CreatePlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.CreatePlanResponse:
        draft = plan_draft_from_proto(request.plan, "plan")
        with _fields_under("plan"):
            plan = await self._limits.create_plan(draft)
        return plan_pb2.CreatePlanResponse(plan=plan_to_proto(plan))

    @rpc
    async def GetPlan(
        self, request: plan_pb2.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.GetPlanResponse:
        return plan_pb2.GetPlanResponse(plan=plan_to_proto(await self._plan(request.id)))

    @rpc
    async def ListPlans(
        self, request: plan_pb2.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.ListPlansResponse:
        plans = self._limits.list_plans()
        if request.include_retired:
            plans = [version for plan in plans for version in self._limits.plans.versions_of(plan)]
        plans.sort(key=lambda p: (p.created_at or datetime.min.replace(tzinfo=UTC), p.id), reverse=True)
        return plan_pb2.ListPlansResponse(plans=[plan_to_proto(plan) for plan in plans])

    @rpc
    async def UpdatePlan(
        self, request: plan_pb2.UpdatePlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.UpdatePlanResponse:
        draft = plan_draft_from_proto(request.plan, "plan")
        with _fields_under("plan"):
            plan = await self._limits.update_plan(request.id, draft)
        return plan_pb2.UpdatePlanResponse(plan=plan_to_proto(plan))

    @rpc
    async def DeletePlan(
        self, request: plan_pb2.DeletePlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.DeletePlanResponse:
        await self._plan(request.id)
        await self._limits.delete_plan(request.id)
        return plan_pb2.DeletePlanResponse()

    @rpc
    async def PreviewPlan(
        self, request: plan_pb2.PreviewPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.PreviewPlanResponse:
        draft = plan_draft_from_proto(request.plan, "plan")
        with _renamed("plan_id", "id"), _fields_under("plan"):
            current, proposed, previews = await self._limits.preview_plan(request.id, draft)
        pairs = [(preview.assignment, preview.lines) for preview in previews]
        return preview_to_proto(current, proposed, pairs, datetime.now(UTC))

    @rpc
    async def AssignPlan(
        self, request: plan_pb2.AssignPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.AssignPlanResponse:
        effective_us = read_timestamp_us(request, "effective_time")
        effective_at = None if effective_us is None else datetime.fromtimestamp(effective_us / 1_000_000, UTC)
        assignment = await self._limits.assign(request.subject, request.plan_id, effective_at)
        return plan_pb2.AssignPlanResponse(assignment=assignment_to_proto(assignment, self._plan_of, _now()))

    @rpc
    async def UnassignPlan(
        self, request: plan_pb2.UnassignPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.UnassignPlanResponse:
        ended = await self._limits.unassign(request.subject)
        # The one in effect (or, when only a scheduled one was cancelled, that one): the latest started.
        latest = max(ended, key=lambda a: (a.assigned_at <= _now(), a.assigned_at))
        return plan_pb2.UnassignPlanResponse(assignment=assignment_to_proto(latest, self._plan_of, _now()))

    @rpc
    async def ListAssignments(
        self, request: plan_pb2.ListAssignmentsRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.ListAssignmentsResponse:
        found = self._limits.list_assignments(
            request.subject, request.plan_id, request.include_history, page_size(request.page_size)
        )
        now = _now()
        return plan_pb2.ListAssignmentsResponse(assignments=[assignment_to_proto(a, self._plan_of, now) for a in found])

    @rpc
    async def GetSubjectProgress(
        self, request: plan_pb2.GetSubjectProgressRequest, context: grpc.aio.ServicerContext
    ) -> plan_pb2.GetSubjectProgressResponse:
        plan, items = await self._limits.progress(request.subject)
        return plan_pb2.GetSubjectProgressResponse(progress=progress_to_proto(request.subject, plan, items))

    async def _plan(self, plan_id: str) -> Plan:
        with _renamed("plan_id", "id"):
            return await self._limits.get_plan(plan_id)

    def _plan_of(self, plan_id: str) -> Plan | None:
        try:
            return self._limits.plans.get(plan_id)
        except NotFound:
            return None


def _now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def _fields_under(parent: str) -> Iterator[None]:
    """The plan rules name fields as REST's body has them (`limits[0].limit`); a gRPC request
    holds the plan in `parent`, so that is where a refused field is."""
    try:
        yield
    except OpenSpannerError as error:
        if error.field in ("name", "description") or error.field.startswith("limits"):
            error.field = f"{parent}.{error.field}"
        raise


@contextlib.contextmanager
def _renamed(field: str, request_field: str) -> Iterator[None]:
    """A refusal naming `field` names the request's own `request_field` instead."""
    try:
        yield
    except OpenSpannerError as error:
        if error.field == field:
            error.field = request_field
        raise
