"""The one map from typed errors to the REST API's status, product code and message (http/errors.py)."""

from __future__ import annotations

import pytest

from openspanner.errors import (
    FailedPrecondition,
    InvalidArgument,
    InvalidJson,
    NotFound,
    OpenSpannerError,
    RequestTooLarge,
    ResourceExhausted,
    StorageRefused,
    Unavailable,
)
from openspanner.http.errors import rest_error


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (InvalidArgument("is 0", field="quantity"), (400, "invalid_input", "invalid input: quantity: is 0")),
        (InvalidArgument("bad", field="from"), (400, "invalid_from", "invalid input: from: bad")),
        (InvalidArgument("bad", field="limit"), (400, "invalid_limit", "invalid input: limit: bad")),
        (StorageRefused("refused"), (400, "invalid_input", "invalid input: refused")),
        (InvalidJson("not JSON"), (400, "invalid_json", "not JSON")),
        (NotFound("meter 'm'"), (404, "not_found", "not found: meter 'm'")),
        (FailedPrecondition("has events"), (409, "conflict", "conflict: has events")),
        (ResourceExhausted("full"), (429, "rate_limited", "full")),
        (RequestTooLarge("big"), (413, "payload_too_large", "big")),
        (Unavailable("down"), (503, "unavailable", "down")),
        (OpenSpannerError("oops"), (500, "internal_error", "oops")),
    ],
)
def test_rest_error(error: OpenSpannerError, answer: tuple[int, str, str]) -> None:
    assert rest_error(error) == answer
