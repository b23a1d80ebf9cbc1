"""Value rules every part of the core shares: the subject field, time bounds, dimension-value texts.

Ingest stores dimension values as text in one Map column; queries, filter
trees, breakdowns and bucket exports compare and answer with that text, so
the one rule that turns a value into its stored text (and back into the type
the meter declares) lives here, below all of them. Pure code, no imports of
other domain modules but meters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from openspanner.domain.meters import DimensionType
from openspanner.errors import InvalidArgument

# The field every event has besides its dimensions; group_by, filters and breakdowns may name it.
SUBJECT = "subject"
# How many subjects, or values of one filter, a request may list.
MAX_FILTER_VALUES = 10_000
# The range of ClickHouse's DateTime64, which stores timestamps.
MIN_TIME_US = -2_208_988_800 * 1_000_000  # 1900-01-01
MAX_TIME_US = 10_413_791_999 * 1_000_000  # 2299-12-31T23:59:59

# A dimension value as clients send it: str, bool, float, or None ("absent");
# lists and objects arrive as Unsupported, to be refused by name.
RawValue = str | bool | float | None
GroupValue = str | bool | float | None


class Unsupported:
    """A value of a kind no dimension has (list or object), in metadata or a filter;
    `kind` names it for the refusal."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        # Deterministic: bulk request digests are built from reprs.
        return f"Unsupported({self.kind!r})"


def check_range(
    start_us: int | None,
    end_us: int | None,
    *,
    required: bool,
    names: tuple[str, str] = ("start_time", "end_time"),
) -> tuple[int | None, int | None]:
    """The range [start, end) if storage can hold both ends and it is not empty.

    `names` are the request's names of the two ends: the gRPC API says
    start_time/end_time, the product's REST API from/to.
    """
    start_name, end_name = names
    for name, value in ((start_name, start_us), (end_name, end_us)):
        if value is None and required:
            raise InvalidArgument("is required", field=name)
        if value is not None and not MIN_TIME_US <= value <= MAX_TIME_US:
            raise InvalidArgument("must be between 1900-01-01 and 2299-12-31 (what storage can hold)", field=name)
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise InvalidArgument(
            f"must be after {start_name} (the range is [{start_name}, {end_name}))", field=end_name
        )
    return start_us, end_us


def check_subjects(subjects: Sequence[str], *, field: str) -> tuple[str, ...]:
    """The subjects a request lists, if there are not too many for one query's SQL."""
    if len(subjects) > MAX_FILTER_VALUES:
        raise InvalidArgument(f"at most {MAX_FILTER_VALUES:,} subjects", field=field)
    return tuple(subjects)


def stored_text(value: object, expected: DimensionType) -> str | None:
    """Canonical text of a dimension value of the expected type, or None on a type mismatch.

    Values are stored as text in one Map column. Ingest stores this text and
    filters compare with it, so equal values are equal text (1 and 1.0 are
    both "1") and a filter on 1 finds events sent with 1.0.
    """
    if expected is DimensionType.STRING:
        return value if isinstance(value, str) else None
    if expected is DimensionType.BOOLEAN:
        return ("true" if value else "false") if isinstance(value, bool) else None
    if isinstance(value, float) and not isinstance(value, bool) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return None


def typed_value(text: str | None, dimension_type: DimensionType) -> GroupValue:
    """A stored dimension text as the type the meter declares."""
    if text is None:
        return None
    if dimension_type is DimensionType.BOOLEAN:
        return text == "true"
    if dimension_type is DimensionType.NUMBER:
        return float(text)
    return text


def value_from_text(text: str, expected: DimensionType) -> str | bool | float:
    """A boolean or number given as text (HTTP query parameters are text) as that type."""
    if expected is DimensionType.BOOLEAN and text in ("true", "false"):
        return text == "true"
    if expected is DimensionType.NUMBER:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def describe_value(value: object) -> str:
    """How a refusal names a value of the wrong type: "a boolean", "the number 3", "a list"."""
    if isinstance(value, Unsupported):
        return value.kind
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the number {value:g}"
    return "a string"
