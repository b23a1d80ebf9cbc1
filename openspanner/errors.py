"""Typed errors of Open Spanner and their one mapping to gRPC status and to REST status and code.

Domain and storage code raise these; only `grpc_status` (gRPC) and
`rest_error` (the REST API) decide what a client sees. Anything
else that escapes a handler becomes INTERNAL with a generic message (see
grpc/rpc.py), so internals never reach the wire.
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


class UnknownParameter(InvalidArgument):
    """A query parameter the route does not declare; `field` names it. Its code stays
    invalid_input whatever its name: `limit` sent where no limit is taken is no invalid limit."""


class IdempotencyKeyReused(InvalidArgument):
    """A bulk call whose batch key was used for a different batch: the first answer belongs to
    that batch, so this one is refused, storing nothing (gRPC: INVALID_ARGUMENT; REST: 422)."""


class NotFound(OpenSpannerError):
    """A named meter, key or resource does not exist."""


class AlreadyExists(OpenSpannerError):
    """Creating something whose name is taken."""


class FailedPrecondition(OpenSpannerError):
    """The request is valid but the current state forbids it (meter has events, ...)."""


class StorageRefused(InvalidArgument):
    """Storage refused to store this event although it passed our validation (a constraint
    of the table, a value the engine cannot take). Sent again unchanged it fails again, so it
    is the event's own answer, as a rule it broke would be; the message says what storage said."""


class Unauthenticated(OpenSpannerError):
    """No bearer token, or one that matches no active key."""


class PermissionDenied(OpenSpannerError):
    """The key is valid but its scope does not allow the call."""


class _Retryable(OpenSpannerError):
    """An error always answered with a retry delay (1 s unless known better), since
    the product's clients and proxies act on RetryInfo and Retry-After."""

    def __init__(self, message: str, *, field: str = "", retry_after_seconds: float | None = 1.0) -> None:
        super().__init__(message, field=field, retry_after_seconds=retry_after_seconds)


class Unavailable(_Retryable):
    """Storage cannot be reached; the client should retry."""


class ResourceExhausted(_Retryable):
    """The server holds as many pending events as it may (max_pending_events); retry after the delay."""


class RequestTooLarge(OpenSpannerError):
    """An HTTP request body is over OPENSPANNER_HTTP_MAX_BODY_BYTES."""


class UnsupportedMediaType(InvalidArgument):
    """An HTTP request body that is not declared as JSON; the transcoder reads only JSON."""


class MethodNotAllowed(OpenSpannerError):
    """An HTTP path that exists, called with a method it does not serve; `allow` lists those it does."""

    def __init__(self, message: str, *, allow: str = "") -> None:
        super().__init__(message)
        self.allow = allow


class InvalidJson(InvalidArgument):
    """A request body that is not JSON at all."""


class NotImplementedYet(OpenSpannerError):
    """A route of the product's API this server does not serve yet (plans, entitlements)."""


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
    NotImplementedYet: grpc.StatusCode.UNIMPLEMENTED,
}

# The REST API's status and error code of each error, as the product's REST
# contract names them (`{"error": {"code": "invalid_input", ...}}`). Unlike
# google.rpc's HTTP mapping, FAILED_PRECONDITION is 409 conflict there.
_REST_BY_TYPE: dict[type[OpenSpannerError], tuple[int, str]] = {
    InvalidArgument: (400, "invalid_input"),
    InvalidJson: (400, "invalid_json"),
    # The IETF Idempotency-Key draft's answer to a key reused with another payload.
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    NotFound: (404, "not_found"),
    AlreadyExists: (409, "conflict"),
    FailedPrecondition: (409, "conflict"),
    Unauthenticated: (401, "unauthorized"),
    PermissionDenied: (403, "forbidden"),
    ResourceExhausted: (429, "rate_limited"),
    RequestTooLarge: (413, "payload_too_large"),
    Unavailable: (503, "unavailable"),
    MethodNotAllowed: (405, "method_not_allowed"),
    NotImplementedYet: (501, "not_implemented"),
}
# Parameters whose invalid value has a code of its own in the product: invalid_from, ...
_OWN_CODE_FIELDS = frozenset({"timestamp", "from", "to", "limit", "cursor"})
# The product's message prefix of each code ("invalid input: quantity must be ...").
_REST_PREFIX = {"not_found": "not found: ", "conflict": "conflict: "}


def _prefix(code: str) -> str:
    """Every invalid_<field> code is the product's invalid-input sentinel too; invalid_json is not."""
    if code.startswith("invalid_") and code != "invalid_json":
        return "invalid input: "
    return _REST_PREFIX.get(code, "")


INTERNAL_REST_ERROR = (500, "internal_error", "internal server error")


def rest_error(error: OpenSpannerError) -> tuple[int, str, str]:
    """HTTP status, product error code and message of an error."""
    status, code = 500, "internal_error"
    for error_type in type(error).__mro__:
        if error_type in _REST_BY_TYPE:
            status, code = _REST_BY_TYPE[error_type]
            break
    if code == "invalid_input" and error.field in _OWN_CODE_FIELDS and not isinstance(error, UnknownParameter):
        code = f"invalid_{error.field}"
    return status, code, _prefix(code) + str(error)


# Trailer of gRPC's rich error model: a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def rest_code_of_rejection(status_name: str, field: str, message: str) -> tuple[str, str]:
    """The product's code and message of one refused event of a bulk call, from its Rejection
    (a gRPC code name): not_found for an unknown meter, invalid_timestamp, else invalid_input."""
    if status_name == grpc.StatusCode.NOT_FOUND.name:
        code = "not_found"
    elif field == "timestamp":
        code = "invalid_timestamp"
    else:
        code = "invalid_input"
    text = f"{field}: {message}" if field else message
    return code, _prefix(code) + text


def grpc_status(error: OpenSpannerError) -> grpc.StatusCode:
    """The status code for an error; the message is `str(error)`."""
    for error_type in type(error).__mro__:
        if error_type in _STATUS_BY_TYPE:
            return _STATUS_BY_TYPE[error_type]
    return grpc.StatusCode.INTERNAL


def status_name(error: OpenSpannerError) -> str:
    """Code name for per-event rejections, e.g. "INVALID_ARGUMENT"."""
    return str(grpc_status(error).name)


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
