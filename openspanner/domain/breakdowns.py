"""Breakdowns (the top values of one dimension over a range) and dimension values. Pure code.

The product's REST API has both: POST /v1/usages/breakdowns/search answers
each value's aggregated quantity and event count, GET /v1/usages/dimensions
the distinct values a dimension took, with their event counts. As for usage
queries, a request is checked against its meter into a plan that storage
turns into SQL, and what storage returns becomes answer rows here.

Choices, and why:

- The field is `subject`, a declared dimension, or `metadata.<dimension>`
  (the product accepts both spellings of a dimension).
- Events without the dimension are left out of both answers, as the product
  does: a breakdown lists values, and "no value" is not one. Unlike the
  product, the empty string is kept: it is a value an event can carry here,
  distinct from having no value.
- The quantity is the meter's aggregation over the whole range, exactly as a
  usage query without windows computes it, so a breakdown's rows add up to
  the usage total for sum and count; rate is the sum divided by the range's
  length in seconds.
- Rows are ordered by quantity (breakdown) or events (dimension values),
  largest first, then by value (numbers numerically, text by code point).
- `limit` is 100 when not given (None or 0, as an omitted JSON number reads
  in the product's server) and at most 1000; more is refused rather than cut
  silently, so a client never mistakes a cut answer for a whole one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from openspanner.domain.filters import METADATA_PREFIX, FilterNode
from openspanner.domain.meters import Aggregation, DimensionType, Meter
from openspanner.domain.paging import checked_limit
from openspanner.domain.values import SUBJECT, GroupValue, check_range, check_subjects, typed_value
from openspanner.domain.windows import US
from openspanner.errors import InvalidArgument

REST_RANGE = ("from", "to")


def breakdown_field(meter: Meter, name: str, *, field: str = "field") -> str:
    """`subject` or the name of a declared dimension, given bare or as metadata.<dimension>."""
    name = name.strip()
    if not name:
        raise InvalidArgument("is required: subject or a dimension of the meter", field=field)
    if name == SUBJECT or name in meter.dimensions_by_name:
        return name
    if name.startswith(METADATA_PREFIX) and name[len(METADATA_PREFIX):] in meter.dimensions_by_name:
        return name[len(METADATA_PREFIX):]
    declared = ", ".join([SUBJECT, *meter.dimensions_by_name])
    raise InvalidArgument(f"unknown field {name!r} of meter {meter.name!r} (declared: {declared})", field=field)


def _field_type(meter: Meter, name: str) -> DimensionType:
    return DimensionType.STRING if name == SUBJECT else meter.dimensions_by_name[name].type


@dataclass(frozen=True)
class Breakdown:
    """A checked breakdown request: `field` is subject or a dimension name, the range [start_us, end_us)."""

    meter: Meter
    field: str
    start_us: int
    end_us: int
    subjects: tuple[str, ...]
    filter_tree: FilterNode | None
    limit: int

    @property
    def field_type(self) -> DimensionType:
        return _field_type(self.meter, self.field)


@dataclass(frozen=True)
class BreakdownRow:
    """One value: `value` typed as the dimension declares, `text` as stored (what the product answers)."""

    value: GroupValue
    text: str
    quantity: float
    events: int


def plan_breakdown(
    meter: Meter,
    field: str,
    start_us: int | None,
    end_us: int | None,
    subjects: Sequence[str] = (),
    filter_tree: FilterNode | None = None,
    limit: int | None = None,
) -> Breakdown:
    """Check a breakdown request; errors name the REST fields (field, from, to, subject, limit).

    `filter_tree` comes checked against the same meter (filters.parse_filter).
    """
    checked_field = breakdown_field(meter, field)
    start, end = check_range(start_us, end_us, required=True, names=REST_RANGE)
    assert start is not None and end is not None
    return Breakdown(
        meter, checked_field, start, end, check_subjects(subjects, field="subject"), filter_tree, checked_limit(limit)
    )


def breakdown_row(plan: Breakdown, text: str, quantity: float, events: int) -> BreakdownRow:
    """A row from storage's group: typed back, and rate divided by the range's length in seconds."""
    if plan.meter.aggregation is Aggregation.RATE:
        quantity = quantity / ((plan.end_us - plan.start_us) / US)
    return BreakdownRow(typed_value(text, plan.field_type), text, quantity, events)


@dataclass(frozen=True)
class DimensionValues:
    """A checked dimension-values request; the range and subjects are optional."""

    meter: Meter
    field: str
    start_us: int | None
    end_us: int | None
    subjects: tuple[str, ...]
    limit: int

    @property
    def field_type(self) -> DimensionType:
        return _field_type(self.meter, self.field)


@dataclass(frozen=True)
class DimensionValueRow:
    value: GroupValue
    text: str
    events: int


def plan_dimension_values(
    meter: Meter,
    field: str,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
    subjects: Sequence[str] = (),
    limit: int | None = None,
) -> DimensionValues:
    """Check a dimension-values request; errors name the REST fields (field, from, to, subject, limit)."""
    checked_field = breakdown_field(meter, field)
    start, end = check_range(start_us, end_us, required=False, names=REST_RANGE)
    checked_subjects = check_subjects(subjects, field="subject")
    return DimensionValues(meter, checked_field, start, end, checked_subjects, checked_limit(limit))


def dimension_value_row(plan: DimensionValues, text: str, events: int) -> DimensionValueRow:
    return DimensionValueRow(typed_value(text, plan.field_type), text, events)
