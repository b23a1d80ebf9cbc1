"""Typed errors of Open Spanner, free of any transport.

Domain, ingest and storage code raise these. Each carries a canonical
code name (`code`, e.g. "INVALID_ARGUMENT", the names gRPC's status codes
also have), which is what a per-event rejection records; each transport has
its one map from error to what its clients see: openspanner/grpc/status.py (status, rich details) and
openspanner/http/errors.py (HTTP status, the product's error code).
Anything else that escapes a handler becomes a generic internal error at
that edge, so internals never reach the wire.
"""

from __future__ import annotations

from typing import ClassVar


class OpenSpannerError(Exception):
    """Base of every error a client may be told about.

    `retry_after_seconds` is set on errors a client should retry after a
    while (a full server, storage trouble): it travels as a RetryInfo detail
    over gRPC and as a Retry-After header over HTTP.
    """

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, field: str = "", retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(OpenSpannerError):
    """A request field breaks a rule; `field` names it, the message the rule."""

    code: ClassVar[str] = "INVALID_ARGUMENT"


class UnknownParameter(InvalidArgument):
    """A query parameter the route does not declare; `field` names it. Its code stays
    invalid_input whatever its name: `limit` sent where no limit is taken is no invalid limit."""


class IdempotencyKeyReused(InvalidArgument):
    """A bulk call whose batch key was used for a different batch: the first answer belongs to
    that batch, so this one is refused, storing nothing (gRPC: INVALID_ARGUMENT; REST: 422)."""


class NotFound(OpenSpannerError):
    """A named meter, key or resource does not exist."""

    code: ClassVar[str] = "NOT_FOUND"


class AlreadyExists(OpenSpannerError):
    """Creating something whose name is taken."""

    code: ClassVar[str] = "ALREADY_EXISTS"


class FailedPrecondition(OpenSpannerError):
    """The request is valid but the current state forbids it (meter has events, ...)."""

    code: ClassVar[str] = "FAILED_PRECONDITION"


class StorageRefused(InvalidArgument):
    """Storage refused to store this event although it passed our validation (a constraint
    of the table, a value the engine cannot take). Sent again unchanged it fails again, so it
    is the event's own answer, as a rule it broke would be; the message says what storage said."""


class Unauthenticated(OpenSpannerError):
    """No bearer token, or one that matches no active key."""

    code: ClassVar[str] = "UNAUTHENTICATED"


class PermissionDenied(OpenSpannerError):
    """The key is valid but its scope does not allow the call."""

    code: ClassVar[str] = "PERMISSION_DENIED"


class _Retryable(OpenSpannerError):
    """An error always answered with a retry delay (1 s unless known better), since
    the product's clients and proxies act on RetryInfo and Retry-After."""

    def __init__(self, message: str, *, field: str = "", retry_after_seconds: float | None = 1.0) -> None:
        super().__init__(message, field=field, retry_after_seconds=retry_after_seconds)


class Unavailable(_Retryable):
    """Storage cannot be reached; the client should retry."""

    code: ClassVar[str] = "UNAVAILABLE"


class ResourceExhausted(_Retryable):
    """The server holds as many pending events as it may (max_pending_events); retry after the delay."""

    code: ClassVar[str] = "RESOURCE_EXHAUSTED"


class QuotaExceeded(ResourceExhausted):
    """A consume a hard limit refused (or fail_closed when the limit could not be evaluated):
    nothing was recorded; retry_after_seconds is the time until the limit's window resets.
    Its key replays the refusal, so it is final for that key."""


class RequestTooLarge(OpenSpannerError):
    """An HTTP request body is over OPENSPANNER_HTTP_MAX_BODY_BYTES."""

    code: ClassVar[str] = "RESOURCE_EXHAUSTED"


class UnsupportedMediaType(InvalidArgument):
    """An HTTP request body that is not declared as JSON; the transcoder reads only JSON."""


class MethodNotAllowed(OpenSpannerError):
    """An HTTP path that exists, called with a method it does not serve; `allow` lists those it does."""

    code: ClassVar[str] = "UNIMPLEMENTED"

    def __init__(self, message: str, *, allow: str = "") -> None:
        super().__init__(message)
        self.allow = allow


class InvalidJson(InvalidArgument):
    """A request body that is not JSON at all."""


class NotImplementedYet(OpenSpannerError):
    """A route of the product's API this server does not serve yet (plans, entitlements)."""

    code: ClassVar[str] = "UNIMPLEMENTED"


class ConfigError(Exception):
    """Settings are invalid; raised at start-up, never sent to a client."""


def status_name(error: OpenSpannerError) -> str:
    """Canonical code name of an error, e.g. "INVALID_ARGUMENT": what a per-event rejection
    records and the metrics label, the same whichever transport carries it."""
    return error.code

