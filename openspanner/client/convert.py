"""Plain Python values to the API's requests, and its answers back to plain values.

Shared by Client and AsyncClient, so the two differ only in how they call.
Every function is pure. On the way in and out:

- timestamps are `datetime`s with a time zone (answers are in UTC); a naive
  datetime is refused, since the server would have to guess its zone;
- Structs (event metadata, a row's group) are dicts of str, float, bool and
  None; numbers come back as floats, as the server stores them;
- enums are their names as the API's JSON form spells them: aggregations,
  dimension types and window sizes lowercase (`"sum"`, `"string"`, `"day"`),
  outcomes and scopes uppercase (`"ACCEPTED"`, `"ADMIN"`); names given are
  matched without regard to case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from openspanner.v1 import api_key_pb2, event_pb2, meter_pb2, query_pb2, usage_pb2

# A filter's value(s): one value means "equals", several mean "in"; None
# matches events that do not carry the dimension.
FilterValue = str | float | bool | None
Filters = Mapping[str, FilterValue | Sequence[FilterValue]]
_Paged = TypeVar("_Paged", meter_pb2.ListMetersRequest, query_pb2.ListEventsRequest)


class Dimension(TypedDict):
    name: str
    type: str
    required: bool
    display_name: str
    description: str
    deprecated: bool


class Meter(TypedDict):
    id: str
    name: str
    description: str
    unit: str
    aggregation: str
    event_retention_days: int
    dimensions: list[Dimension]
    create_time: datetime | None
    update_time: datetime | None
    # The dimension a unique_count meter counts distinct values of; "" otherwise.
    unique_dimension: str


class StoredEvent(TypedDict):
    id: str
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp: datetime
    metadata: dict[str, Any]
    ingest_time: datetime


class RecordResult(TypedDict):
    """RecordUsage's answer: `event` is the stored event (the first one when DUPLICATE)."""

    idempotency_key: str
    outcome: str
    event: StoredEvent | None
    conflicting_fields: list[str]


class Rejection(TypedDict):
    code: str
    field: str
    message: str


class EventResult(TypedDict):
    index: int
    idempotency_key: str
    outcome: str
    rejection: Rejection | None
    event: StoredEvent | None
    conflicting_fields: list[str]


class BulkResult(TypedDict):
    results: list[EventResult]
    accepted: int
    duplicates: int
    rejected: int


class UsageRow(TypedDict):
    window_start: datetime
    window_end: datetime
    # Set when group_by names `subject`.
    subject: str | None
    group: dict[str, Any]
    # None for an empty window of avg, min, max, first and last (with fill).
    value: float | None
    event_count: int


class UsageAnswer(TypedDict):
    rows: list[UsageRow]
    aggregation: str
    time_zone: str


class ApiKey(TypedDict):
    id: str
    name: str
    scope: str
    create_time: datetime | None
    revoke_time: datetime | None


class CreatedApiKey(TypedDict):
    api_key: ApiKey
    # The bearer token; the server never shows it again.
    secret: str


# Fields of a meter the server sets: dropped from definitions, so that a meter
# read from one server can be created on another as it is.
_METER_OUTPUT_FIELDS = frozenset({"id", "create_time", "update_time"})
_EVENT_FIELDS = frozenset({"idempotency_key", "subject", "meter", "quantity", "timestamp", "metadata"})


# Requests.


def meter_message(definition: Mapping[str, Any]) -> meter_pb2.Meter:
    """The meter of the product documents' definition (`{"name": ..., "aggregation": "sum", ...}`)."""
    fields = {k: v for k, v in definition.items() if k not in _METER_OUTPUT_FIELDS}
    try:
        return json_format.ParseDict(fields, meter_pb2.Meter())
    except json_format.ParseError as error:
        raise ValueError(f"not a meter definition: {error}") from None


def get_meter_request(name: str) -> meter_pb2.GetMeterRequest:
    return meter_pb2.GetMeterRequest(name=name)


def list_meters_request() -> meter_pb2.ListMetersRequest:
    return meter_pb2.ListMetersRequest(page_size=1000)


def update_meter_request(name: str, changes: Mapping[str, Any]) -> meter_pb2.UpdateMeterRequest:
    """Only the fields in `changes` are sent in the mask: an empty mask would mean "all of them"."""
    paths = sorted(k for k in changes if k not in _METER_OUTPUT_FIELDS and k != "name")
    if not paths:
        raise ValueError(
            "changes: name at least one of description, unit, aggregation, event_retention_days, dimensions,"
            " unique_dimension"
        )
    request = meter_pb2.UpdateMeterRequest(meter=meter_message({**changes, "name": name}))
    request.update_mask.paths.extend(paths)
    return request


