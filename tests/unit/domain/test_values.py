"""The shared value rules (domain/values.py): stored texts, typed values, time bounds, subject lists."""

from __future__ import annotations

import pytest

from openspanner.domain.meters import DimensionType
from openspanner.domain.values import (
    MAX_FILTER_VALUES,
    MAX_TIME_US,
    MIN_TIME_US,
    Unsupported,
    check_range,
    check_subjects,
    describe_value,
    stored_text,
    typed_value,
    value_from_text,
)
from openspanner.errors import InvalidArgument

S, N, B = DimensionType.STRING, DimensionType.NUMBER, DimensionType.BOOLEAN


@pytest.mark.parametrize(
    ("value", "expected", "text"),
    [
        ("gpt-4.1", S, "gpt-4.1"),
        ("", S, ""),
        (1.0, N, "1"),  # equal numbers are equal text, so a filter on 1 finds 1.0
        (-0.0, N, "0"),
        (2.5, N, "2.5"),
        (1e300, N, "1e+300"),  # beyond 2**53 the text is repr, not a rounded integer
        (2.0**53, N, "9007199254740992.0"),
        (True, B, "true"),
        (False, B, "false"),
        # A type mismatch has no text: the caller refuses it by name.
        (1.0, S, None),
        ("1", N, None),
        (True, N, None),
        (float("nan"), N, None),
        (float("inf"), N, None),
        ("true", B, None),
        (1.0, B, None),
        (None, S, None),
    ],
)
def test_stored_text(value: object, expected: DimensionType, text: str | None) -> None:
    assert stored_text(value, expected) == text


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [(None, S, None), ("a", S, "a"), ("true", B, True), ("false", B, False), ("2.5", N, 2.5), ("1", N, 1.0)],
)
def test_typed_value_reads_stored_text_back(text: str | None, kind: DimensionType, value: object) -> None:
    assert typed_value(text, kind) == value
    if value is not None:
        assert stored_text(typed_value(text, kind), kind) == text


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("true", B, True), ("false", B, False), ("TRUE", B, "TRUE"), ("3", N, 3.0), ("x", N, "x"), ("3", S, "3")],
)
def test_value_from_text(text: str, kind: DimensionType, value: object) -> None:
    assert value_from_text(text, kind) == value
    assert type(value_from_text(text, kind)) is type(value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "null"),
        (True, "a boolean"),
        (2.5, "the number 2.5"),
        ("x", "a string"),
        (Unsupported("a list"), "a list"),
    ],
)
def test_describe_value(value: object, words: str) -> None:
    assert describe_value(value) == words


def test_check_range_accepts_what_storage_holds() -> None:
    assert check_range(MIN_TIME_US, MAX_TIME_US, required=True) == (MIN_TIME_US, MAX_TIME_US)
    assert check_range(None, None, required=False) == (None, None)
    assert check_range(5, None, required=False) == (5, None)


@pytest.mark.parametrize(
    ("start", "end", "required", "names", "field", "message"),
    [
        (None, 10, True, ("start_time", "end_time"), "start_time", "is required"),
        (0, None, True, ("from", "to"), "to", "is required"),
        (MIN_TIME_US - 1, 0, False, ("start_time", "end_time"), "start_time", "must be between 1900-01-01"),
        (0, MAX_TIME_US + 1, False, ("from", "to"), "to", "must be between 1900-01-01"),
        (10, 10, True, ("start_time", "end_time"), "end_time", "must be after start_time"),
        (10, 5, False, ("from", "to"), "to", "must be after from (the range is [from, to))"),
    ],
)
def test_check_range_refuses_by_the_request_s_names(
    start: int | None, end: int | None, required: bool, names: tuple[str, str], field: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_range(start, end, required=required, names=names)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)


def test_check_subjects_bounds_the_list() -> None:
    assert check_subjects(["a"] * MAX_FILTER_VALUES, field="subjects") == ("a",) * MAX_FILTER_VALUES
    with pytest.raises(InvalidArgument) as refused:
        check_subjects(["a"] * (MAX_FILTER_VALUES + 1), field="subject")
    assert (refused.value.field, refused.value.message) == ("subject", "at most 10,000 subjects")
