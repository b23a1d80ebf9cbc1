"""The product's codes and messages of our errors, shared by its REST and gRPC edges (product_errors.py)."""

from __future__ import annotations

import pytest

from openspanner.errors import InvalidArgument, NotFound, OpenSpannerError, StorageRefused
from openspanner.product_errors import message_prefix, rejection_code


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
    assert rejection_code(error) == answer


@pytest.mark.parametrize(
    ("code", "prefix"),
    [
        ("invalid_input", "invalid input: "), ("invalid_cursor", "invalid input: "), ("invalid_json", ""),
        ("not_found", "not found: "), ("conflict", "conflict: "), ("rate_limited", ""),
    ],
)
def test_each_code_has_the_product_s_message_prefix(code: str, prefix: str) -> None:
    assert message_prefix(code) == prefix
