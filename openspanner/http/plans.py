"""/v1/plans: plans, their versions, subjects' assignments and progress, as the product serves them.

PUT /v1/plans/{id} makes a new version (the old one retired, its subjects
moved); a retired version cannot be updated or assigned (409), a plan with
subjects cannot be deleted (409). Rules and defaults: domain/plans.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from openspanner.domain import entitlements as quota
from openspanner.domain import plans as domain
from openspanner.domain.paging import MAX_LIMIT
from openspanner.http.context import Deps, authorized
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import Strict, query_limit, rfc3339
from openspanner.limits.service import LimitsService, SubjectPreview

router = APIRouter(prefix="/v1/plans", tags=["plans"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.PlanService"


class LimitRequest(Strict):
    meter: str = Field(description="Name of an existing meter.")
    period: str = Field("", description="day, week, month or year; empty means month.")
    limit: float = Field(description="The quota per period, finite and greater than 0, in the meter's aggregation.")
    warning_percent: float = Field(0, description="State `warning` from this percent of the limit, (0, 100]; 0 is 80.")
    enforcement: str = Field("", description="advisory (default): always recorded; hard: refused past the limit.")
    failure_policy: str = Field("", description="When usage cannot be read: fail_open (default) or fail_closed.")


class PlanSaveRequest(Strict):
    name: str = Field(description="At most 120 characters.")
    description: str = ""
    limits: list[LimitRequest] = Field(description="At least one; a meter and period at most once.")


class LimitResponse(BaseModel):
    id: str
    meter: str
    period: str
    limit: float
    warning_percent: float
    enforcement: str
    failure_policy: str
    created_at: str
    updated_at: str


class PlanResponse(BaseModel):
    id: str
    name: str
    description: str
    version: int
    parent_plan_id: str | None = Field(None, description="The version this one replaced; absent on version 1.")
    is_current: bool
    limits: list[LimitResponse]
    created_at: str
    updated_at: str


class PlanListResponse(BaseModel):
    items: list[PlanResponse]


class AssignmentRequest(Strict):
    plan_id: str = Field(description="A current plan version.")
    effective_at: AwareDatetime | None = Field(None, description="When it starts (RFC 3339); past or absent: now.")


class AssignmentResponse(BaseModel):
    id: str
    subject: str
    plan_id: str
    plan_name: str
    plan_version: int
    status: str = Field(description="scheduled, active or ended.")
    active: bool
    assigned_at: str
    period_anchor_at: str = Field(description="Start of the subject's first window: its first assignment.")
    unassigned_at: str | None = None
    updated_at: str


class AssignmentListResponse(BaseModel):
    items: list[AssignmentResponse]


class ProgressItemResponse(BaseModel):
    meter: str
    period: str
    state: str
    current: float
    limit: float
    remaining: float
    overage: float
    percent: float
    warning_percent: float
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    period_reset_at: str
    unit: str
    aggregation: str


class ProgressResponse(BaseModel):
    subject: str
    plan: PlanResponse
    items: list[ProgressItemResponse]


class PreviewItemResponse(ProgressItemResponse):
    current_limit: float
    proposed_limit: float
    current_state: str
    proposed_state: str
    event_count: int
    removed: bool
    existing_limit_found: bool


class PreviewSubjectResponse(BaseModel):
    subject: str
    assignment_id: str
    assignment_status: str
    current_plan_id: str
    current_plan_version: int
    proposed_plan_id: str
    proposed_plan_version: int
    items: list[PreviewItemResponse]


class PreviewSummary(BaseModel):
    subjects: int
    ok: int
    warning: int
    exceeded: int
    removed_limits: int


class PreviewResponse(BaseModel):
    current: PlanResponse
    proposed: PlanResponse
    summary: PreviewSummary
    subjects: list[PreviewSubjectResponse]


def limits_of(services: Deps) -> LimitsService:
    assert services.limits is not None, "the server builds its app with the limits service"
    return services.limits


def plan_draft(body: PlanSaveRequest) -> domain.PlanDraft:
    return domain.PlanDraft(
        name=body.name,
        description=body.description,
        limits=tuple(
            domain.LimitDraft(d.meter, d.limit, d.period, d.warning_percent, d.enforcement, d.failure_policy)
            for d in body.limits
        ),
    )


def plan_json(plan: domain.Plan) -> PlanResponse:
    created = rfc3339(plan.created_at) if plan.created_at else ""
    return PlanResponse(
        id=plan.id,
        name=plan.name,
        description=plan.description,
        version=plan.version,
        parent_plan_id=plan.parent_plan_id or None,
        is_current=plan.is_current,
        limits=[
            LimitResponse(
                id=limit.id, meter=limit.meter, period=limit.period.value, limit=limit.limit,
                warning_percent=limit.warning_percent, enforcement=limit.enforcement.value,
                failure_policy=limit.failure_policy.value,
                created_at=rfc3339(limit.created_at) if limit.created_at else created,
                updated_at=rfc3339(limit.updated_at) if limit.updated_at else created,
            )
            for limit in plan.limits
        ],
        created_at=created,
        updated_at=rfc3339(plan.updated_at) if plan.updated_at else created,
    )


def assignment_json(assignment: domain.Assignment, limits: LimitsService) -> AssignmentResponse:
    now = datetime.now(UTC)
    status = assignment.status_at(now)
    plan = limits.plans.find(assignment.plan_id)  # None: deleted since; the history still names it
    plan_name, plan_version = (plan.name, plan.version) if plan else ("", 0)
    return AssignmentResponse(
        id=assignment.id,
        subject=assignment.subject,
        plan_id=assignment.plan_id,
        plan_name=plan_name,
        plan_version=plan_version,
        status=status.value,
        active=status is domain.AssignmentStatus.ACTIVE,
        assigned_at=rfc3339(assignment.assigned_at),
        period_anchor_at=rfc3339(assignment.period_anchor_at),
        unassigned_at=rfc3339(assignment.unassigned_at) if assignment.unassigned_at else None,
        updated_at=rfc3339(assignment.updated_at or assignment.assigned_at),
    )


def progress_json(item: quota.ProgressItem) -> ProgressItemResponse:
    return ProgressItemResponse.model_validate(_progress_fields(item))


def _progress_fields(item: quota.ProgressItem) -> dict[str, object]:
    return {
        "meter": item.meter,
        "period": item.period.value,
        "state": item.state.value,
        "current": item.current,
        "limit": item.limit,
        "remaining": item.remaining,
        "overage": item.overage,
        "percent": item.percent,
        "warning_percent": item.warning_percent,
        "from": rfc3339(item.window.start),
        "to": rfc3339(item.window.end),
        "period_reset_at": rfc3339(item.window.end),
        "unit": item.unit,
        "aggregation": item.aggregation.value,
    }


_JSON = {"response_model_exclude_none": True, "response_model_by_alias": True}


@router.get("", response_model=PlanListResponse, summary="List current plans", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/ListPlans"))])
async def list_plans(services: Deps) -> PlanListResponse:
    return PlanListResponse(items=[plan_json(p) for p in limits_of(services).list_plans()])


@router.post("", status_code=201, response_model=PlanResponse, summary="Create a plan", **_JSON,  # type: ignore[arg-type]
             dependencies=[Depends(authorized(f"{_SERVICE}/CreatePlan"))],
             responses={404: {"description": "A limit names a meter that does not exist."}})
async def create_plan(body: PlanSaveRequest, services: Deps) -> PlanResponse:
    return plan_json(await limits_of(services).create_plan(plan_draft(body)))


@router.get("/assignments", response_model=AssignmentListResponse, summary="List plan assignments",
            **_JSON, dependencies=[Depends(authorized(f"{_SERVICE}/ListAssignments"))])  # type: ignore[arg-type]
async def list_assignments(
    services: Deps,
    subject: Annotated[str, Query(description="Only this subject's.")] = "",
    plan_id: Annotated[str, Query(description="Only this plan version's.")] = "",
    include_history: Annotated[bool, Query(description="Ended assignments too.")] = False,
    limit: Annotated[int, Query(description=f"At most this many, up to {MAX_LIMIT}; newest first.")] = 100,
) -> AssignmentListResponse:
    limits = limits_of(services)
    found = limits.list_assignments(subject, plan_id, include_history, query_limit(limit))
    return AssignmentListResponse(items=[assignment_json(a, limits) for a in found])


@router.put("/subjects/{subject}", response_model=AssignmentResponse, summary="Assign a subject to a plan",
            **_JSON, dependencies=[Depends(authorized(f"{_SERVICE}/AssignPlan"))],  # type: ignore[arg-type]
            responses={409: {"description": "The plan version is retired."}})
async def assign_plan(subject: str, body: AssignmentRequest, services: Deps) -> AssignmentResponse:
    limits = limits_of(services)
    assignment = await limits.assign(subject, body.plan_id.strip(), body.effective_at)
    return assignment_json(assignment, limits)


@router.delete("/subjects/{subject}", status_code=204, response_class=Response, summary="End a subject's plan",
               dependencies=[Depends(authorized(f"{_SERVICE}/UnassignPlan"))])
async def unassign_plan(subject: str, services: Deps) -> Response:
    await limits_of(services).unassign(subject)
    return Response(status_code=204)


@router.get("/subjects/{subject}/progress", response_model=ProgressResponse, summary="A subject's usage per limit",
            **_JSON, dependencies=[Depends(authorized(f"{_SERVICE}/GetSubjectProgress"))],  # type: ignore[arg-type]
            responses={404: {"description": "The subject has no plan."}})
async def subject_progress(subject: str, services: Deps) -> ProgressResponse:
    plan, items = await limits_of(services).progress(subject)
    return ProgressResponse(subject=subject, plan=plan_json(plan), items=[progress_json(i) for i in items])


@router.get("/{id}", response_model=PlanResponse, summary="Get a plan version", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/GetPlan"))])
async def get_plan(id: str, services: Deps) -> PlanResponse:
    return plan_json(await limits_of(services).get_plan(id))


@router.put("/{id}", response_model=PlanResponse, summary="Update a plan: a new version", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/UpdatePlan"))],
            responses={409: {"description": "The version is retired."}})
async def update_plan(id: str, body: PlanSaveRequest, services: Deps) -> PlanResponse:
    return plan_json(await limits_of(services).update_plan(id, plan_draft(body)))


@router.delete("/{id}", status_code=204, response_class=Response, summary="Delete a plan",
               dependencies=[Depends(authorized(f"{_SERVICE}/DeletePlan"))],
               responses={409: {"description": "Subjects are assigned to it."}})
async def delete_plan(id: str, services: Deps) -> Response:
    await limits_of(services).delete_plan(id)
    return Response(status_code=204)


@router.post("/{id}/preview", response_model=PreviewResponse, summary="Preview a plan update", **_JSON,  # type: ignore[arg-type]
             dependencies=[Depends(authorized(f"{_SERVICE}/PreviewPlan"))])
async def preview_plan(id: str, body: PlanSaveRequest, services: Deps) -> PreviewResponse:
    current, proposed, previews = await limits_of(services).preview_plan(id, plan_draft(body))
    subjects = [_preview_subject(p, current, proposed) for p in previews]
    states = [item.proposed_state for s in subjects for item in s.items if not item.removed]
    return PreviewResponse(
        current=plan_json(current),
        proposed=plan_json(proposed),
        summary=PreviewSummary(
            subjects=len(subjects), ok=states.count("ok"), warning=states.count("warning"),
            exceeded=states.count("exceeded"), removed_limits=sum(i.removed for s in subjects for i in s.items),
        ),
        subjects=subjects,
    )


def _preview_subject(preview: SubjectPreview, current: domain.Plan, proposed: domain.Plan) -> PreviewSubjectResponse:
    assignment = preview.assignment
    return PreviewSubjectResponse(
        subject=assignment.subject,
        assignment_id=assignment.id,
        assignment_status=assignment.status_at(datetime.now(UTC)).value,
        current_plan_id=current.id,
        current_plan_version=current.version,
        proposed_plan_id=proposed.id,
        proposed_plan_version=proposed.version,
        items=[
            PreviewItemResponse.model_validate({
                **_progress_fields(line.item),
                "current_limit": line.current_limit,
                "proposed_limit": line.proposed_limit,
                "current_state": line.current_state.value if line.current_state else "",
                "proposed_state": line.proposed_state.value if line.proposed_state else "",
                "event_count": line.item.event_count,
                "removed": line.removed,
                "existing_limit_found": line.existing_limit_found,
            })
            for line in preview.lines
        ],
    )