def delete_meter_request(name: str, force: bool) -> meter_pb2.DeleteMeterRequest:
    return meter_pb2.DeleteMeterRequest(name=name, force=force)


def usage_event(event: Mapping[str, Any]) -> usage_pb2.UsageEvent:
    """The usage payload of the product documents; `timestamp` a datetime, `metadata` a dict."""
    unknown = set(event) - _EVENT_FIELDS
    if unknown:
        raise ValueError(f"unknown usage event fields: {', '.join(sorted(unknown))}")
    message = usage_pb2.UsageEvent(
        idempotency_key=event.get("idempotency_key", ""),
        subject=event.get("subject", ""),
        meter=event.get("meter", ""),
        quantity=float(event.get("quantity", 0.0)),
    )
    if event.get("timestamp") is not None:
        message.timestamp.CopyFrom(timestamp(event["timestamp"], "timestamp"))
    if event.get("metadata"):
        message.metadata.update(event["metadata"])
    return message


def record_usages_request(
    events: Iterable[Mapping[str, Any]], idempotency_key: str, validate_only: bool
) -> usage_pb2.RecordUsagesRequest:
    return usage_pb2.RecordUsagesRequest(
        idempotency_key=idempotency_key, events=[usage_event(e) for e in events], validate_only=validate_only
    )


def query_usage_request(
    meter: str,
    start_time: datetime,
    end_time: datetime,
    *,
    window_size: str | None,
    time_zone: str,
    subjects: Sequence[str],
    filters: Filters | None,
    group_by: Sequence[str],
    fill: bool,
) -> query_pb2.QueryUsageRequest:
    window = None if window_size is None else enum_name(query_pb2.WindowSize, window_size, "window_size")
    return query_pb2.QueryUsageRequest(
        meter=meter,
        window_size=window,
        start_time=timestamp(start_time, "start_time"),
        end_time=timestamp(end_time, "end_time"),
        time_zone=time_zone,
        subjects=list(subjects),
        filters=dimension_filters(filters),
        group_by=list(group_by),
        fill=fill,
    )


def list_events_request(
    meter: str,
    *,
    start_time: datetime | None,
    end_time: datetime | None,
    subjects: Sequence[str],
    filters: Filters | None,
    page_size: int,
) -> query_pb2.ListEventsRequest:
    request = query_pb2.ListEventsRequest(
        meter=meter, subjects=list(subjects), filters=dimension_filters(filters), page_size=page_size
    )
    if start_time is not None:
        request.start_time.CopyFrom(timestamp(start_time, "start_time"))
    if end_time is not None:
        request.end_time.CopyFrom(timestamp(end_time, "end_time"))
    return request


def next_page(request: _Paged, response: Any) -> _Paged | None:
    """The request of the page after `response`, or None after the last one."""
    token: str = response.next_page_token
    if not token:
        return None
    following = type(request)()
    following.CopyFrom(request)
    following.page_token = token
    return following


def create_api_key_request(scope: str, name: str) -> api_key_pb2.CreateApiKeyRequest:
    return api_key_pb2.CreateApiKeyRequest(scope=enum_name(api_key_pb2.Scope, scope, "scope"), name=name)


def list_api_keys_request(include_revoked: bool) -> api_key_pb2.ListApiKeysRequest:
    return api_key_pb2.ListApiKeysRequest(include_revoked=include_revoked)


def revoke_api_key_request(key_id: str) -> api_key_pb2.RevokeApiKeyRequest:
    return api_key_pb2.RevokeApiKeyRequest(id=key_id)


def dimension_filters(filters: Filters | None) -> list[query_pb2.DimensionFilter]:
    messages = []
    for dimension, wanted in (filters or {}).items():
        values = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
        message = query_pb2.DimensionFilter(dimension=dimension)
        for value in values:
            message.values.add().CopyFrom(_value(value))
        messages.append(message)
    return messages


