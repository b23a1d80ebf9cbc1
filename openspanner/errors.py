"""Typed errors of Open Spanner and their one mapping to gRPC status codes.

Domain and storage code raise these; only `grpc_status` decides what a client
sees. Anything else that escapes a handler becomes INTERNAL with a generic
message (see services/_rpc.py), so internals never reach the wire.
"""

from __future__ import annotations

import grpc


class OpenSpannerError(Exception):
    """Base of every error a client may be told about."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

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
}


def grpc_status(error: OpenSpannerError) -> grpc.StatusCode:
    """The status code for an error; the message is `str(error)`."""
    for error_type in type(error).__mro__:
        if error_type in _STATUS_BY_TYPE:
            return _STATUS_BY_TYPE[error_type]
    return grpc.StatusCode.INTERNAL


def status_name(error: OpenSpannerError) -> str:
    """Code name for per-event rejections, e.g. "INVALID_ARGUMENT"."""
    return str(grpc_status(error).name)
