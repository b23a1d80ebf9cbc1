"""Plans and plan assignments in ClickHouse, shared by every server of a deployment.

Both are small (a row per plan version, a row per assignment) and read whole
into memory by the limits service; every change is a new row with a higher
row_version (ReplacingMergeTree), read with FINAL.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.domain.plans import Assignment, Enforcement, FailurePolicy, Limit, Period, Plan
from openspanner.storage.schema import PLAN_ASSIGNMENTS_TABLE, PLANS_TABLE

_ASSIGNMENT_COLUMNS = (
    ("subject", "String"),
    ("id", "String"),
    ("plan_id", "String"),
    ("assigned_at", "DateTime64(6, 'UTC')"),
    ("period_anchor_at", "DateTime64(6, 'UTC')"),
    ("unassigned_at", "Nullable(DateTime64(6, 'UTC'))"),
    ("updated_at", "DateTime64(6, 'UTC')"),
    ("row_version", "UInt64"),
)


class PlanStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def load_plans(self) -> list[Plan]:
        """Every plan version not deleted, retired ones included (decisions and assignments name them)."""
        rows = self._client.query(
            "SELECT definition FROM {table:Identifier} FINAL ORDER BY id", parameters={"table": PLANS_TABLE}
        ).result_rows
        return [plan_from_json(row[0]) for row in rows]

    def save_plans(self, plans: list[Plan]) -> None:
        """Write plan versions in one insert: an update's new version and the retired old one
        land together or not at all."""
        version = time.time_ns()
        self._client.insert(
            PLANS_TABLE,
            [[p.id, p.name, plan_to_json(p), version, int(p.deleted)] for p in plans],
            column_names=["id", "name", "definition", "row_version", "deleted"],
            column_type_names=["String", "String", "String", "UInt64", "UInt8"],
        )

    def load_assignments(self) -> list[Assignment]:
        rows = self._client.query(
            "SELECT subject, id, plan_id, assigned_at, period_anchor_at, unassigned_at, updated_at"
            " FROM {table:Identifier} FINAL ORDER BY subject, assigned_at, id",
            parameters={"table": PLAN_ASSIGNMENTS_TABLE},
        ).result_rows
        return [
            Assignment(
                id=row[1], subject=row[0], plan_id=row[2], assigned_at=_utc(row[3]),
                period_anchor_at=_utc(row[4]), unassigned_at=_utc(row[5]) if row[5] else None,
                updated_at=_utc(row[6]),
            )
            for row in rows
        ]

    def save_assignments(self, assignments: list[Assignment]) -> None:
        if not assignments:
            return
        version = time.time_ns()
        self._client.insert(
            PLAN_ASSIGNMENTS_TABLE,
            [
                [a.subject, a.id, a.plan_id, a.assigned_at, a.period_anchor_at, a.unassigned_at,
                 a.updated_at or datetime.now(UTC), version]
                for a in assignments
            ],
            column_names=[name for name, _ in _ASSIGNMENT_COLUMNS],
            column_type_names=[type_name for _, type_name in _ASSIGNMENT_COLUMNS],
        )


def plan_to_json(plan: Plan) -> str:
    return json.dumps({
        "id": plan.id,
        "name": plan.name,
        "description": plan.description,
        "version": plan.version,
        "parent_plan_id": plan.parent_plan_id,
        "is_current": plan.is_current,
        "created_at": _iso(plan.created_at),
        "updated_at": _iso(plan.updated_at),
        "limits": [
            {
                "id": limit.id,
                "meter": limit.meter,
                "period": limit.period.value,
                "limit": limit.limit,
                "warning_percent": limit.warning_percent,
                "enforcement": limit.enforcement.value,
                "failure_policy": limit.failure_policy.value,
                "created_at": _iso(limit.created_at),
                "updated_at": _iso(limit.updated_at),
            }
            for limit in plan.limits
        ],
    })


def plan_from_json(text: str) -> Plan:
    data: dict[str, Any] = json.loads(text)
    return Plan(
        id=data["id"],
        name=data["name"],
        description=data["description"],
        version=data["version"],
        parent_plan_id=data["parent_plan_id"],
        is_current=data["is_current"],
        created_at=_parse(data["created_at"]),
        updated_at=_parse(data["updated_at"]),
        limits=tuple(
            Limit(
                id=d["id"],
                meter=d["meter"],
                period=Period(d["period"]),
                limit=d["limit"],
                warning_percent=d["warning_percent"],
                enforcement=Enforcement(d["enforcement"]),
                failure_policy=FailurePolicy(d["failure_policy"]),
                created_at=_parse(d["created_at"]),
                updated_at=_parse(d["updated_at"]),
            )
            for d in data["limits"]
        ),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
