"""AlertService: alert rules over gRPC, the same operations as the REST API's /v1/alerts."""

from __future__ import annotations

import grpc

from openspanner.alerts.machine import AlertEvent, EventType, GroupState, Status
from openspanner.alerts.rules import Comparator, RuleDraft
from openspanner.alerts.service import AlertService as Alerts
from openspanner.alerts.service import EventView, RuleView
from openspanner.errors import InvalidArgument
from openspanner.grpc.convert import timestamp
from openspanner.grpc.rpc import rpc
from openspanner.v1 import alert_pb2, alert_pb2_grpc

_COMPARATORS = {
    alert_pb2.ALERT_COMPARATOR_UNSPECIFIED: "",
    alert_pb2.ALERT_COMPARATOR_GT: Comparator.GT.value,
    alert_pb2.ALERT_COMPARATOR_GTE: Comparator.GTE.value,
    alert_pb2.ALERT_COMPARATOR_LT: Comparator.LT.value,
    alert_pb2.ALERT_COMPARATOR_LTE: Comparator.LTE.value,
    alert_pb2.ALERT_COMPARATOR_EQ: Comparator.EQ.value,
    alert_pb2.ALERT_COMPARATOR_NEQ: Comparator.NEQ.value,
}
_COMPARATOR_OF = {name: number for number, name in _COMPARATORS.items() if name}
_STATUS = {
    Status.OK: alert_pb2.ALERT_STATUS_OK,
    Status.ALERTING: alert_pb2.ALERT_STATUS_ALERTING,
    Status.NO_DATA: alert_pb2.ALERT_STATUS_NO_DATA,
    Status.ERROR: alert_pb2.ALERT_STATUS_ERROR,
}
_EVENT_TYPE = {
    EventType.TRIGGERED: alert_pb2.ALERT_EVENT_TYPE_TRIGGERED,
    EventType.RESOLVED: alert_pb2.ALERT_EVENT_TYPE_RESOLVED,
    EventType.EVALUATION_FAILED: alert_pb2.ALERT_EVENT_TYPE_EVALUATION_FAILED,
}
# The fields of AlertRule a request sets; the rest are output only.
SETTABLE = (
    "name", "meter", "enabled", "subject", "metadata", "window_seconds", "comparator", "threshold",
    "evaluation_interval_seconds", "group_by", "destination_id",
)


