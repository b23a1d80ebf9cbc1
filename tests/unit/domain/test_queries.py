"""Planning usage queries and event listings (domain/queries.py): what is refused, by which name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.queries import (
    Cursor,
    GroupAggregate,
    RawFilter,
    next_page_token,
    plan_event_listing,
    plan_usage_query,
    usage_rows,
)
from openspanner.domain.values import Unsupported
from openspanner.domain.windows import WindowSize
from openspanner.errors import InvalidArgument

METER = Meter(
    name="ai_tokens",
    aggregation=Aggregation.SUM,
    dimensions=(
        Dimension("model", DimensionType.STRING),
        Dimension("cached", DimensionType.BOOLEAN),
        Dimension("tokens", DimensionType.NUMBER),
    ),
)
HOUR_US = 3_600_000_000
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def plan(**overrides: Any) -> Any:
    given: dict[str, Any] = {
        "start_us": START_US, "end_us": START_US + 2 * HOUR_US, "window_size": WindowSize.HOUR,
        "time_zone_name": "", "subjects": [], "filters": [], "group_by": [], "fill": False,
    }
    return plan_usage_query(METER, **{**given, **overrides})


def test_a_plan_keeps_the_request_checked() -> None:
    filters = [RawFilter("tokens", ("3",)), RawFilter("cached", (True, None))]
    query = plan(group_by=["subject", "model"], filters=filters)
    assert query.time_zone == "UTC"
    assert [w.start_us for w in query.windows] == [START_US, START_US + HOUR_US]
    assert query.by_subject and query.dimensions == ("model",)
    assert [(f.dimension, f.values, f.match_absent) for f in query.filters] == [
        ("tokens", ("3",), False),  # a number given as text reads as the dimension's type
        ("cached", ("true",), True),
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"start_us": None}, "start_time", "is required"),
        ({"end_us": START_US}, "end_time", "must be after start_time"),
        ({"group_by": ["nope"]}, "group_by", "unknown dimension 'nope' of meter 'ai_tokens'"),
        ({"group_by": ["model", "model"]}, "group_by", "'model' is named twice"),
        ({"group_by": [""]}, "group_by", "unknown dimension ''"),
        ({"group_by": ["a", "b", "c", "d", "e", "f"]}, "group_by", "at most 5 names, got 6"),
        ({"filters": [RawFilter("nope", ("x",))]}, "filters[0].dimension", "unknown dimension 'nope'"),
        ({"filters": [RawFilter("model", ())]}, "filters[0].values", "is required"),
        ({"filters": [RawFilter("model", ("a", 1.0))]}, "filters[0].values[1]",
         "must be a string like dimension 'model', got the number 1"),
        ({"filters": [RawFilter("cached", (Unsupported("a list"),))]}, "filters[0].values[0]",
         "must be a boolean like dimension 'cached', got a list"),
        ({"subjects": ["s"] * 10_001}, "subjects", "at most 10,000 subjects"),
        ({"time_zone_name": "Mars/Olympus"}, "time_zone", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_usage_query_refusals_name_the_field(overrides: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        plan(**overrides)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)


def test_rows_fill_empty_windows_and_keep_order() -> None:
    query = plan(fill=True, group_by=["model"])
    groups = [GroupAggregate(START_US // 1_000_000 + 3600, None, ("b",), 2, 5.0),
              GroupAggregate(START_US // 1_000_000, None, ("a",), 1, 1.0)]
    rows = usage_rows(query, groups)
    assert [(r.window.start_us, r.group, r.value, r.count) for r in rows] == [
        (START_US, (("model", "a"),), 1.0, 1),
        (START_US, (("model", "b"),), 0.0, 0),
        (START_US + HOUR_US, (("model", "a"),), 0.0, 0),
        (START_US + HOUR_US, (("model", "b"),), 5.0, 2),
    ]


def listing(subjects: Sequence[str] = (), page_size: int = 2, token: str = "", token_field: str = "page_token") -> Any:
    return plan_event_listing(
        METER, start_us=None, end_us=None, subjects=subjects, filters=[], page_size=page_size,
        page_token=token, now_us=START_US, token_field=token_field,
    )


def test_a_page_token_resumes_its_own_listing() -> None:
    first = listing()
    token = next_page_token(first, Cursor(START_US - 5, "key-9"))
    second = listing(token=token)
    assert second.after == Cursor(START_US - 5, "key-9")
    assert second.as_of_us == first.as_of_us == START_US
    assert second.fingerprint == first.fingerprint


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not base64 !", "is not a page token of ListEvents"),
        ("W10", "is not a page token of ListEvents"),  # [] is JSON, but not a token
        ("eyJ0IjoxfQ", "is not a page token of ListEvents"),  # {"t":1}: fields missing
    ],
)
def test_a_token_is_refused_by_the_request_s_name(token: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        listing(token=token, token_field="cursor")
    assert (refused.value.field, refused.value.message) == ("cursor", message)


def test_a_token_of_another_listing_is_refused() -> None:
    token = next_page_token(listing(), Cursor(START_US, "k"))
    with pytest.raises(InvalidArgument) as refused:
        listing(subjects=["org_1"], token=token)
    assert refused.value.message.startswith("belongs to a different listing")


@pytest.mark.parametrize(("page_size", "rows"), [(0, 100), (1, 1), (1000, 1000)])
def test_page_size(page_size: int, rows: int) -> None:
    assert listing(page_size=page_size).page_size == rows


@pytest.mark.parametrize("page_size", [-1, 1001])
def test_page_size_out_of_range_is_refused(page_size: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        listing(page_size=page_size)
    assert refused.value.field == "page_size"
    assert refused.value.message.startswith("must be between 1 and 1000")
