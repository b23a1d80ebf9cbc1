"""Plans and entitlements: plain Python values to PlanService and EntitlementService requests, and back.

The same conventions as convert.py, with one rule for every answer
(`plain`): a message becomes a dict keyed by its field names; times are
UTC datetimes (None when unset); enums are the lowercase words the REST API
uses (`"month"`, `"hard"`, `"fail_open"`, `"exceeded"`, `"no_plan"`),
None when unspecified; a message field not set is None. Enum names given
are the same words, in any case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import descriptor, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from openspanner.client.convert import as_datetime, struct, timestamp
from openspanner.v1 import entitlement_pb2, plan_pb2

# Answers are dicts of the fields of their message (docstrings of the client methods name them).
Plan = dict[str, Any]
Assignment = dict[str, Any]
Progress = dict[str, Any]
Preview = dict[str, Any]
Quota = dict[str, Any]
ConsumeResult = dict[str, Any]
Decision = dict[str, Any]
EntitlementState = dict[str, Any]
EntitlementEvent = dict[str, Any]
PeriodSnapshot = dict[str, Any]

_PLAN_FIELDS = frozenset({"name", "description", "limits"})
_LIMIT_FIELDS = frozenset({"meter", "period", "limit", "warning_percent", "enforcement", "failure_policy"})
# Fields the server sets, accepted and dropped so that a plan read back can be sent again.
_PLAN_OUTPUT_FIELDS = frozenset({"id", "version", "parent_plan_id", "is_current", "create_time", "update_time"})
_LIMIT_OUTPUT_FIELDS = frozenset({"id", "create_time", "update_time"})
_CONSUME_FIELDS = frozenset({"idempotency_key", "subject", "meter", "quantity", "timestamp", "metadata"})
# ListAssignments, ListStates and ListPeriods take at most this many.
MAX_PAGE_SIZE = 200


# Enums.


def _enum_prefix(enum: descriptor.EnumDescriptor) -> str:
    """`ENTITLEMENT_STATE_` for EntitlementState: what every value name of a buf-style enum starts with."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_word(enum: descriptor.EnumDescriptor, number: int) -> str | None:
    """The lowercase word of an enum value (`ENTITLEMENT_STATE_NO_PLAN` -> `no_plan`); None for 0."""
    if number == 0:
        return None
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return value.name.removeprefix(_enum_prefix(enum)).lower()


def enum_number(enum: descriptor.EnumDescriptor, word: str | None, field: str) -> int:
    """The number of a lowercase word (any case); 0 for None or ""; ValueError listing the words otherwise."""
    if not word:
        return 0
    name = _enum_prefix(enum) + word.upper()
    if name in enum.values_by_name and enum.values_by_name[name].number:
        return int(enum.values_by_name[name].number)
    words = ", ".join(w for v in enum.values if (w := enum_word(enum, v.number)))
    raise ValueError(f"{field}: unknown value {word!r} (one of {words})")


# Requests.


def plan_message(definition: Mapping[str, Any], field: str = "plan") -> plan_pb2.Plan:
    """A plan from `{"name", "description", "limits": [{"meter", "period", "limit", ...}]}`."""
    _refuse_unknown(definition, _PLAN_FIELDS | _PLAN_OUTPUT_FIELDS, field)
    plan = plan_pb2.Plan(name=definition.get("name", ""), description=definition.get("description", ""))
    for index, limit in enumerate(definition.get("limits") or ()):
        plan.limits.append(_limit_message(limit, f"{field}.limits[{index}]"))
    return plan


def _limit_message(limit: Mapping[str, Any], field: str) -> plan_pb2.Limit:
    _refuse_unknown(limit, _LIMIT_FIELDS | _LIMIT_OUTPUT_FIELDS, field)
    return plan_pb2.Limit(
        meter=limit.get("meter", ""),
        period=enum_number(plan_pb2.Period.DESCRIPTOR, limit.get("period"), f"{field}.period"),  # type: ignore[arg-type]
        limit=float(limit.get("limit", 0.0)),
        warning_percent=float(limit.get("warning_percent") or 0.0),
        enforcement=enum_number(plan_pb2.Enforcement.DESCRIPTOR, limit.get("enforcement"), f"{field}.enforcement"),  # type: ignore[arg-type]
        failure_policy=enum_number(  # type: ignore[arg-type]
            plan_pb2.FailurePolicy.DESCRIPTOR, limit.get("failure_policy"), f"{field}.failure_policy"
        ),
    )


def _refuse_unknown(values: Mapping[str, Any], known: frozenset[str], field: str) -> None:
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{field}: unknown fields {', '.join(sorted(unknown))}")


def assign_plan_request(subject: str, plan_id: str, effective_at: datetime | None) -> plan_pb2.AssignPlanRequest:
    request = plan_pb2.AssignPlanRequest(subject=subject, plan_id=plan_id)
    if effective_at is not None:
        request.effective_time.CopyFrom(timestamp(effective_at, "effective_at"))
    return request


