"""The one map from our typed errors to the REST API's status, code and message.

The product's REST contract names each error by a code
(`{"error": {"code": "invalid_input", ...}}`) and prefixes its message with
the product's sentinel text (product_errors.py, shared with the product's gRPC
API); http/problems.py renders what is decided here.
Unlike google.rpc's HTTP mapping, FAILED_PRECONDITION is 409 conflict there.
"""

from __future__ import annotations

from openspanner.errors import (
    AlreadyExists,
    FailedPrecondition,
    IdempotencyKeyReused,
    InvalidArgument,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    NotImplementedYet,
    OpenSpannerError,
    PermissionDenied,
    RequestTooLarge,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    UnknownParameter,
    UnsupportedMediaType,
)
from openspanner.product_errors import message_prefix

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

INTERNAL_REST_ERROR = (500, "internal_error", "internal server error")


def rest_error(error: OpenSpannerError) -> tuple[int, str, str]:
    """HTTP status, product error code and message of an error."""
    status, code = INTERNAL_REST_ERROR[:2]
    for error_type in type(error).__mro__:
        if error_type in _REST_BY_TYPE:
            status, code = _REST_BY_TYPE[error_type]
            break
    if code == "invalid_input" and error.field in _OWN_CODE_FIELDS and not isinstance(error, UnknownParameter):
        code = f"invalid_{error.field}"
    return status, code, message_prefix(code) + str(error)
