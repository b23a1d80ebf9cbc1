"""Entitlements in ClickHouse: a window's usage totals, consume decisions, states, their
events and period snapshots.

Usage is read from usage_events itself (FINAL, one subject and meter: a
narrow range of the sorting key), so what a limit counts is exactly what
every query reports. Decisions, states, events and snapshots are rows of
their own tables (migrations 8 and 9).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from openspanner.domain.entitlements import (
    CheckResult,
    ConsumeDecision,
    EntitlementEvent,
    EntitlementEventType,
    EntitlementState,
    EntitlementStateName,
    PeriodSnapshot,
    UsageTotals,
    Window,
)
from openspanner.domain.plans import Enforcement, FailurePolicy, Period, Plan
from openspanner.errors import InvalidArgument
from openspanner.storage.key_filter import Hashes
from openspanner.storage.queries import READ_SETTINGS
from openspanner.storage.schema import (
    CONSUMPTION_DECISIONS_TABLE,
    ENTITLEMENT_EVENTS_TABLE,
    ENTITLEMENT_PERIODS_TABLE,
    ENTITLEMENT_STATES_TABLE,
    EVENTS_TABLE,
)

DATETIME = "DateTime64(6, 'UTC')"

# Everything UsageTotals needs, for every aggregation, in one pass. first/last: the
# (timestamp, key, quantity) of the first and last event by (timestamp, key).
_TOTALS_SQL = (
    "SELECT count(), sum(quantity), min(quantity), max(quantity),"
    " argMin(tuple(toUnixTimestamp64Micro(timestamp), idempotency_key, quantity), (timestamp, idempotency_key)),"
    " argMax(tuple(toUnixTimestamp64Micro(timestamp), idempotency_key, quantity), (timestamp, idempotency_key)),"
    " groupUniqArrayIf(metadata[{unique_dimension:String}], mapContains(metadata, {unique_dimension:String}))"
    " FROM {events:Identifier} FINAL"
    " WHERE meter = {meter:String} AND subject = {subject:String}"
    " AND timestamp >= fromUnixTimestamp64Micro({start:Int64}, 'UTC')"
    " AND timestamp < fromUnixTimestamp64Micro({end:Int64}, 'UTC')"
)


def usage_totals(
    client: Client, subject: str, meter: str, start_us: int, end_us: int, unique_dimension: str = ""
) -> UsageTotals:
    """The subject's stored events of `meter` with start_us <= timestamp < end_us; with a
    `unique_dimension` (a unique_count meter's), the distinct values of that dimension too."""
    rows = client.query(
        _TOTALS_SQL,
        parameters={
            "events": EVENTS_TABLE, "meter": meter, "subject": subject, "start": start_us, "end": end_us,
            "unique_dimension": unique_dimension,
        },
        settings=READ_SETTINGS,
    ).result_rows
    return _totals(rows[0])


# (subject, window start, window end), times in microseconds since the epoch.
SubjectWindow = tuple[str, int, int]

# The same, for many subjects of one meter at once, each in its own window.
_MANY_TOTALS_SQL = (
    "SELECT subject, count(), sum(quantity), min(quantity), max(quantity),"
    " argMin(tuple(toUnixTimestamp64Micro(timestamp), idempotency_key, quantity), (timestamp, idempotency_key)),"
    " argMax(tuple(toUnixTimestamp64Micro(timestamp), idempotency_key, quantity), (timestamp, idempotency_key)),"
    " groupUniqArrayIf(metadata[{unique_dimension:String}], mapContains(metadata, {unique_dimension:String}))"
    " FROM {events:Identifier} FINAL"
    " WHERE meter = {meter:String} AND has({subjects:Array(String)}, subject)"
    " AND timestamp >= fromUnixTimestamp64Micro({low:Int64}, 'UTC')"
    " AND timestamp < fromUnixTimestamp64Micro({high:Int64}, 'UTC')"
    " AND toUnixTimestamp64Micro(timestamp) >= {starts:Array(Int64)}[indexOf({subjects:Array(String)}, subject)]"
    " AND toUnixTimestamp64Micro(timestamp) < {ends:Array(Int64)}[indexOf({subjects:Array(String)}, subject)]"
    " GROUP BY subject"
)


def usage_totals_of_many(
    client: Client, meter: str, windows: Sequence[SubjectWindow], unique_dimension: str = ""
) -> list[UsageTotals]:
    """usage_totals of each (subject, start, end) of one meter, in one query per round of distinct
    subjects (a subject asked for two windows, of two periods, takes two rounds)."""
    found: dict[SubjectWindow, UsageTotals] = {}
    remaining = list(dict.fromkeys(windows))
    while remaining:
        round_: list[SubjectWindow] = []
        later: list[SubjectWindow] = []
        seen: set[str] = set()
        for window in remaining:
            (later if window[0] in seen else round_).append(window)
            seen.add(window[0])
        rows = client.query(_MANY_TOTALS_SQL, parameters={
            "events": EVENTS_TABLE, "meter": meter, "subjects": [w[0] for w in round_],
            "starts": [w[1] for w in round_], "ends": [w[2] for w in round_],
            "low": min(w[1] for w in round_), "high": max(w[2] for w in round_),
            "unique_dimension": unique_dimension,
        }, settings=READ_SETTINGS).result_rows
        by_subject = {row[0]: _totals(row[1:]) for row in rows}
        for window in round_:
            found[window] = by_subject.get(window[0], UsageTotals())
        remaining = later
    return [found[window] for window in windows]


def _totals(row: Sequence[Any]) -> UsageTotals:
    count, total, low, high, first, last, distinct = row
    if not count:
        return UsageTotals()
    return UsageTotals(
        count=int(count), sum=float(total), min=float(low), max=float(high),
        first=(int(first[0]), str(first[1]), float(first[2])), last=(int(last[0]), str(last[1]), float(last[2])),
        distinct={str(value) for value in distinct} or None,
    )


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    subject: str = ""
    meter: str = ""
    accepted: bool | None = None
    evaluation_failed: bool | None = None
    enforcement: str = ""
    state: str = ""


class EntitlementStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    # --- decisions ---

    def save_decision(self, decision: ConsumeDecision) -> None:
        self.save_decisions([decision])

    def save_decisions(self, decisions: Sequence[ConsumeDecision]) -> list[None]:
        """One insert for many decisions (concurrent consumes share it); one None per decision."""
        self._client.insert(
            CONSUMPTION_DECISIONS_TABLE,
            [
                [d.idempotency_key, d.quota.subject, d.quota.meter, int(d.accepted), int(d.evaluation_failed),
                 d.quota.enforcement.value, d.quota.state.value, d.event_id, quota_to_json(d.quota), d.created_at]
                for d in decisions
            ],
            column_names=[
                "idempotency_key", "subject", "meter", "accepted", "evaluation_failed", "enforcement", "state",
                "event_id", "quota", "created_at",
            ],
            column_type_names=[
                "String", "String", "LowCardinality(String)", "UInt8", "UInt8", "LowCardinality(String)",
                "LowCardinality(String)", "String", "String", DATETIME,
            ],
        )
        return [None] * len(decisions)

    def decision_key_hashes(self) -> Hashes:
        """The xxHash64 of every stored decision key (storage/events.py key_hash)."""
        rows = self._client.query(
            "SELECT xxHash64(idempotency_key) FROM {table:Identifier}",
            parameters={"table": CONSUMPTION_DECISIONS_TABLE},
        ).result_rows
        return np.fromiter((row[0] for row in rows), dtype=np.uint64, count=len(rows))

    def get_decisions(self, keys: Sequence[str]) -> list[ConsumeDecision | None]:
        """The stored decision of each key (None: none), in one query."""
        rows = self._client.query(
            "SELECT idempotency_key, accepted, evaluation_failed, event_id, quota, created_at"
            " FROM {table:Identifier} FINAL WHERE idempotency_key IN {keys:Array(String)}",
            parameters={"table": CONSUMPTION_DECISIONS_TABLE, "keys": list(set(keys))},
        ).result_rows
        found = {row[0]: _decision(row) for row in rows}
        return [found.get(key) for key in keys]

    def get_decision(self, key: str) -> ConsumeDecision | None:
        rows = self._client.query(
            "SELECT idempotency_key, accepted, evaluation_failed, event_id, quota, created_at"
            " FROM {table:Identifier} FINAL WHERE idempotency_key = {key:String} LIMIT 1",
            parameters={"table": CONSUMPTION_DECISIONS_TABLE, "key": key},
        ).result_rows
        return _decision(rows[0]) if rows else None

    def list_decisions(self, where: DecisionFilter, limit: int, cursor: str) -> tuple[list[ConsumeDecision], str]:
        """Newest first; the cursor names the last decision of the previous page."""
        conditions, params = ["1"], {"table": CONSUMPTION_DECISIONS_TABLE, "limit": limit + 1}
        for column, value in (("subject", where.subject), ("meter", where.meter), ("enforcement", where.enforcement),
                              ("state", where.state)):
            if value:
                conditions.append(f"{column} = {{{column}:String}}")
                params[column] = value
        for column, flag in (("accepted", where.accepted), ("evaluation_failed", where.evaluation_failed)):
            if flag is not None:
                conditions.append(f"{column} = {{{column}:UInt8}}")
                params[column] = int(flag)
        if cursor:
            created_us, key = _decode_cursor(cursor)
            conditions.append(
                "(toUnixTimestamp64Micro(created_at), idempotency_key) < ({cursor_us:Int64}, {cursor_key:String})"
            )
            params.update(cursor_us=created_us, cursor_key=key)
        rows = self._client.query(
            "SELECT idempotency_key, accepted, evaluation_failed, event_id, quota, created_at"
            f" FROM {{table:Identifier}} FINAL WHERE {' AND '.join(conditions)}"
            " ORDER BY created_at DESC, idempotency_key DESC LIMIT {limit:UInt64}",
            parameters=params,
        ).result_rows
        decisions = [_decision(row) for row in rows[:limit]]
        next_cursor = _encode_cursor(decisions[-1]) if len(rows) > limit else ""
        return decisions, next_cursor

    # --- states, events, snapshots ---

    def save_states(self, states: list[EntitlementState]) -> None:
        self._client.insert(
            ENTITLEMENT_STATES_TABLE,
            [[s.subject, s.meter, s.plan_id, s.plan_name, s.period.value, s.state.value, s.current, s.limit,
              s.remaining, s.warning_percent, s.message, s.evaluated_at, s.updated_at] for s in states],
            column_names=["subject", "meter", "plan_id", "plan_name", "period", "state", "current", "limit_value",
                          "remaining", "warning_percent", "message", "evaluated_at", "updated_at"],
        )

    def load_states(self) -> list[EntitlementState]:
        """Every state row: the limits service keeps them in memory to tell what changed."""
        return self.list_states("", "", "", 0)

    def list_states(self, subject: str, meter: str, state: str, limit: int) -> list[EntitlementState]:
        conditions, params = _equalities({"subject": subject, "meter": meter, "state": state})
        params["table"] = ENTITLEMENT_STATES_TABLE
        sql = (
            "SELECT subject, meter, plan_id, plan_name, period, state, current, limit_value, remaining,"
            " warning_percent, message, evaluated_at, updated_at"
            f" FROM {{table:Identifier}} FINAL WHERE {conditions} ORDER BY subject, meter"
        )
        if limit:
            sql += " LIMIT {limit:UInt64}"
            params["limit"] = limit
        return [
            EntitlementState(
                subject=r[0], meter=r[1], plan_id=r[2], plan_name=r[3], period=Period(r[4]),
                state=EntitlementStateName(r[5]), current=r[6], limit=r[7], remaining=r[8], warning_percent=r[9],
                message=r[10], evaluated_at=_utc(r[11]), updated_at=_utc(r[12]),
            )
            for r in self._client.query(sql, parameters=params).result_rows
        ]

    def save_events(self, events: list[EntitlementEvent]) -> None:
        self._client.insert(
            ENTITLEMENT_EVENTS_TABLE,
            [[e.id, e.subject, e.meter, e.plan_id, e.plan_name, e.type.value, e.previous_state, e.state.value,
              e.current, e.limit, e.message, e.created_at] for e in events],
            column_names=["id", "subject", "meter", "plan_id", "plan_name", "type", "previous_state", "state",
                          "current", "limit_value", "message", "created_at"],
        )

    def list_events(self, subject: str, meter: str, event_type: str, limit: int) -> list[EntitlementEvent]:
        conditions, params = _equalities({"subject": subject, "meter": meter, "type": event_type})
        params.update(table=ENTITLEMENT_EVENTS_TABLE, limit=limit)
        rows = self._client.query(
            "SELECT id, subject, meter, plan_id, plan_name, type, previous_state, state, current, limit_value,"
            f" message, created_at FROM {{table:Identifier}} FINAL WHERE {conditions}"
            " ORDER BY created_at DESC, id DESC LIMIT {limit:UInt64}",
            parameters=params,
        ).result_rows
        return [
            EntitlementEvent(
                id=r[0], subject=r[1], meter=r[2], plan_id=r[3], plan_name=r[4], type=EntitlementEventType(r[5]),
                previous_state=r[6], state=EntitlementStateName(r[7]), current=r[8], limit=r[9], message=r[10],
                created_at=_utc(r[11]),
            )
            for r in rows
        ]

    def save_periods(self, snapshots: list[PeriodSnapshot]) -> None:
        self._client.insert(
            ENTITLEMENT_PERIODS_TABLE,
            [[s.subject, s.meter, s.period.value, s.window.start, s.window.end, s.plan_id, s.plan_name,
              s.plan_version, s.state.value, s.current, s.limit, s.included, s.overage, s.remaining,
              s.warning_percent, s.event_count, s.updated_at] for s in snapshots],
            column_names=["subject", "meter", "period", "window_from", "window_to", "plan_id", "plan_name",
                          "plan_version", "state", "current", "limit_value", "included", "overage", "remaining",
                          "warning_percent", "event_count", "updated_at"],
        )

    def list_periods(self, subject: str, meter: str, limit: int) -> list[PeriodSnapshot]:
        conditions, params = _equalities({"subject": subject, "meter": meter})
        params.update(table=ENTITLEMENT_PERIODS_TABLE, limit=limit)
        rows = self._client.query(
            "SELECT subject, meter, plan_id, plan_name, plan_version, period, window_from, window_to, state,"
            " current, limit_value, included, overage, remaining, warning_percent, event_count, updated_at"
            f" FROM {{table:Identifier}} FINAL WHERE {conditions}"
            " ORDER BY window_from DESC, subject, meter LIMIT {limit:UInt64}",
            parameters=params,
        ).result_rows
        return [
            PeriodSnapshot(
                subject=r[0], meter=r[1], plan_id=r[2], plan_name=r[3], plan_version=r[4], period=Period(r[5]),
                window=Window(_utc(r[6]), _utc(r[7])), state=EntitlementStateName(r[8]), current=r[9], limit=r[10],
                included=r[11], overage=r[12], remaining=r[13], warning_percent=r[14], event_count=r[15],
                updated_at=_utc(r[16]),
            )
            for r in rows
        ]


def _equalities(values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """`column = {column:String}` for each non-empty value (column names are ours, never a client's)."""
    conditions, params = ["1"], {}
    for column, value in values.items():
        if value:
            conditions.append(f"{column} = {{{column}:String}}")
            params[column] = value
    return " AND ".join(conditions), params


def _decision(row: Sequence[Any]) -> ConsumeDecision:
    return ConsumeDecision(
        idempotency_key=row[0], accepted=bool(row[1]), evaluation_failed=bool(row[2]), event_id=row[3],
        quota=quota_from_json(row[4]), created_at=_utc(row[5]),
    )


def _encode_cursor(decision: ConsumeDecision) -> str:
    created_us = int(decision.created_at.timestamp() * 1_000_000)
    text = json.dumps([created_us, decision.idempotency_key])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created_us, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(created_us), str(key)
    except ValueError:
        raise InvalidArgument("is not a cursor this server gave", field="cursor") from None


def quota_to_json(quota: CheckResult) -> str:
    plan = quota.plan
    return json.dumps({
        "allowed": quota.allowed,
        "state": quota.state.value,
        "subject": quota.subject,
        "meter": quota.meter,
        "quantity": quota.quantity,
        "message": quota.message,
        "current": quota.current,
        "limit": quota.limit,
        "remaining": quota.remaining,
        "overage": quota.overage,
        "projected": quota.projected,
        "plan": None if plan is None else {"id": plan.id, "name": plan.name, "version": plan.version},
        "period": quota.period.value if quota.period else None,
        "window": None if quota.window is None else [quota.window.start.isoformat(), quota.window.end.isoformat()],
        "retry_after_seconds": quota.retry_after_seconds,
        "enforcement": quota.enforcement.value,
        "failure_policy": quota.failure_policy.value,
    })


def quota_from_json(text: str) -> CheckResult:
    data: dict[str, Any] = json.loads(text)
    plan = data["plan"]
    window = data["window"]
    return CheckResult(
        allowed=data["allowed"],
        state=EntitlementStateName(data["state"]),
        subject=data["subject"],
        meter=data["meter"],
        quantity=data["quantity"],
        message=data["message"],
        current=data["current"],
        limit=data["limit"],
        remaining=data["remaining"],
        overage=data["overage"],
        projected=data["projected"],
        # The decision names the version it was made under; its limits are not needed to replay it.
        plan=None if plan is None else Plan(plan["id"], plan["name"], (), version=plan["version"]),
        period=Period(data["period"]) if data["period"] else None,
        window=None if window is None else Window(datetime.fromisoformat(window[0]), datetime.fromisoformat(window[1])),
        retry_after_seconds=data["retry_after_seconds"],
        enforcement=Enforcement(data["enforcement"]),
        failure_policy=FailurePolicy(data["failure_policy"]),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