def consume_request(event: Mapping[str, Any]) -> entitlement_pb2.ConsumeRequest:
    """A usage event as record_usage takes it; its idempotency_key decides replays."""
    _refuse_unknown(event, _CONSUME_FIELDS, "event")
    request = entitlement_pb2.ConsumeRequest(
        idempotency_key=event.get("idempotency_key", ""),
        subject=event.get("subject", ""),
        meter=event.get("meter", ""),
        quantity=float(event.get("quantity", 0.0)),
    )
    if event.get("timestamp") is not None:
        request.timestamp.CopyFrom(timestamp(event["timestamp"], "timestamp"))
    if event.get("metadata"):
        request.metadata.update(event["metadata"])
    return request


def list_decisions_request(
    *,
    subject: str,
    meter: str,
    outcome: str | None,
    evaluation_failed: bool | None,
    enforcement: str | None,
    state: str | None,
    page_size: int,
) -> entitlement_pb2.ListDecisionsRequest:
    """`outcome` is accepted, rejected, or all/None for both."""
    request = entitlement_pb2.ListDecisionsRequest(
        subject=subject,
        meter=meter,
        outcome=enum_number(  # type: ignore[arg-type]
            entitlement_pb2.DecisionOutcome.DESCRIPTOR, None if outcome == "all" else outcome, "outcome"
        ),
        enforcement=enum_number(plan_pb2.Enforcement.DESCRIPTOR, enforcement, "enforcement"),  # type: ignore[arg-type]
        state=enum_number(plan_pb2.EntitlementState.DESCRIPTOR, state, "state"),  # type: ignore[arg-type]
        page_size=page_size,
    )
    if evaluation_failed is not None:
        request.evaluation_failed = evaluation_failed
    return request


def list_states_request(subject: str, meter: str, state: str | None, limit: int) -> entitlement_pb2.ListStatesRequest:
    return entitlement_pb2.ListStatesRequest(
        subject=subject,
        meter=meter,
        state=enum_number(plan_pb2.EntitlementState.DESCRIPTOR, state, "state"),  # type: ignore[arg-type]
        page_size=limit,
    )


def list_entitlement_events_request(
    subject: str, meter: str, event_type: str | None, limit: int
) -> entitlement_pb2.EntitlementServiceListEventsRequest:
    return entitlement_pb2.EntitlementServiceListEventsRequest(
        subject=subject,
        meter=meter,
        type=enum_number(entitlement_pb2.EntitlementEvent.Type.DESCRIPTOR, event_type, "type"),  # type: ignore[arg-type]
        page_size=limit,
    )


# Answers.


def plain(message: Message) -> dict[str, Any]:
    """A message as a dict of plain values (the module docstring says how each kind reads)."""
    values: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            values[field.name] = [_plain_value(field, item) for item in value]
        elif field.message_type is not None and not message.HasField(field.name):
            values[field.name] = None
        else:
            values[field.name] = _plain_value(field, value)
    return values


def _plain_value(field: Any, value: Any) -> Any:
    if field.enum_type is not None:
        return enum_word(field.enum_type, value)
    if isinstance(value, timestamp_pb2.Timestamp):
        return as_datetime(value)
    if isinstance(value, struct_pb2.Struct):
        return struct(value)
    if isinstance(value, Message):
        return plain(value)
    return value


def plan(response: Any) -> Plan:
    """The `plan` of a Create/Get/UpdatePlanResponse."""
    return plain(response.plan)


def plans(response: plan_pb2.ListPlansResponse) -> list[Plan]:
    return [plain(p) for p in response.plans]


def assignment(response: Any) -> Assignment:
    """The `assignment` of an Assign/UnassignPlanResponse."""
    return plain(response.assignment)


def assignments(response: plan_pb2.ListAssignmentsResponse) -> list[Assignment]:
    return [plain(a) for a in response.assignments]


def progress(response: plan_pb2.GetSubjectProgressResponse) -> Progress:
    return plain(response.progress)


def nothing(response: Message) -> None:
    return None


def quota(response: entitlement_pb2.CheckResponse) -> Quota:
    return plain(response.quota)


def decision(response: entitlement_pb2.GetDecisionResponse) -> Decision:
    return plain(response.decision)


def decisions(response: entitlement_pb2.ListDecisionsResponse) -> list[Decision]:
    return [plain(d) for d in response.decisions]


def states(response: entitlement_pb2.ListStatesResponse) -> list[EntitlementState]:
    return [plain(s) for s in response.states]


def entitlement_events(response: entitlement_pb2.EntitlementServiceListEventsResponse) -> list[EntitlementEvent]:
    return [plain(e) for e in response.events]


def periods(response: entitlement_pb2.ListPeriodsResponse) -> list[PeriodSnapshot]:
    return [plain(p) for p in response.periods]