class AlertService(alert_pb2_grpc.AlertServiceServicer):
    def __init__(self, alerts: Alerts) -> None:
        self._alerts = alerts

    @rpc
    async def CreateAlertRule(
        self, request: alert_pb2.CreateAlertRuleRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.CreateAlertRuleResponse:
        draft = draft_of(request.rule, SETTABLE)
        return alert_pb2.CreateAlertRuleResponse(rule=rule_to_proto(await self._alerts.create(draft)))

    @rpc
    async def GetAlertRule(
        self, request: alert_pb2.GetAlertRuleRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.GetAlertRuleResponse:
        return alert_pb2.GetAlertRuleResponse(rule=rule_to_proto(await self._alerts.get(request.id)))

    @rpc
    async def ListAlertRules(
        self, request: alert_pb2.ListAlertRulesRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.ListAlertRulesResponse:
        enabled = request.enabled if request.HasField("enabled") else None
        views = await self._alerts.list_rules(request.meter, enabled, request.limit)
        return alert_pb2.ListAlertRulesResponse(rules=[rule_to_proto(v) for v in views])

    @rpc
    async def UpdateAlertRule(
        self, request: alert_pb2.UpdateAlertRuleRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.UpdateAlertRuleResponse:
        paths = tuple(request.update_mask.paths) or SETTABLE
        unknown = [p for p in paths if p not in SETTABLE]
        if unknown:
            raise InvalidArgument(f"{unknown[0]!r} is not a settable field of AlertRule", field="update_mask")
        view = await self._alerts.update(request.rule.id, draft_of(request.rule, paths))
        return alert_pb2.UpdateAlertRuleResponse(rule=rule_to_proto(view))

    @rpc
    async def DeleteAlertRule(
        self, request: alert_pb2.DeleteAlertRuleRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.DeleteAlertRuleResponse:
        await self._alerts.delete(request.id)
        return alert_pb2.DeleteAlertRuleResponse()

    @rpc
    async def EvaluateAlertRule(
        self, request: alert_pb2.EvaluateAlertRuleRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.EvaluateAlertRuleResponse:
        result = await self._alerts.evaluate(request.id)
        return alert_pb2.EvaluateAlertRuleResponse(
            rule=rule_to_proto(result.rule), state=state_to_proto(result.state),
            events=[event_to_proto(e) for e in result.events],
        )

    @rpc
    async def ListAlertEvents(
        self, request: alert_pb2.ListAlertEventsRequest, context: grpc.aio.ServicerContext
    ) -> alert_pb2.ListAlertEventsResponse:
        views, token = await self._alerts.events(request.rule_id, request.limit, request.page_token)
        return alert_pb2.ListAlertEventsResponse(events=[event_view_to_proto(v) for v in views], next_page_token=token)


def draft_of(message: alert_pb2.AlertRule, fields: tuple[str, ...]) -> RuleDraft:
    """The named fields of a rule message as a draft; an unnamed field stays None (unchanged or default)."""
    if message.comparator not in _COMPARATORS:
        raise InvalidArgument(f"unknown comparator {message.comparator}", field="rule.comparator")
    values: dict[str, object] = {
        "name": message.name, "meter": message.meter, "enabled": message.enabled, "subject": message.subject,
        "metadata": dict(message.metadata), "window_seconds": message.window_seconds,
        "comparator": _COMPARATORS[message.comparator], "threshold": message.threshold,
        "evaluation_interval_seconds": message.evaluation_interval_seconds, "group_by": message.group_by,
        "destination_id": message.destination_id,
    }
    return RuleDraft(**{name: values[name] for name in fields})  # type: ignore[arg-type]


def rule_to_proto(view: RuleView) -> alert_pb2.AlertRule:
    rule = view.rule
    message = alert_pb2.AlertRule(
        id=rule.id, name=rule.name, meter=rule.meter, enabled=rule.enabled, subject=rule.subject,
        metadata=dict(rule.metadata), window_seconds=rule.window_seconds,
        comparator=_COMPARATOR_OF[rule.comparator.value], threshold=rule.threshold,
        evaluation_interval_seconds=rule.evaluation_interval_seconds, group_by=rule.group_by,
        destination_id=rule.destination_id, states=[state_to_proto(s) for s in view.states],
    )
    if view.state is not None:
        message.state.CopyFrom(state_to_proto(view.state))
    if view.next_evaluate_at is not None:
        message.next_evaluate_time.CopyFrom(timestamp(view.next_evaluate_at))
    if rule.created_at is not None:
        message.create_time.CopyFrom(timestamp(rule.created_at))
    if rule.updated_at is not None:
        message.update_time.CopyFrom(timestamp(rule.updated_at))
    return message


def state_to_proto(state: GroupState) -> alert_pb2.AlertState:
    return alert_pb2.AlertState(
        status=_STATUS[state.status], group_key=state.group_key, group_value=state.group_value,
        value=state.value, message=state.message, evaluate_time=timestamp(state.evaluated_at),
        update_time=timestamp(state.updated_at),
    )


def event_to_proto(event: AlertEvent) -> alert_pb2.AlertEvent:
    return alert_pb2.AlertEvent(
        id=event.id, rule_id=event.rule_id, group_key=event.group_key, group_value=event.group_value,
        type=_EVENT_TYPE[event.type], value=event.value, message=event.message,
        create_time=timestamp(event.created_at),
    )


def event_view_to_proto(view: EventView) -> alert_pb2.AlertEvent:
    message = event_to_proto(view.event)
    attempt = view.delivery
    if attempt is not None:
        message.delivery.CopyFrom(alert_pb2.AlertDelivery(
            id=attempt.job_id, status=attempt.status.value, status_code=attempt.status_code, error=attempt.error,
            duration_ms=attempt.duration_ms, attempt_time=timestamp(attempt.attempted_at),
        ))
    return message
