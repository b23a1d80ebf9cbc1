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
from openspanner.http.errors import rest_code_of_rejection, rest_error


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


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (NotFound("no meter 'm'", field="meter"), ("not_found", "not found: meter: no meter 'm'")),
        (InvalidArgument("too old", field="timestamp"), ("invalid_timestamp", "invalid input: timestamp: too old")),
        (InvalidArgument("must be > 0", field="quantity"), ("invalid_input", "invalid input: quantity: must be > 0")),
        (StorageRefused("refused"), ("invalid_input", "invalid input: refused")),
    ],
)
def test_a_refused_bulk_event_gets_the_product_s_code(error: OpenSpannerError, answer: tuple[str, str]) -> None:
    assert rest_code_of_rejection(error) == answer
