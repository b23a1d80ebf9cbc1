"""Typed errors of Open Spanner and their one mapping to gRPC and HTTP status codes.

Domain and storage code raise these; only `grpc_status` (and, for the HTTP/JSON
API, `http_status` of that gRPC code) decides what a client sees. Anything
else that escapes a handler becomes INTERNAL with a generic message (see
services/_rpc.py), so internals never reach the wire.
"""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2


class OpenSpannerError(Exception):
    """Base of every error a client may be told about.

    `retry_after_seconds` is set on errors a client should retry after a
    while (a full server, storage trouble): it travels as google.rpc.RetryInfo
    over gRPC and as a Retry-After header over HTTP.
    """

    def __init__(self, message: str, *, field: str = "", retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(OpenSpannerError):
    """A request field breaks a rule; `field` names it, the message the rule."""


class NotFound(OpenSpannerError):
    """A named meter, key or resource does not exist."""


class AlreadyExists(OpenSpannerError):
    """Creating something whose name is taken."""


class FailedPrecondition(OpenSpannerError):
    """The request is valid but the current state forbids it (meter has events, ...)."""


class Unauthenticated(OpenSpannerError):
    """No bearer token, or one that matches no active key."""


class PermissionDenied(OpenSpannerError):
    """The key is valid but its scope does not allow the call."""


class Unavailable(OpenSpannerError):
    """Storage cannot be reached; the client should retry."""


class ResourceExhausted(OpenSpannerError):
    """The server holds as many pending events as it may (max_pending_events); retry after the delay."""


class RequestTooLarge(OpenSpannerError):
    """An HTTP request body is over OPENSPANNER_HTTP_MAX_BODY_BYTES."""


class UnsupportedMediaType(InvalidArgument):
    """An HTTP request body that is not declared as JSON; the transcoder reads only JSON."""


class MethodNotAllowed(OpenSpannerError):
    """An HTTP path that exists, called with a method no RPC is declared for."""


class ConfigError(Exception):
    """Settings are invalid; raised at start-up, never sent to a client."""


_STATUS_BY_TYPE: dict[type[OpenSpannerError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    RequestTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    MethodNotAllowed: grpc.StatusCode.UNIMPLEMENTED,
}

# google.rpc.Code's documented HTTP mapping (code.proto), so HTTP clients see
# the codes every Google-style JSON API uses. FAILED_PRECONDITION is 400 there,
# not 412: the request must change, not be retried with a different ETag.
_HTTP_BY_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# HTTP-only errors whose gRPC code has a more precise HTTP meaning.
_HTTP_BY_TYPE: dict[type[OpenSpannerError], int] = {
    RequestTooLarge: 413,
    UnsupportedMediaType: 415,
    MethodNotAllowed: 405,
}

# Trailer of gRPC's rich error model: a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def grpc_status(error: OpenSpannerError) -> grpc.StatusCode:
    """The status code for an error; the message is `str(error)`."""
    for error_type in type(error).__mro__:
        if error_type in _STATUS_BY_TYPE:
            return _STATUS_BY_TYPE[error_type]
    return grpc.StatusCode.INTERNAL


def status_name(error: OpenSpannerError) -> str:
    """Code name for per-event rejections, e.g. "INVALID_ARGUMENT"."""
    return str(grpc_status(error).name)


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status of a gRPC status code (google.rpc mapping)."""
    return _HTTP_BY_GRPC.get(code, 500)


def http_status_of(error: OpenSpannerError) -> int:
    """The HTTP status of an error raised by the HTTP layer itself."""
    for error_type in type(error).__mro__:
        if error_type in _HTTP_BY_TYPE:
            return _HTTP_BY_TYPE[error_type]
    return http_status(grpc_status(error))


def rich_status(error: OpenSpannerError) -> status_pb2.Status:
    """google.rpc.Status of an error; a `field` travels as a BadRequest detail
    and a retry delay as a RetryInfo detail, so clients (the HTTP layer among
    them) need not parse the message."""
    status = status_pb2.Status(code=grpc_status(error).value[0], message=str(error))
    if error.field:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
                ]
            )
        )
        status.details.append(detail)
    if error.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(math.ceil(error.retry_after_seconds * 1000))
        detail = any_pb2.Any()
        detail.Pack(retry)
        status.details.append(detail)
    return status


def status_trailer(error: OpenSpannerError) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying `rich_status(error)`, or none when it adds nothing."""
    if not error.field and error.retry_after_seconds is None:
        return ()
    return ((STATUS_DETAILS_KEY, rich_status(error).SerializeToString()),)
