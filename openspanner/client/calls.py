"""The API's unary calls as the clients make them, and how a client reaches its server.

This is the one core of Client (sync.py) and AsyncClient (aio.py): each
public method is a function here that builds its request and says how its
answer is read (a `Call`, or a `PagedCall` for the listings), and which
failures are sent again (retry.py). The two shells only carry a call over
their channel, so the rules are written once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import grpc
from google.protobuf.message import Message

from openspanner.client import alerts, convert
from openspanner.client.convert import (
    ApiKey,
    BulkResult,
    CreatedApiKey,
    Filters,
    Meter,
    RecordResult,
    StoredEvent,
    UsageAnswer,
)
from openspanner.client.errors import ApiError
from openspanner.client.retry import RetryPolicy, verdict
from openspanner.retry import Attempts, Verdict
from openspanner.v1 import alert_pb2, api_key_pb2, meter_pb2, query_pb2, usage_pb2

T = TypeVar("T")

# RecordUsages takes up to 50,000 events and answers one result each: more
# than gRPC's 4 MiB default either way.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Each attempt's timeout unless the client or the call says otherwise.
DEFAULT_TIMEOUT_SECONDS = 30.0
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class Rpc:
    service: str
    method: str
    response: type[Message]
    # Sent again after DEADLINE_EXCEEDED (retry.py says which and why).
    repeatable: bool

    @property
    def path(self) -> str:
        return f"/openspanner.v1.{self.service}/{self.method}"


CREATE_METER = Rpc("MeterService", "CreateMeter", meter_pb2.Meter, repeatable=False)
GET_METER = Rpc("MeterService", "GetMeter", meter_pb2.Meter, repeatable=True)
LIST_METERS = Rpc("MeterService", "ListMeters", meter_pb2.ListMetersResponse, repeatable=True)
UPDATE_METER = Rpc("MeterService", "UpdateMeter", meter_pb2.Meter, repeatable=True)
DELETE_METER = Rpc("MeterService", "DeleteMeter", meter_pb2.DeleteMeterResponse, repeatable=False)
RECORD_USAGE = Rpc("UsageService", "RecordUsage", usage_pb2.RecordUsageResponse, repeatable=True)
RECORD_USAGES = Rpc("UsageService", "RecordUsages", usage_pb2.RecordUsagesResponse, repeatable=True)
QUERY_USAGE = Rpc("QueryService", "QueryUsage", query_pb2.QueryUsageResponse, repeatable=True)
LIST_EVENTS = Rpc("QueryService", "ListEvents", query_pb2.ListEventsResponse, repeatable=True)
CREATE_API_KEY = Rpc("ApiKeyService", "CreateApiKey", api_key_pb2.CreateApiKeyResponse, repeatable=False)
LIST_API_KEYS = Rpc("ApiKeyService", "ListApiKeys", api_key_pb2.ListApiKeysResponse, repeatable=True)
REVOKE_API_KEY = Rpc("ApiKeyService", "RevokeApiKey", api_key_pb2.ApiKey, repeatable=False)
CREATE_ALERT_RULE = Rpc("AlertService", "CreateAlertRule", alert_pb2.CreateAlertRuleResponse, repeatable=False)
GET_ALERT_RULE = Rpc("AlertService", "GetAlertRule", alert_pb2.GetAlertRuleResponse, repeatable=True)
LIST_ALERT_RULES = Rpc("AlertService", "ListAlertRules", alert_pb2.ListAlertRulesResponse, repeatable=True)
UPDATE_ALERT_RULE = Rpc("AlertService", "UpdateAlertRule", alert_pb2.UpdateAlertRuleResponse, repeatable=True)
DELETE_ALERT_RULE = Rpc("AlertService", "DeleteAlertRule", alert_pb2.DeleteAlertRuleResponse, repeatable=False)
# Not repeated: an evaluation the client gave up on may have run, and a second one is a second evaluation.
EVALUATE_ALERT_RULE = Rpc("AlertService", "EvaluateAlertRule", alert_pb2.EvaluateAlertRuleResponse, repeatable=False)
LIST_ALERT_EVENTS = Rpc("AlertService", "ListAlertEvents", alert_pb2.ListAlertEventsResponse, repeatable=True)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One unary call: what to send, and how its answer becomes the method's value."""

    rpc: Rpc
    request: Message
    answer: Callable[[Any], T]


@dataclass(frozen=True)
class PagedCall(Generic[T]):
    """A listing: the first page's request; each answer's items; the next request from convert.next_page."""

    rpc: Rpc
    request: Message
    items: Callable[[Any], list[T]]


def create_meter(definition: Mapping[str, Any]) -> Call[Meter]:
    return Call(CREATE_METER, convert.meter_message(definition), convert.meter)


def get_meter(name: str) -> Call[Meter]:
    return Call(GET_METER, convert.get_meter_request(name), convert.meter)


def list_meters() -> PagedCall[Meter]:
    return PagedCall(LIST_METERS, convert.list_meters_request(), convert.meters)


def update_meter(name: str, changes: Mapping[str, Any]) -> Call[Meter]:
    return Call(UPDATE_METER, convert.update_meter_request(name, changes), convert.meter)


