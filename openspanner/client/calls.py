"""The API's unary calls as the clients make them, and how a client reaches its server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.protobuf.message import Message

from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2

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
