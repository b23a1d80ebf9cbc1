"""The errors the unary clients raise: one class per status code a caller acts on.

The server names what it refused in the status details (`grpc-status-details-bin`,
a google.rpc.Status): a BadRequest field violation for the field, a RetryInfo
for how long to wait. Both are decoded here once, so a caller reads
`error.field` and `error.retry_delay` instead of parsing messages.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from openspanner.client.limits_convert import ConsumeResult, plain
from openspanner.v1 import entitlement_pb2

# The trailer of gRPC's rich error model (the server's openspanner/errors.py
# writes it; not imported from there, which is server code).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class ApiError(Exception):
    """A call the server (or the connection to it) answered with an error status.

    `field` is the request field the server refused (`quantity`,
    `metadata.region`, `dimensions[1].name`), or None; `retry_delay` the
    seconds the server asked to wait before sending again (google.rpc.RetryInfo),
    or None.
    """

    def __init__(
        self, code: grpc.StatusCode, message: str, *, field: str | None = None, retry_delay: float | None = None
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        """`CODE: message`, the message naming the field (the server's do already)."""
        message = self.message
        if self.field and not message.startswith(self.field):
            message = f"{self.field}: {message}"
        return f"{self.code.name}: {message}"


class InvalidArgumentError(ApiError):
    """A request field breaks a rule; `field` names it."""


class NotFoundError(ApiError):
    """No such meter or key."""


class AlreadyExistsError(ApiError):
    """The name is taken (CreateMeter)."""


class FailedPreconditionError(ApiError):
    """Valid, but the current state forbids it: a meter with events, a change stored events forbid."""


class UnauthenticatedError(ApiError):
    """No key, or one that is unknown or revoked."""


class PermissionDeniedError(ApiError):
    """The key's scope does not allow the call."""


class ResourceExhaustedError(ApiError):
    """The server holds as many pending events as it may; nothing was stored. Retried by the clients."""


class QuotaExceededError(ResourceExhaustedError):
    """Consume refused by a hard limit: nothing was recorded, and the decision is stored under the
    event's idempotency key (sending it again replays the refusal, so it is never retried).

    `decision` is Consume's answer as consume() returns it (`accepted` False, `replayed`,
    `evaluation_failed`, `quota` with current, limit, remaining, state...); `retry_after` the
    seconds until the limit's window resets (the RetryInfo delay).
    """

    def __init__(
        self, code: grpc.StatusCode, message: str, *, decision: ConsumeResult, retry_delay: float | None = None
    ) -> None:
        super().__init__(code, message, retry_delay=retry_delay)
        self.decision = decision

    @property
    def retry_after(self) -> float | None:
        return self.retry_delay


class UnavailableError(ApiError):
    """The server or its storage cannot be reached; nothing was stored. Retried by the clients."""


class DeadlineExceededError(ApiError):
    """No answer within the call's timeout; the call may or may not have been carried out."""


_ERROR_BY_CODE: dict[grpc.StatusCode, type[ApiError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def api_error(error: grpc.RpcError) -> ApiError:
    """The typed error of a failed call (sync or grpc.aio), with its status details decoded."""
    call: Any = error  # every RpcError a call raises is also a grpc.Call
    code: grpc.StatusCode = call.code()
    trailing_metadata = call.trailing_metadata() or ()
    field, retry_delay = _details(trailing_metadata)
    refusal = _consume_refusal(trailing_metadata)
    if refusal is not None:
        return QuotaExceededError(code, call.details() or "", decision=plain(refusal), retry_delay=retry_delay)
    return _ERROR_BY_CODE.get(code, ApiError)(code, call.details() or "", field=field, retry_delay=retry_delay)


def _consume_refusal(trailing_metadata: Any) -> entitlement_pb2.ConsumeResponse | None:
    """The decision a refused Consume carries in its status details, if this failure is one."""
    for key, value in trailing_metadata:
        if key != STATUS_DETAILS_KEY:
            continue
        for detail in status_pb2.Status.FromString(value).details:
            decision = entitlement_pb2.ConsumeResponse()
            if detail.Unpack(decision):
                return decision
    return None


def _details(trailing_metadata: Any) -> tuple[str | None, float | None]:
    """The first refused field and the retry delay of a rich status trailer, if it has them."""
    field: str | None = None
    retry_delay: float | None = None
    for key, value in trailing_metadata:
        if key != STATUS_DETAILS_KEY:
            continue
        for detail in status_pb2.Status.FromString(value).details:
            bad_request = error_details_pb2.BadRequest()
            retry_info = error_details_pb2.RetryInfo()
            if detail.Unpack(bad_request) and bad_request.field_violations and field is None:
                field = bad_request.field_violations[0].field
            elif detail.Unpack(retry_info):
                retry_delay = retry_info.retry_delay.ToNanoseconds() / 1e9
    return field, retry_delay
