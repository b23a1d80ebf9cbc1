"""/v1/entitlements: check, consume, decisions, states, events and period snapshots.

The product's routes and JSON shapes, which its published client parses:
consume answers 201 when accepted and 429 (same body, with Retry-After)
when a hard limit refuses it; a repeated key answers the stored decision
with `replayed: true`. Semantics: limits/service.py and docs/limits.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from openspanner.domain import entitlements as domain
from openspanner.domain.events import UsageEvent as DomainUsageEvent
from openspanner.domain.plans import Enforcement
from openspanner.errors import InvalidArgument
from openspanner.http.context import Deps, authorized
from openspanner.http.direct import direct_route
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.plans import limits_of
from openspanner.http.usages import UsageCreateRequest, domain_event
from openspanner.http.wire import Strict, UsageEvent, rfc3339, usage_event
from openspanner.storage.entitlements import DecisionFilter

router = APIRouter(prefix="/v1/entitlements", tags=["entitlements"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.EntitlementService"
DEFAULT_DECISIONS_LIMIT = 50
MAX_DECISIONS_LIMIT = 200
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000


class CheckRequest(Strict):
    subject: str = ""
    meter: str = ""
    quantity: float = Field(0, description="What would be consumed; 0 or absent means 1.")


class CheckResponse(BaseModel):
    allowed: bool
    state: str = Field(description="ok, warning, exceeded, no_plan or not_in_plan.")
    subject: str
    meter: str
    quantity: float
    current: float
    limit: float
    remaining: float
    overage: float
    plan_id: str | None = None
    plan_name: str | None = None
    period: str | None = None
    from_: str | None = Field(None, alias="from", serialization_alias="from")
    to: str | None = None
    period_reset_at: str | None = None
    retry_after_seconds: int | None = Field(None, description="Seconds to the window's end, when not allowed.")
    message: str


class ConsumeQuota(CheckResponse):
    enforcement: str
    failure_policy: str
    projected: float


class ConsumeRequest(UsageCreateRequest):
    idempotency_key: str = Field("", description="Required: a consume repeated with it replays its decision.")
    quantity: float = Field(0, description="0 or absent means 1.")


class ConsumeResponse(BaseModel):
    accepted: bool
    replayed: bool
    evaluation_failed: bool
    event: UsageEvent | None = Field(None, description="The recorded usage event, when accepted.")
    quota: ConsumeQuota


class Decision(BaseModel):
    idempotency_key: str
    accepted: bool
    evaluation_failed: bool
    event_id: str | None = None
    quota: ConsumeQuota
    created_at: str


class DecisionList(BaseModel):
    items: list[Decision]
    next_cursor: str | None = None


class StateResponse(BaseModel):
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    period: str
    state: str
    current: float
    limit: float
    remaining: float
    warning_percent: float
    message: str
    evaluated_at: str
    updated_at: str


class StateList(BaseModel):
    items: list[StateResponse]


class EventResponse(BaseModel):
    id: str
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    previous_state: str | None = None
    state: str
    type: str = Field(description="warning, exceeded or recovered.")
    current: float
    limit: float
    message: str
    created_at: str


class EventList(BaseModel):
    items: list[EventResponse]
    next_cursor: str | None = None


class PeriodResponse(BaseModel):
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    plan_version: int
    period: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    state: str
    current: float
    limit: float
    included: float
    overage: float
    remaining: float
    warning_percent: float
    event_count: int
    updated_at: str


class PeriodList(BaseModel):
    items: list[PeriodResponse]


def check_fields(result: domain.CheckResult) -> dict[str, Any]:
    window = result.window
    return {
        "allowed": result.allowed,
        "state": result.state.value,
        "subject": result.subject,
        "meter": result.meter,
        "quantity": result.quantity,
        "current": result.current,
        "limit": result.limit,
        "remaining": result.remaining,
        "overage": result.overage,
        "plan_id": result.plan.id if result.plan else None,
        "plan_name": result.plan.name if result.plan else None,
        "period": result.period.value if result.period else None,
        "from": rfc3339(window.start) if window else None,
        "to": rfc3339(window.end) if window else None,
        "period_reset_at": rfc3339(window.end) if window else None,
        "retry_after_seconds": result.retry_after_seconds,
        "message": result.message,
    }


def quota_fields(result: domain.CheckResult) -> dict[str, Any]:
    return {
        **check_fields(result),
        "enforcement": result.enforcement.value,
        "failure_policy": result.failure_policy.value,
        "projected": result.projected,
    }


def quota_json(result: domain.CheckResult) -> ConsumeQuota:
    return ConsumeQuota.model_validate(quota_fields(result))


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    """The product leaves out empty optional fields (omitempty)."""
    return {key: value for key, value in fields.items() if value is not None}


def decision_json(decision: domain.ConsumeDecision) -> Decision:
    return Decision(
        idempotency_key=decision.idempotency_key,
        accepted=decision.accepted,
        evaluation_failed=decision.evaluation_failed,
        event_id=decision.event_id or None,
        quota=quota_json(decision.quota),
        created_at=rfc3339(decision.created_at),
    )


_JSON = {"response_model_exclude_none": True, "response_model_by_alias": True}


@router.post("/check", response_model=CheckResponse, summary="Would this usage be within quota?", **_JSON,  # type: ignore[arg-type]
             dependencies=[Depends(authorized(f"{_SERVICE}/Check"))])
async def check(body: CheckRequest, services: Deps) -> JSONResponse:
    """Answered as a ready JSONResponse: a check sits in its caller's request path, and FastAPI
    would validate the returned model once more before serializing it (the model documents it)."""
    result = await limits_of(services).check(body.subject.strip(), body.meter.strip(), body.quantity)
    return JSONResponse(_without_none(check_fields(result)))


@router.post(
    "/consume", status_code=201, response_model=ConsumeResponse, summary="Check and record usage in one step",
    **_JSON,  # type: ignore[arg-type]
    dependencies=[Depends(authorized(f"{_SERVICE}/Consume"))],
    responses={429: {"model": ConsumeResponse, "description": "Refused by a hard limit (Retry-After)."}},
)
async def consume(body: ConsumeRequest, services: Deps) -> JSONResponse:
    if not body.idempotency_key:
        raise InvalidArgument("is required: a consume is replayed by its key", field="idempotency_key")
    event: DomainUsageEvent = domain_event(body)
    answer = await limits_of(services).consume(event)
    decision = answer.decision
    content: dict[str, Any] = {
        "accepted": decision.accepted,
        "replayed": answer.replayed,
        "evaluation_failed": decision.evaluation_failed,
        "quota": _without_none(quota_fields(decision.quota)),
    }
    if answer.event is not None:
        content["event"] = usage_event(answer.event).model_dump(mode="json")
    if decision.accepted:
        return JSONResponse(content, 201)
    retry_after = decision.quota.retry_after_seconds
    headers = {"Retry-After": str(max(retry_after, 1))} if retry_after is not None else {}
    return JSONResponse(content, 429, headers)


# A check sits in its caller's request path, and a consume is as busy as recording usage.
DIRECT_ROUTES = [
    direct_route(router, "/v1/entitlements/check", CheckRequest, f"{_SERVICE}/Check", check),
    direct_route(router, "/v1/entitlements/consume", ConsumeRequest, f"{_SERVICE}/Consume", consume),
]


@router.get("/decisions/{idempotency_key}", response_model=Decision, summary="A consume's stored decision",
            **_JSON, dependencies=[Depends(authorized(f"{_SERVICE}/GetDecision"))])  # type: ignore[arg-type]
async def get_decision(idempotency_key: str, services: Deps) -> Decision:
    return decision_json(await limits_of(services).get_decision(idempotency_key))


@router.get("/decisions", response_model=DecisionList, summary="Consume decisions, newest first", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/ListDecisions"))])
async def list_decisions(
    services: Deps,
    subject: str = "",
    meter: str = "",
    outcome: Annotated[str, Query(description="accepted, rejected or all (default).")] = "",
    evaluation_failed: bool | None = None,
    enforcement: Annotated[str, Query(description="advisory or hard.")] = "",
    state: Annotated[str, Query(description="The quota's state: ok, warning, exceeded, no_plan, not_in_plan.")] = "",
    limit: Annotated[int, Query(description=f"Page size, default {DEFAULT_DECISIONS_LIMIT}, "
                                f"at most {MAX_DECISIONS_LIMIT}.")] = DEFAULT_DECISIONS_LIMIT,
    cursor: Annotated[str, Query(description="next_cursor of the previous page.")] = "",
) -> DecisionList:
    where = DecisionFilter(
        subject=subject.strip(), meter=meter.strip(), accepted=_outcome(outcome), evaluation_failed=evaluation_failed,
        enforcement=_one_of(enforcement, [e.value for e in Enforcement], "enforcement"),
        state=_one_of(state, [s.value for s in domain.EntitlementStateName], "state"),
    )
    decisions, next_cursor = await limits_of(services).list_decisions(
        where, _page_size(limit, MAX_DECISIONS_LIMIT), cursor
    )
    return DecisionList(items=[decision_json(d) for d in decisions], next_cursor=next_cursor or None)


@router.get("/states", response_model=StateList, summary="The latest state of each subject and meter", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/ListStates"))])
async def list_states(
    services: Deps, subject: str = "", meter: str = "", state: str = "", limit: int = DEFAULT_LIST_LIMIT
) -> StateList:
    state = _one_of(state, [s.value for s in domain.EntitlementStateName], "state")
    states = await limits_of(services).list_states(subject.strip(), meter.strip(), state, _page_size(limit))
    return StateList(items=[
        StateResponse(
            subject=s.subject, meter=s.meter, plan_id=s.plan_id, plan_name=s.plan_name, period=s.period.value,
            state=s.state.value, current=s.current, limit=s.limit, remaining=s.remaining,
            warning_percent=s.warning_percent, message=s.message, evaluated_at=rfc3339(s.evaluated_at),
            updated_at=rfc3339(s.updated_at),
        )
        for s in states
    ])


@router.get("/events", response_model=EventList, summary="Changes of state, newest first", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/ListEvents"))])
async def list_events(
    services: Deps, subject: str = "", meter: str = "", type: str = "", limit: int = DEFAULT_LIST_LIMIT
) -> EventList:
    event_type = _one_of(type, [t.value for t in domain.EntitlementEventType], "type")
    events = await limits_of(services).list_events(subject.strip(), meter.strip(), event_type, _page_size(limit))
    return EventList(items=[
        EventResponse(
            id=e.id, subject=e.subject, meter=e.meter, plan_id=e.plan_id, plan_name=e.plan_name,
            previous_state=e.previous_state or None, state=e.state.value, type=e.type.value, current=e.current,
            limit=e.limit, message=e.message, created_at=rfc3339(e.created_at),
        )
        for e in events
    ])


@router.get("/periods", response_model=PeriodList, summary="Usage of each window, newest first", **_JSON,  # type: ignore[arg-type]
            dependencies=[Depends(authorized(f"{_SERVICE}/ListPeriods"))])
async def list_periods(
    services: Deps, subject: str = "", meter: str = "", limit: int = DEFAULT_LIST_LIMIT
) -> PeriodList:
    snapshots = await limits_of(services).list_periods(subject.strip(), meter.strip(), _page_size(limit))
    return PeriodList(items=[
        PeriodResponse.model_validate({
            "subject": p.subject, "meter": p.meter, "plan_id": p.plan_id, "plan_name": p.plan_name,
            "plan_version": p.plan_version, "period": p.period.value, "from": rfc3339(p.window.start),
            "to": rfc3339(p.window.end), "state": p.state.value, "current": p.current, "limit": p.limit,
            "included": p.included, "overage": p.overage, "remaining": p.remaining,
            "warning_percent": p.warning_percent, "event_count": p.event_count, "updated_at": rfc3339(p.updated_at),
        })
        for p in snapshots
    ])


def _outcome(outcome: str) -> bool | None:
    value = _one_of(outcome, ["accepted", "rejected", "all"], "outcome")
    return None if value in ("", "all") else value == "accepted"


def _one_of(value: str, allowed: list[str], field_name: str) -> str:
    value = value.strip().lower()
    if value and value not in allowed:
        raise InvalidArgument(f"{value!r} is not one of {', '.join(allowed)}", field=field_name)
    return value


def _page_size(limit: int, maximum: int = MAX_LIST_LIMIT) -> int:
    """Larger values are clamped, as the product does; below 1 is refused."""
    if limit < 1:
        raise InvalidArgument(f"must be between 1 and {maximum}", field="limit")
    return min(limit, maximum)
