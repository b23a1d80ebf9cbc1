"""Alert rules in the Python client: requests from plain dicts, answers as plain dicts.

A rule is written as the REST API's JSON (`{"name", "meter", "threshold",
"comparator": "gte", ...}`) and read back the same way, with times as
datetimes and enums as their lowercase words ("alerting", "triggered").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from openspanner.client.convert import optional_datetime
from openspanner.v1 import alert_pb2

# The fields of a rule a client sets; the rest are the server's.
SETTABLE = (
    "name", "meter", "enabled", "subject", "metadata", "window_seconds", "comparator", "threshold",
    "evaluation_interval_seconds", "group_by", "destination_id",
)


def rule_message(fields: Mapping[str, Any], *, enabled_default: bool = True) -> alert_pb2.AlertRule:
    """A rule message from REST-shaped fields; `enabled` is true unless given (as the REST API)."""
    unknown = sorted(set(fields) - set(SETTABLE) - {"id"})
    if unknown:
        raise ValueError(f"{unknown[0]}: not a field of an alert rule (fields: {', '.join(SETTABLE)})")
    message = alert_pb2.AlertRule(
        name=str(fields.get("name", "")),
        meter=str(fields.get("meter", "")),
        enabled=bool(fields.get("enabled", enabled_default)),
        subject=str(fields.get("subject", "")),
        metadata={str(k): str(v) for k, v in dict(fields.get("metadata") or {}).items()},
        window_seconds=int(fields.get("window_seconds", 0)),
        threshold=float(fields.get("threshold", 0.0)),
        evaluation_interval_seconds=int(fields.get("evaluation_interval_seconds", 0)),
        group_by=str(fields.get("group_by", "")),
        destination_id=str(fields.get("destination_id", "")),
    )
    comparator = str(fields.get("comparator", "")).strip().lower()
    if comparator:
        try:
            message.comparator = alert_pb2.AlertComparator.Value(  # type: ignore[assignment]
                f"ALERT_COMPARATOR_{comparator.upper()}"
            )
        except ValueError:
            raise ValueError(f"comparator: one of gt, gte, lt, lte, eq, neq, got {comparator!r}") from None
    return message


def create_request(fields: Mapping[str, Any]) -> alert_pb2.CreateAlertRuleRequest:
    return alert_pb2.CreateAlertRuleRequest(rule=rule_message(fields))


def update_request(rule_id: str, changes: Mapping[str, Any]) -> alert_pb2.UpdateAlertRuleRequest:
    """Only the fields in `changes` change (the mask names them)."""
    rule = rule_message(changes)
    rule.id = rule_id
    return alert_pb2.UpdateAlertRuleRequest(rule=rule, update_mask=FieldMask(paths=sorted(changes)))


def list_request(meter: str, enabled: bool | None, limit: int) -> alert_pb2.ListAlertRulesRequest:
    request = alert_pb2.ListAlertRulesRequest(meter=meter, limit=limit)
    if enabled is not None:
        request.enabled = enabled
    return request


def rule(message: alert_pb2.AlertRule) -> dict[str, Any]:
    return {
        "id": message.id,
        "name": message.name,
        "meter": message.meter,
        "enabled": message.enabled,
        "subject": message.subject,
        "metadata": dict(message.metadata),
        "window_seconds": message.window_seconds,
        "comparator": _word(alert_pb2.AlertComparator.Name(message.comparator), "ALERT_COMPARATOR_"),
        "threshold": message.threshold,
        "evaluation_interval_seconds": message.evaluation_interval_seconds,
        "group_by": message.group_by,
        "destination_id": message.destination_id,
        "state": state(message.state) if message.HasField("state") else None,
        "states": [state(s) for s in message.states],
        "next_evaluate_time": optional_datetime(message, "next_evaluate_time"),
        "create_time": optional_datetime(message, "create_time"),
        "update_time": optional_datetime(message, "update_time"),
    }


def state(message: alert_pb2.AlertState) -> dict[str, Any]:
    return {
        "status": _word(alert_pb2.AlertStatus.Name(message.status), "ALERT_STATUS_"),
        "group_key": message.group_key,
        "group_value": message.group_value,
        "value": message.value,
        "message": message.message,
        "evaluate_time": optional_datetime(message, "evaluate_time"),
        "update_time": optional_datetime(message, "update_time"),
    }


def event(message: alert_pb2.AlertEvent) -> dict[str, Any]:
    delivery = None
    if message.HasField("delivery"):
        d = message.delivery
        delivery = {"id": d.id, "status": d.status, "status_code": d.status_code, "error": d.error,
                    "duration_ms": d.duration_ms, "attempt_time": optional_datetime(d, "attempt_time")}
    return {
        "id": message.id,
        "rule_id": message.rule_id,
        "group_key": message.group_key,
        "group_value": message.group_value,
        "type": _word(alert_pb2.AlertEventType.Name(message.type), "ALERT_EVENT_TYPE_"),
        "value": message.value,
        "message": message.message,
        "create_time": optional_datetime(message, "create_time"),
        "delivery": delivery,
    }


def rule_of(response: Message) -> dict[str, Any]:
    return rule(response.rule)  # type: ignore[attr-defined]


def rules(response: alert_pb2.ListAlertRulesResponse) -> list[dict[str, Any]]:
    return [rule(r) for r in response.rules]


def evaluation(response: alert_pb2.EvaluateAlertRuleResponse) -> dict[str, Any]:
    return {"rule": rule(response.rule), "state": state(response.state), "events": [event(e) for e in response.events]}


def events(response: alert_pb2.ListAlertEventsResponse) -> list[dict[str, Any]]:
    return [event(e) for e in response.events]


def _word(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()