def delete_meter(name: str, force: bool) -> Call[int]:
    return Call(DELETE_METER, convert.delete_meter_request(name, force), convert.deleted_events)


def record_usage(event: Mapping[str, Any]) -> Call[RecordResult]:
    return Call(RECORD_USAGE, convert.usage_event(event), convert.record_result)


def record_usages(
    events: Iterable[Mapping[str, Any]], idempotency_key: str, validate_only: bool
) -> Call[BulkResult]:
    request = convert.record_usages_request(events, idempotency_key, validate_only)
    return Call(RECORD_USAGES, request, convert.bulk_result)


def query_usage(
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
) -> Call[UsageAnswer]:
    request = convert.query_usage_request(
        meter, start_time, end_time, window_size=window_size, time_zone=time_zone, subjects=subjects,
        filters=filters, group_by=group_by, fill=fill,
    )
    return Call(QUERY_USAGE, request, convert.usage_answer)


def list_events(
    meter: str,
    *,
    start_time: datetime | None,
    end_time: datetime | None,
    subjects: Sequence[str],
    filters: Filters | None,
    page_size: int,
) -> PagedCall[StoredEvent]:
    request = convert.list_events_request(
        meter, start_time=start_time, end_time=end_time, subjects=subjects, filters=filters, page_size=page_size
    )
    return PagedCall(LIST_EVENTS, request, convert.stored_events)


def create_api_key(scope: str, name: str) -> Call[CreatedApiKey]:
    return Call(CREATE_API_KEY, convert.create_api_key_request(scope, name), convert.created_api_key)


def list_api_keys(include_revoked: bool) -> Call[list[ApiKey]]:
    return Call(LIST_API_KEYS, convert.list_api_keys_request(include_revoked), convert.api_keys)


def revoke_api_key(key_id: str) -> Call[ApiKey]:
    return Call(REVOKE_API_KEY, convert.revoke_api_key_request(key_id), convert.api_key)


def create_alert_rule(fields: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call(CREATE_ALERT_RULE, alerts.create_request(fields), alerts.rule_of)


def get_alert_rule(rule_id: str) -> Call[dict[str, Any]]:
    return Call(GET_ALERT_RULE, alert_pb2.GetAlertRuleRequest(id=rule_id), alerts.rule_of)


def list_alert_rules(meter: str, enabled: bool | None, limit: int) -> Call[list[dict[str, Any]]]:
    return Call(LIST_ALERT_RULES, alerts.list_request(meter, enabled, limit), alerts.rules)


def update_alert_rule(rule_id: str, changes: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call(UPDATE_ALERT_RULE, alerts.update_request(rule_id, changes), alerts.rule_of)


def delete_alert_rule(rule_id: str) -> Call[None]:
    return Call(DELETE_ALERT_RULE, alert_pb2.DeleteAlertRuleRequest(id=rule_id), lambda _: None)


def evaluate_alert_rule(rule_id: str) -> Call[dict[str, Any]]:
    return Call(EVALUATE_ALERT_RULE, alert_pb2.EvaluateAlertRuleRequest(id=rule_id), alerts.evaluation)


def list_alert_events(rule_id: str, page_size: int) -> PagedCall[dict[str, Any]]:
    request = alert_pb2.ListAlertEventsRequest(rule_id=rule_id, limit=page_size)
    return PagedCall(LIST_ALERT_EVENTS, request, alerts.events)


def parse_target(server: str) -> tuple[str, bool]:
    """(host:port, TLS?) of `host:port` or a URL, where https:// (or grpcs://) means TLS;
    OPEN_SPANNER_BASE_URL is written as a URL."""
    if "://" not in server:
        return server, False
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
        raise ValueError(f"server: expected host:port or http(s)://host:port, got {server!r}")
    secure = parts.scheme in ("https", "grpcs")
    port = parts.port or (443 if secure else 50051)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", secure


def channel_arguments(
    server: str, credentials: grpc.ChannelCredentials | None, channel_options: Sequence[tuple[str, Any]]
) -> tuple[str, grpc.ChannelCredentials | None, list[tuple[str, Any]]]:
    """Target, credentials (None: plaintext) and options of a client's channel."""
    target, secure = parse_target(server)
    if credentials is None and secure:
        credentials = grpc.ssl_channel_credentials()
    return target, credentials, [*CHANNEL_OPTIONS, *channel_options]


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def serialize(message: Message) -> bytes:
    return message.SerializeToString()


class CallSettings:
    """What both shells hold besides their channel: the key, the default timeout, the retry policy."""

    def __init__(self, api_key: str | None, timeout: float, retry: RetryPolicy | None) -> None:
        self.metadata = auth_metadata(api_key)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    def attempts(self, rpc: Rpc) -> Attempts:
        return Attempts(self.retry, rpc.method)

    def per_attempt(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def judge(self, rpc: Rpc) -> Callable[[ApiError], Verdict]:
        return functools.partial(verdict, rpc.repeatable)


def stub(channel: grpc.Channel | grpc.aio.Channel, rpc: Rpc) -> Any:
    """The channel's callable of `rpc` (the sync and the aio channel spell it alike)."""
    return channel.unary_unary(rpc.path, request_serializer=serialize, response_deserializer=rpc.response.FromString)
