"""Meters: the model and the rules for creating and changing one.

Pure code, no I/O: services decode requests into these types, storage saves
them. Error messages name the field and the rule, because they go to clients
verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from openspanner.errors import FailedPrecondition, InvalidArgument

METER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
DIMENSION_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024
MAX_UNIT_LENGTH = 64
MAX_DIMENSIONS = 64
DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
BUILT_IN_DIMENSIONS = frozenset({"subject"})
UPDATABLE_FIELDS = (
    "description", "unit", "aggregation", "event_retention_days", "dimensions", "unique_dimension"
)


class Aggregation(StrEnum):
    SUM = "sum"
    COUNT = "count"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    RATE = "rate"
    # Distinct values of the meter's unique_dimension; quantity is ignored.
    UNIQUE_COUNT = "unique_count"


class DimensionType(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    NUMBER = "number"


@dataclass(frozen=True)
class Dimension:
    name: str
    type: DimensionType
    # True when a request omits it, as in the product: a declared key is
    # expected on every event unless said otherwise.
    required: bool = True
    # Shown in the dashboard; made from the name when empty.
    display_name: str = ""
    description: str = ""
    # Still accepted on events; tells clients and the dashboard to stop using it.
    deprecated: bool = False


@dataclass(frozen=True)
class Meter:
    name: str
    aggregation: Aggregation
    # A UUID given at creation; the REST resource /v1/meters/{id} is addressed
    # by it (or by name). Events and queries name the meter by `name`.
    id: str = ""
    description: str = ""
    unit: str = ""
    event_retention_days: int = DEFAULT_RETENTION_DAYS
    dimensions: tuple[Dimension, ...] = ()
    create_time: datetime | None = None
    update_time: datetime | None = None
    # The declared dimension whose distinct values a unique_count meter
    # counts; empty for every other aggregation.
    unique_dimension: str = ""
    dimensions_by_name: Mapping[str, Dimension] = field(
        init=False, repr=False, compare=False, hash=False
    )

    # Computed once: the validator reads both for every event.
    required_dimensions: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_name = MappingProxyType({d.name: d for d in self.dimensions})
        object.__setattr__(self, "dimensions_by_name", by_name)
        required = tuple(d.name for d in self.dimensions if d.required)
        object.__setattr__(self, "required_dimensions", required)


def validate_meter(meter: Meter) -> Meter:
    """Check every creation rule; return the meter with defaults filled in."""
    _check_meter_name(meter.name)
    _check_text("description", meter.description, MAX_DESCRIPTION_LENGTH)
    _check_text("unit", meter.unit, MAX_UNIT_LENGTH)
    retention = meter.event_retention_days or DEFAULT_RETENTION_DAYS
    if not MIN_RETENTION_DAYS <= retention <= MAX_RETENTION_DAYS:
        raise InvalidArgument(
            f"must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days, got {retention}",
            field="event_retention_days",
        )
    _check_dimensions(meter.dimensions)
    _check_unique_dimension(meter)
    dimensions = tuple(
        replace(d, display_name=d.display_name or display_name_of(d.name)) for d in meter.dimensions
    )
    return replace(meter, event_retention_days=retention, dimensions=dimensions)


def display_name_of(name: str) -> str:
    """"import_batch" -> "Import batch": the product's default label of a dimension."""
    words = re.split(r"[_.\-]+", name)
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


def apply_update(current: Meter, requested: Meter, fields: tuple[str, ...], *, has_events: bool = True) -> Meter:
    """The meter after an update of `fields`, or the rule it would break.

    Once events are stored, only changes that keep them meaningful are
    allowed: description, unit, retention, dimension labels, and new optional
    dimensions. A meter without events may change in any way but its name.
    """
    unknown = sorted(set(fields) - set(UPDATABLE_FIELDS))
    if unknown:
        raise InvalidArgument(
            f"cannot update {', '.join(unknown)}; updatable fields are {', '.join(UPDATABLE_FIELDS)}"
            " (the name is fixed, and the aggregation too once the meter has events)",
            field="update_mask",
        )
    if has_events and requested.aggregation is not None and requested.aggregation != current.aggregation:
        # A full replacement may repeat the aggregation (or omit it); it may not change it.
        raise FailedPrecondition(
            f"cannot change from {current.aggregation} to {requested.aggregation}: totals already"
            " reported would change meaning; create a new meter instead",
            field="aggregation",
        )
    changes_unique = requested.unique_dimension and requested.unique_dimension != current.unique_dimension
    if has_events and "unique_dimension" in fields and changes_unique:
        raise FailedPrecondition(
            f"cannot change from {current.unique_dimension or 'none'!r} to {requested.unique_dimension!r}:"
            " distinct counts already reported would change meaning; create a new meter instead",
            field="unique_dimension",
        )
    updated = current
    for name in fields:
        if name == "aggregation" and requested.aggregation is None:
            continue  # a full replacement may omit the aggregation
        if name == "unique_dimension" and not requested.unique_dimension:
            continue  # likewise; it is cleared below when the aggregation stops being unique_count
        updated = replace(updated, **{name: getattr(requested, name)})
    if updated.aggregation is not Aggregation.UNIQUE_COUNT and not requested.unique_dimension:
        updated = replace(updated, unique_dimension="")
    if "dimensions" in fields and has_events:
        _check_dimension_change(current.dimensions, requested.dimensions)
    return validate_meter(updated)


