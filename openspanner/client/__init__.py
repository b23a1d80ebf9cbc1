"""Python clients of Open Spanner's gRPC API.

- `Client` and `AsyncClient`: every unary call (meters, RecordUsage and
  RecordUsages, QueryUsage and ListEvents, API keys, plans and
  assignments, entitlement checks and consumes) with plain Python
  values in and out, retries, and typed errors naming the refused field.
- `StreamClient`: the long-lived ingest streams, resending what was not
  acknowledged (exactly once across reconnects).

Needs only the client install (`pip install openspanner`): nothing here
imports server code.
"""

from openspanner.client.aio import AsyncClient
from openspanner.client.convert import (
    ApiKey,
    BulkResult,
    CreatedApiKey,
    Dimension,
    EventResult,
    Meter,
    RecordResult,
    Rejection,
    StoredEvent,
    UsageAnswer,
    UsageRow,
)
from openspanner.client.errors import (
    AlreadyExistsError,
    ApiError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from openspanner.client.retry import RetryAttempt, RetryPolicy
from openspanner.client.streams import (
    DEVICE_TELEMETRY,
    FATAL_CODES,
    QUEUE_THROUGHPUT,
    USAGE,
    WEBSOCKET_SESSIONS,
    StreamClient,
    StreamError,
    StreamKind,
    StreamStats,
)
from openspanner.client.sync import Client

__all__ = [
    "DEVICE_TELEMETRY",
    "FATAL_CODES",
    "QUEUE_THROUGHPUT",
    "USAGE",
    "WEBSOCKET_SESSIONS",
    "AlreadyExistsError",
    "ApiError",
    "ApiKey",
    "AsyncClient",
    "BulkResult",
    "Client",
    "CreatedApiKey",
    "DeadlineExceededError",
    "Dimension",
    "EventResult",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "Meter",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RecordResult",
    "Rejection",
    "ResourceExhaustedError",
    "RetryAttempt",
    "RetryPolicy",
    "StoredEvent",
    "StreamClient",
    "StreamError",
    "StreamKind",
    "StreamStats",
    "UnauthenticatedError",
    "UnavailableError",
    "UsageAnswer",
    "UsageRow",
]