def _value(value: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = value
    else:
        message.string_value = str(value)
    return message


def timestamp(value: datetime, field: str) -> timestamp_pb2.Timestamp:
    if not isinstance(value, datetime):
        raise TypeError(f"{field}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: a datetime with a time zone is needed (e.g. tzinfo=UTC), got {value}")
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def enum_name(enum: Any, name: str, field: str) -> str:
    """An enum value's own name, matched in any case; ValueError listing the names otherwise."""
    for value_name, number in enum.items():
        if number and value_name.lower() == name.lower():
            return str(value_name)
    allowed = ", ".join(n for n, v in enum.items() if v)
    raise ValueError(f"{field}: unknown value {name!r} (one of {allowed})")


# Answers.


def meter(message: meter_pb2.Meter) -> Meter:
    return Meter(
        id=message.id,
        name=message.name,
        description=message.description,
        unit=message.unit,
        aggregation=meter_pb2.Aggregation.Name(message.aggregation),
        event_retention_days=message.event_retention_days,
        dimensions=[_dimension(d) for d in message.dimensions],
        create_time=optional_datetime(message, "create_time"),
        update_time=optional_datetime(message, "update_time"),
        unique_dimension=message.unique_dimension,
    )


def _dimension(message: meter_pb2.Dimension) -> Dimension:
    return Dimension(
        name=message.name,
        type=meter_pb2.DimensionType.Name(message.type),
        required=message.required if message.HasField("required") else True,
        display_name=message.display_name,
        description=message.description,
        deprecated=message.deprecated,
    )


def meters(response: meter_pb2.ListMetersResponse) -> list[Meter]:
    return [meter(m) for m in response.meters]


def deleted_events(response: meter_pb2.DeleteMeterResponse) -> int:
    return int(response.deleted_events)


def stored_event(message: event_pb2.StoredEvent) -> StoredEvent:
    return StoredEvent(
        id=message.id,
        idempotency_key=message.idempotency_key,
        subject=message.subject,
        meter=message.meter,
        quantity=message.quantity,
        timestamp=as_datetime(message.timestamp),
        metadata=struct(message.metadata),
        ingest_time=as_datetime(message.ingest_time),
    )


def stored_events(response: query_pb2.ListEventsResponse) -> list[StoredEvent]:
    return [stored_event(e) for e in response.events]


def record_result(response: usage_pb2.RecordUsageResponse) -> RecordResult:
    return RecordResult(
        idempotency_key=response.idempotency_key,
        outcome=usage_pb2.Outcome.Name(response.outcome),
        event=stored_event(response.event) if response.HasField("event") else None,
        conflicting_fields=list(response.conflicting_fields),
    )


def bulk_result(response: usage_pb2.RecordUsagesResponse) -> BulkResult:
    return BulkResult(
        results=[_event_result(r) for r in response.results],
        accepted=response.accepted,
        duplicates=response.duplicates,
        rejected=response.rejected,
    )


def _event_result(message: usage_pb2.EventResult) -> EventResult:
    rejection = None
    if message.HasField("rejection"):
        rejection = Rejection(
            code=message.rejection.code, field=message.rejection.field, message=message.rejection.message
        )
    return EventResult(
        index=message.index,
        idempotency_key=message.idempotency_key,
        outcome=usage_pb2.Outcome.Name(message.outcome),
        rejection=rejection,
        event=stored_event(message.event) if message.HasField("event") else None,
        conflicting_fields=list(message.conflicting_fields),
    )


def usage_answer(response: query_pb2.QueryUsageResponse) -> UsageAnswer:
    return UsageAnswer(
        rows=[_usage_row(r) for r in response.rows],
        aggregation=response.aggregation,
        time_zone=response.time_zone,
    )


def _usage_row(message: query_pb2.UsageRow) -> UsageRow:
    return UsageRow(
        window_start=as_datetime(message.window_start),
        window_end=as_datetime(message.window_end),
        subject=message.subject or None,
        group=struct(message.group),
        value=message.value if message.HasField("value") else None,
        event_count=message.event_count,
    )


def api_key(message: api_key_pb2.ApiKey) -> ApiKey:
    return ApiKey(
        id=message.id,
        name=message.name,
        scope=api_key_pb2.Scope.Name(message.scope),
        create_time=optional_datetime(message, "create_time"),
        revoke_time=optional_datetime(message, "revoke_time"),
    )


def api_keys(response: api_key_pb2.ListApiKeysResponse) -> list[ApiKey]:
    return [api_key(k) for k in response.api_keys]


def created_api_key(response: api_key_pb2.CreateApiKeyResponse) -> CreatedApiKey:
    return CreatedApiKey(api_key=api_key(response.api_key), secret=response.secret)


def struct(message: struct_pb2.Struct) -> dict[str, Any]:
    values: dict[str, Any] = json_format.MessageToDict(message)
    return values


def as_datetime(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def optional_datetime(message: Message, field: str) -> datetime | None:
    return as_datetime(getattr(message, field)) if message.HasField(field) else None
