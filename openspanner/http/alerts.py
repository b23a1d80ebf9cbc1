"""/v1/alerts: alert rules, evaluate-now and alert events, in the product's JSON.

Shapes follow the product's HTTP adapter (adapters/http/alert/dto.go):
optional fields are left out when empty, times are RFC 3339. Destinations and
delivery jobs (/v1/alerts/destinations, /v1/alerts/delivery-jobs) are their
own resource, registered before this one so `/v1/alerts/{id}` never takes
their paths.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from openspanner.alerts.machine import AlertEvent, GroupState
from openspanner.alerts.payload import rfc3339
from openspanner.alerts.rules import (
    DEFAULT_INTERVAL_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MAX_INTERVAL_SECONDS,
    MAX_WINDOW_SECONDS,
    MIN_INTERVAL_SECONDS,
    MIN_WINDOW_SECONDS,
    RuleDraft,
)
from openspanner.alerts.service import AlertService, EventView, RuleView
from openspanner.errors import Unavailable
from openspanner.http.alert_destinations import DestinationJson, destination_json
from openspanner.http.context import authorized, services_of
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import Strict, query_limit
from openspanner.webhooks.model import Attempt

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.AlertService"

_WINDOW = (f"Rolling window in seconds, {MIN_WINDOW_SECONDS}..{MAX_WINDOW_SECONDS}; "
           f"0 or absent means {DEFAULT_WINDOW_SECONDS}.")
_INTERVAL = (f"Seconds between evaluations, {MIN_INTERVAL_SECONDS}..{MAX_INTERVAL_SECONDS}; "
             f"0 or absent means {DEFAULT_INTERVAL_SECONDS}.")
_COMPARATOR = "gt, gte, lt, lte, eq or neq; absent means gte."
_GROUP_BY = "`subject` or a dimension of the meter: one state per value."
_METADATA = "Equality filters: only events whose dimension has this value count."


class AlertRuleCreateRequest(Strict):
    name: str = Field("", description="At most 120 characters.")
    meter: str = Field("", description="The meter whose aggregation is watched.")
    enabled: bool | None = Field(None, description="True when absent.")
    subject: str = Field("", description="Only this subject's events count.")
    metadata: dict[str, str] | None = Field(None, description=_METADATA)
    window_seconds: int = Field(0, description=_WINDOW)
    comparator: str = Field("", description=_COMPARATOR)
    threshold: float = Field(0.0, description="Finite; the value is compared with it.")
    evaluation_interval_seconds: int = Field(0, description=_INTERVAL)
    group_by: str = Field("", description=_GROUP_BY)
    destination_id: str = Field("", description="The destination that receives triggered and resolved events.")


class AlertRuleUpdateRequest(Strict):
    """Each field left out stays as it is; so do name, meter and comparator when empty, and the
    window and interval when 0 (the product's PUT)."""

    name: str | None = None
    meter: str | None = None
    enabled: bool | None = None
    subject: str | None = None
    metadata: dict[str, str] | None = Field(None, description=_METADATA)
    window_seconds: int | None = Field(None, description=_WINDOW)
    comparator: str | None = Field(None, description=_COMPARATOR)
    threshold: float | None = None
    evaluation_interval_seconds: int | None = Field(None, description=_INTERVAL)
    group_by: str | None = Field(None, description=_GROUP_BY)
    destination_id: str | None = None


class AlertState(BaseModel):
    status: str = Field(description="ok, alerting, no_data or error.")
    group_key: str | None = None
    group_value: str | None = None
    value: float
    message: str
    evaluated_at: str | None = None
    updated_at: str


class AlertDelivery(BaseModel):
    id: str = Field(description="The delivery job (its webhook-id).")
    event_id: str
    trigger_type: str = "webhook"
    status: str = Field(description="delivered or failed: the latest attempt's outcome.")
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    attempted_at: str
    created_at: str


class AlertEventResponse(BaseModel):
    id: str
    rule_id: str
    group_key: str | None = None
    group_value: str | None = None
    type: str = Field(description="triggered, resolved or evaluation_failed.")
    value: float
    message: str
    created_at: str
    delivery: AlertDelivery | None = Field(None, description="The latest delivery attempt, once there is one.")


class AlertRuleResponse(BaseModel):
    id: str
    name: str
    meter: str
    enabled: bool
    subject: str | None = None
    metadata: dict[str, str] | None = None
    window_seconds: int
    comparator: str
    threshold: float
    evaluation_interval_seconds: int
    group_by: str | None = None
    destination_id: str | None = None
    destination: DestinationJson | None = Field(None, description="The destination, without its secret.")
    next_evaluate_at: str
    created_at: str
    updated_at: str
    state: AlertState | None = Field(None, description="The state that speaks for the rule: alerting first.")
    states: list[AlertState] | None = Field(None, description="One per group.")


class AlertRuleListResponse(BaseModel):
    items: list[AlertRuleResponse]


class AlertEventListResponse(BaseModel):
    items: list[AlertEventResponse]
    next_cursor: str | None = None


class AlertEvaluationResponse(BaseModel):
    rule: AlertRuleResponse
    state: AlertState
    event: AlertEventResponse | None = None
    events: list[AlertEventResponse] | None = None


def alerts_of(request: Request) -> AlertService:
    alerts = services_of(request).alerts
    if alerts is None:
        raise Unavailable("alert rules are not served by this server")
    return alerts


Alerts = Annotated[AlertService, Depends(alerts_of)]


# Fields an update leaves as they are when empty or zero, as the product's PUT does.
_KEPT_WHEN_EMPTY = frozenset({"name", "meter", "comparator", "window_seconds", "evaluation_interval_seconds"})


def _draft(body: AlertRuleCreateRequest | AlertRuleUpdateRequest) -> RuleDraft:
    given = {name: getattr(body, name) for name in body.model_fields_set}
    if isinstance(body, AlertRuleUpdateRequest):
        given = {k: v for k, v in given.items() if not (k in _KEPT_WHEN_EMPTY and v in ("", 0))}
    return RuleDraft(**given)


@router.post("", status_code=201, response_model=AlertRuleResponse, summary="Create an alert rule",
             dependencies=[Depends(authorized(f"{_SERVICE}/CreateAlertRule"))],
             responses={404: {"description": "The meter or the destination does not exist."}},
             response_model_exclude_none=True)
async def create_rule(body: AlertRuleCreateRequest, alerts: Alerts) -> AlertRuleResponse:
    return rule_json(await alerts.create(_draft(body)))


@router.get("", response_model=AlertRuleListResponse, summary="List alert rules",
            dependencies=[Depends(authorized(f"{_SERVICE}/ListAlertRules"))], response_model_exclude_none=True)
async def list_rules(
    alerts: Alerts,
    meter: Annotated[str, Query(description="Only the rules of this meter.")] = "",
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or disabled (false) rules.")] = None,
    limit: Annotated[int, Query(description="At most this many rules.")] = 100,
) -> AlertRuleListResponse:
    views = await alerts.list_rules(meter, enabled, query_limit(limit))
    return AlertRuleListResponse(items=[rule_json(v) for v in views])


@router.get("/events", response_model=AlertEventListResponse, summary="List alert events, newest first",
            dependencies=[Depends(authorized(f"{_SERVICE}/ListAlertEvents"))], response_model_exclude_none=True)
async def list_events(
    alerts: Alerts,
    rule_id: Annotated[str, Query(description="Only the events of this rule.")] = "",
    limit: Annotated[int, Query(description="Page size.")] = 100,
    cursor: Annotated[str, Query(description="next_cursor of the previous page.")] = "",
) -> AlertEventListResponse:
    views, next_cursor = await alerts.events(rule_id, query_limit(limit), cursor)
    return AlertEventListResponse(items=[event_view_json(v) for v in views], next_cursor=next_cursor or None)


@router.get("/{id}", response_model=AlertRuleResponse, summary="Get an alert rule",
            dependencies=[Depends(authorized(f"{_SERVICE}/GetAlertRule"))], response_model_exclude_none=True)
async def get_rule(id: str, alerts: Alerts) -> AlertRuleResponse:
    return rule_json(await alerts.get(id))


@router.put("/{id}", response_model=AlertRuleResponse, summary="Update an alert rule",
            dependencies=[Depends(authorized(f"{_SERVICE}/UpdateAlertRule"))],
            responses={404: {"description": "The rule, meter or destination does not exist."}},
            response_model_exclude_none=True)
async def update_rule(id: str, body: AlertRuleUpdateRequest, alerts: Alerts) -> AlertRuleResponse:
    return rule_json(await alerts.update(id, _draft(body)))


@router.delete("/{id}", status_code=204, response_class=Response, summary="Delete an alert rule",
               dependencies=[Depends(authorized(f"{_SERVICE}/DeleteAlertRule"))])
async def delete_rule(id: str, alerts: Alerts) -> Response:
    await alerts.delete(id)
    return Response(status_code=204)


@router.post("/{id}/evaluate", response_model=AlertEvaluationResponse, summary="Evaluate an alert rule now",
             dependencies=[Depends(authorized(f"{_SERVICE}/EvaluateAlertRule"))], response_model_exclude_none=True)
async def evaluate_rule(id: str, alerts: Alerts) -> AlertEvaluationResponse:
    result = await alerts.evaluate(id)
    events = [event_json(e) for e in result.events]
    return AlertEvaluationResponse(
        rule=rule_json(result.rule), state=state_json(result.state),
        event=events[0] if events else None, events=events or None,
    )


def rule_json(view: RuleView) -> AlertRuleResponse:
    rule = view.rule
    primary = view.state
    return AlertRuleResponse(
        id=rule.id,
        name=rule.name,
        meter=rule.meter,
        enabled=rule.enabled,
        subject=rule.subject or None,
        metadata=dict(rule.metadata) or None,
        window_seconds=rule.window_seconds,
        comparator=rule.comparator.value,
        threshold=rule.threshold,
        evaluation_interval_seconds=rule.evaluation_interval_seconds,
        group_by=rule.group_by or None,
        destination_id=rule.destination_id or None,
        destination=destination_json(view.destination) if view.destination else None,
        next_evaluate_at=rfc3339(view.next_evaluate_at) if view.next_evaluate_at else "",
        created_at=rfc3339(rule.created_at) if rule.created_at else "",
        updated_at=rfc3339(rule.updated_at) if rule.updated_at else "",
        state=state_json(primary) if primary else None,
        states=[state_json(s) for s in view.states] or None,
    )


def state_json(state: GroupState) -> AlertState:
    return AlertState(
        status=state.status.value,
        group_key=state.group_key or None,
        group_value=state.group_value or None,
        value=state.value,
        message=state.message,
        evaluated_at=rfc3339(state.evaluated_at),
        updated_at=rfc3339(state.updated_at),
    )


def event_json(event: AlertEvent, delivery: AlertDelivery | None = None) -> AlertEventResponse:
    return AlertEventResponse(
        id=event.id,
        rule_id=event.rule_id,
        group_key=event.group_key or None,
        group_value=event.group_value or None,
        type=event.type.value,
        value=event.value,
        message=event.message,
        created_at=rfc3339(event.created_at),
        delivery=delivery,
    )


def event_view_json(view: EventView) -> AlertEventResponse:
    return event_json(view.event, delivery_json(view.delivery))


def delivery_json(attempt: Attempt | None) -> AlertDelivery | None:
    """The latest attempt of an event's delivery, as the product's delivery row."""
    if attempt is None:
        return None
    return AlertDelivery(
        id=attempt.job_id,
        event_id=attempt.event_id,
        status=attempt.status.value,
        status_code=attempt.status_code or None,
        error=attempt.error or None,
        duration_ms=attempt.duration_ms,
        attempted_at=rfc3339(attempt.attempted_at),
        created_at=rfc3339(attempt.attempted_at),
    )
