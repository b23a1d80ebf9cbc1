"""Alert rules, states, events and the evaluation schedule in ClickHouse.

Rules and states are versioned rows (ReplacingMergeTree) read with FINAL, so
every server sees the latest; events are written once. Names of tables are
constants and every value is a server-side parameter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.alerts.machine import AlertEvent, EventType, GroupState, Status
from openspanner.alerts.rules import AlertRule, Comparator
from openspanner.storage.schema import (
    ALERT_EVENTS_TABLE,
    ALERT_RULES_TABLE,
    ALERT_SCHEDULE_TABLE,
    ALERT_STATES_TABLE,
)

_STATE_COLUMNS = [
    "rule_id", "group_key", "group_value", "status", "settled", "value", "message", "evaluated_at", "updated_at",
    "version", "deleted",
]
_STATE_TYPES = [
    "String", "String", "String", "LowCardinality(String)", "LowCardinality(String)", "Float64", "String",
    "DateTime64(3, 'UTC')", "DateTime64(3, 'UTC')", "UInt64", "UInt8",
]
_EVENT_COLUMNS = ["id", "rule_id", "group_key", "group_value", "type", "value", "message", "created_at"]
_EVENT_TYPES = [
    "String", "String", "String", "String", "LowCardinality(String)", "Float64", "String", "DateTime64(6, 'UTC')",
]


class AlertStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    # ---- rules ---------------------------------------------------------------------------

    def load_rules(self) -> list[AlertRule]:
        rows = self._client.query(
            "SELECT definition FROM {table:Identifier} FINAL ORDER BY id", parameters={"table": ALERT_RULES_TABLE}
        ).result_rows
        return [rule_from_json(row[0]) for row in rows]

    def save_rule(self, rule: AlertRule) -> None:
        self._write_rule(rule.id, rule_to_json(rule), deleted=0)

    def delete_rule(self, rule_id: str) -> None:
        self._write_rule(rule_id, "", deleted=1)

    def _write_rule(self, rule_id: str, definition: str, deleted: int) -> None:
        self._client.insert(
            ALERT_RULES_TABLE,
            [[rule_id, definition, time.time_ns(), deleted]],
            column_names=["id", "definition", "version", "deleted"],
            column_type_names=["String", "String", "UInt64", "UInt8"],
        )

    # ---- states --------------------------------------------------------------------------

    def load_states(self, rule_ids: Sequence[str]) -> dict[str, list[GroupState]]:
        """The states of each rule, by rule id (a rule never evaluated has none)."""
        if not rule_ids:
            return {}
        rows = self._client.query(
            "SELECT rule_id, group_key, group_value, status, settled, value, message, evaluated_at, updated_at"
            " FROM {table:Identifier} FINAL WHERE rule_id IN {ids:Array(String)}"
            " ORDER BY rule_id, group_key, group_value",
            parameters={"table": ALERT_STATES_TABLE, "ids": list(rule_ids)},
        ).result_rows
        states: dict[str, list[GroupState]] = {}
        for r in rows:
            state = GroupState(r[1], r[2], Status(r[3]), float(r[5]), r[6], _utc(r[7]), _utc(r[8]), Status(r[4]))
            states.setdefault(r[0], []).append(state)
        return states

    def save_states(self, rule_id: str, states: Sequence[GroupState], dropped: Iterable[tuple[str, str]]) -> None:
        """The rule's states after an evaluation; `dropped` groups are deleted."""
        version = time.time_ns()
        epoch = datetime.fromtimestamp(0, UTC)
        rows: list[list[Any]] = [
            [rule_id, s.group_key, s.group_value, s.status.value, s.settled.value, s.value, s.message,
             s.evaluated_at, s.updated_at, version, 0]
            for s in states
        ]
        rows += [[rule_id, key, value, "", "", 0.0, "", epoch, epoch, version, 1] for key, value in dropped]
        if rows:
            self._client.insert(ALERT_STATES_TABLE, rows, column_names=_STATE_COLUMNS, column_type_names=_STATE_TYPES)

    # ---- events --------------------------------------------------------------------------

    def insert_events(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        rows = [
            [e.id, e.rule_id, e.group_key, e.group_value, e.type.value, e.value, e.message, e.created_at]
            for e in events
        ]
        self._client.insert(ALERT_EVENTS_TABLE, rows, column_names=_EVENT_COLUMNS, column_type_names=_EVENT_TYPES)

    def list_events(self, rule_id: str, limit: int, after: tuple[int, str] | None) -> list[AlertEvent]:
        """Events newest first, of one rule when `rule_id` is given, after the cursor (created_at in
        microseconds, id) of the previous page."""
        conditions = ["1"]
        parameters: dict[str, Any] = {"table": ALERT_EVENTS_TABLE, "limit": limit}
        if rule_id:
            conditions.append("rule_id = {rule_id:String}")
            parameters["rule_id"] = rule_id
        if after is not None:
            conditions.append("(toUnixTimestamp64Micro(created_at), id) < ({after_us:Int64}, {after_id:String})")
            parameters["after_us"], parameters["after_id"] = after
        rows = self._client.query(
            "SELECT id, rule_id, group_key, group_value, type, value, message, created_at"
            f" FROM {{table:Identifier}} FINAL WHERE {' AND '.join(conditions)}"
            " ORDER BY created_at DESC, id DESC LIMIT {limit:UInt32}",
            parameters=parameters,
        ).result_rows
        return [AlertEvent(r[0], r[1], r[2], r[3], EventType(r[4]), float(r[5]), r[6], _utc(r[7])) for r in rows]

    # ---- schedule ------------------------------------------------------------------------

    def load_schedule(self) -> dict[str, datetime]:
        rows = self._client.query(
            "SELECT rule_id, next_evaluate_at FROM {table:Identifier} FINAL",
            parameters={"table": ALERT_SCHEDULE_TABLE},
        ).result_rows
        return {r[0]: _utc(r[1]) for r in rows}

    def schedule(self, rule_id: str, at: datetime) -> None:
        self._client.insert(
            ALERT_SCHEDULE_TABLE,
            [[rule_id, at, time.time_ns()]],
            column_names=["rule_id", "next_evaluate_at", "version"],
            column_type_names=["String", "DateTime64(3, 'UTC')", "UInt64"],
        )


def rule_to_json(rule: AlertRule) -> str:
    return json.dumps({
        "id": rule.id,
        "name": rule.name,
        "meter": rule.meter,
        "destination_id": rule.destination_id,
        "threshold": rule.threshold,
        "enabled": rule.enabled,
        "subject": rule.subject,
        "metadata": dict(rule.metadata),
        "window_seconds": rule.window_seconds,
        "comparator": rule.comparator.value,
        "evaluation_interval_seconds": rule.evaluation_interval_seconds,
        "group_by": rule.group_by,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
        "updated_at": rule.updated_at.isoformat() if rule.updated_at else None,
    })


def rule_from_json(text: str) -> AlertRule:
    data: dict[str, Any] = json.loads(text)
    return AlertRule(
        id=data["id"],
        name=data["name"],
        meter=data["meter"],
        destination_id=data["destination_id"],
        threshold=float(data["threshold"]),
        enabled=bool(data["enabled"]),
        subject=data["subject"],
        metadata=dict(data["metadata"]),
        window_seconds=int(data["window_seconds"]),
        comparator=Comparator(data["comparator"]),
        evaluation_interval_seconds=int(data["evaluation_interval_seconds"]),
        group_by=data["group_by"],
        created_at=_parse(data.get("created_at")),
        updated_at=_parse(data.get("updated_at")),
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
