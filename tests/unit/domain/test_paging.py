"""One limit, page size and group_by rule for both APIs (domain/paging.py)."""

from __future__ import annotations

import pytest

from openspanner.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, checked_limit, clamped_limit, group_by_names
from openspanner.errors import InvalidArgument


@pytest.mark.parametrize(("given", "rows"), [(None, 100), (0, 100), (1, 1), (999, 999), (1000, 1000)])
def test_checked_limit(given: int | None, rows: int) -> None:
    assert checked_limit(given) == rows
    assert DEFAULT_LIMIT == 100 and MAX_LIMIT == 1000


@pytest.mark.parametrize("given", [-1, 1001, 10**9])
def test_checked_limit_refuses_outside_the_range_by_the_request_s_name(given: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        checked_limit(given, field="page_size")
    assert refused.value.field == "page_size"
    assert refused.value.message.startswith("must be between 1 and 1000")


@pytest.mark.parametrize(
    ("given", "zero_means_default", "rows"),
    [(5, False, 5), (1000, False, 1000), (1001, False, 1000), (10**9, True, 1000), (0, True, 100), (7, True, 7)],
)
def test_clamped_limit_clamps_as_the_product_does(given: int, zero_means_default: bool, rows: int) -> None:
    assert clamped_limit(given, zero_means_default=zero_means_default) == rows


@pytest.mark.parametrize(
    ("given", "zero_means_default", "message"),
    [
        (0, False, "must be greater than zero"),
        (-1, False, "must be greater than zero"),
        (-1, True, "must not be negative"),
    ],
)
def test_clamped_limit_refusals(given: int, zero_means_default: bool, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        clamped_limit(given, zero_means_default=zero_means_default)
    assert (refused.value.field, refused.value.message) == ("limit", message)


@pytest.mark.parametrize(
    ("given", "rest", "grpc"),
    [
        ([], [], []),
        (["model"], ["model"], ["model"]),
        (["subject,model"], ["subject", "model"], ["subject", "model"]),
        (["model", "region,model"], ["model", "region"], ["model", "region", "model"]),
        (["model", "model"], ["model"], ["model", "model"]),
        ([" model , region "], ["model", "region"], [" model ", " region "]),
        (["", "model,"], ["model"], ["", "model", ""]),
    ],
)
def test_group_by_names(given: list[str], rest: list[str], grpc: list[str]) -> None:
    """Both APIs split on commas; REST drops blanks and repeats (the product's rule), gRPC keeps
    every name as given so that the planner refuses a repeat or a blank by name."""
    assert group_by_names(given, drop_repeats=True) == rest
    assert group_by_names(given, drop_repeats=False) == grpc