def _check_meter_name(name: str) -> None:
    if not name:
        raise InvalidArgument("is required", field="name")
    if len(name) > MAX_NAME_LENGTH or not METER_NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"{name!r} must be lowercase letters, digits and _, start with a letter,"
            f" at most {MAX_NAME_LENGTH} characters",
            field="name",
        )


def _check_text(field_name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(f"must be at most {limit} characters", field=field_name)


def _check_dimensions(dimensions: tuple[Dimension, ...]) -> None:
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidArgument(f"at most {MAX_DIMENSIONS} are allowed", field="dimensions")
    seen: set[str] = set()
    for index, dimension in enumerate(dimensions):
        where = f"dimensions[{index}].name"
        if not dimension.name:
            raise InvalidArgument("is required", field=where)
        if len(dimension.name) > MAX_NAME_LENGTH or not DIMENSION_NAME_RE.fullmatch(dimension.name):
            raise InvalidArgument(
                f"{dimension.name!r} must be letters, digits, _, - and . only,"
                f" at most {MAX_NAME_LENGTH} characters",
                field=where,
            )
        if dimension.name in BUILT_IN_DIMENSIONS:
            raise InvalidArgument(
                f"{dimension.name!r} is built in and must not be declared", field=where
            )
        if dimension.name in seen:
            raise InvalidArgument(f"{dimension.name!r} is declared twice", field=where)
        seen.add(dimension.name)
        _check_text(f"dimensions[{index}].display_name", dimension.display_name, MAX_UNIT_LENGTH)
        _check_text(f"dimensions[{index}].description", dimension.description, MAX_DESCRIPTION_LENGTH)


def _check_unique_dimension(meter: Meter) -> None:
    """unique_count counts the values of one declared dimension; no other aggregation names one."""
    name = meter.unique_dimension
    if meter.aggregation is not Aggregation.UNIQUE_COUNT:
        if name:
            raise InvalidArgument(
                f"is only for aggregation unique_count, got aggregation {meter.aggregation}",
                field="unique_dimension",
            )
        return
    if not name:
        raise InvalidArgument(
            "is required for aggregation unique_count: the dimension whose distinct values are counted",
            field="unique_dimension",
        )
    if name not in meter.dimensions_by_name:
        declared = ", ".join(meter.dimensions_by_name) or "none"
        raise InvalidArgument(
            f"{name!r} is not a declared dimension of the meter (declared: {declared})",
            field="unique_dimension",
        )


def _check_dimension_change(old: tuple[Dimension, ...], new: tuple[Dimension, ...]) -> None:
    new_by_name = {d.name: d for d in new}
    for dimension in old:
        replacement = new_by_name.get(dimension.name)
        if replacement is None:
            raise FailedPrecondition(
                f"{dimension.name!r} cannot be removed: stored events and existing clients use it",
                field="dimensions",
            )
        if replacement.type != dimension.type:
            raise FailedPrecondition(
                f"type of {dimension.name!r} cannot change from {dimension.type} to"
                f" {replacement.type}: stored values were checked against the old type",
                field="dimensions",
            )
        if replacement.required and not dimension.required:
            raise FailedPrecondition(
                f"{dimension.name!r} cannot become required: events from existing clients"
                " without it would start failing",
                field="dimensions",
            )
    old_names = {d.name for d in old}
    for dimension in new:
        if dimension.name not in old_names and dimension.required:
            raise FailedPrecondition(
                f"new dimension {dimension.name!r} must be optional (required: false):"
                " existing clients do not send it",
                field="dimensions",
            )
