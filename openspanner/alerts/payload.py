"""The body a destination receives for an alert event: the product's
`{"event": ..., "rule": ..., "state": ...}` (workers/alert/worker.go), frozen
when the event is made and sent unchanged by every attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime

from openspanner.alerts.machine import AlertEvent, GroupState
from openspanner.alerts.rules import AlertRule
from openspanner.domain.times import format_rfc3339
from openspanner.webhooks.model import Destination


def delivery_payload(
    event: AlertEvent, rule: AlertRule, state: GroupState, destination: Destination | None
) -> dict[str, object]:
    return {"event": event_json(event), "rule": rule_json(rule, destination), "state": state_json(state)}


def event_json(event: AlertEvent) -> dict[str, object]:
    return _without_empty_group({
        "id": event.id,
        "rule_id": event.rule_id,
        "group_key": event.group_key,
        "group_value": event.group_value,
        "type": event.type.value,
        "value": event.value,
        "message": event.message,
        "created_at": rfc3339(event.created_at),
    })


def state_json(state: GroupState) -> dict[str, object]:
    return _without_empty_group({
        "status": state.status.value,
        "group_key": state.group_key,
        "group_value": state.group_value,
        "value": state.value,
        "message": state.message,
        "evaluated_at": rfc3339(state.evaluated_at),
        "updated_at": rfc3339(state.updated_at),
    })


def rule_json(rule: AlertRule, destination: Destination | None) -> dict[str, object]:
    """The rule as the product's payload carries it: optional fields only when set."""
    body: dict[str, object] = {
        "id": rule.id,
        "name": rule.name,
        "meter": rule.meter,
        "enabled": rule.enabled,
        "window_seconds": rule.window_seconds,
        "comparator": rule.comparator.value,
        "threshold": rule.threshold,
        "evaluation_interval_seconds": rule.evaluation_interval_seconds,
        "destination_id": rule.destination_id,
    }
    if rule.subject:
        body["subject"] = rule.subject
    if rule.metadata:
        body["metadata"] = dict(rule.metadata)
    if rule.group_by:
        body["group_by"] = rule.group_by
    if destination is not None and destination.name:
        body["destination_name"] = destination.name
    return body


def rfc3339(moment: datetime) -> str:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return format_rfc3339((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _without_empty_group(body: dict[str, object]) -> dict[str, object]:
    """The product leaves group_key and group_value out when the rule is not grouped."""
    for key in ("group_key", "group_value"):
        if body[key] == "":
            del body[key]
    return body
