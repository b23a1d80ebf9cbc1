"""Usage queries and event listings: the requests, their rules, and the answer rows.

Pure code. A request is checked against its meter into a plan (UsageQuery or
EventListing) that storage turns into SQL; the aggregated groups storage
returns are turned into answer rows here (windows, rate, fill, order), so
that every rule of the answer lives in one place and can be tested without a
database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from openspanner.domain.filters import FilterNode
from openspanner.domain.meters import Aggregation, DimensionType, Meter
from openspanner.domain.paging import checked_limit
from openspanner.domain.values import (
    MAX_FILTER_VALUES,
    MAX_TIME_US,
    MIN_TIME_US,
    SUBJECT,
    GroupValue,
    RawValue,
    Unsupported,
    check_range,
    check_subjects,
    describe_value,
    stored_text,
    typed_value,
    value_from_text,
)
from openspanner.domain.windows import Window, WindowSize, time_zone, windows
from openspanner.errors import InvalidArgument

MAX_GROUP_BY = 5
MAX_ROWS = 100_000
# Aggregations whose value for "no events" is 0 rather than "no value".
ZERO_WHEN_EMPTY = frozenset({Aggregation.SUM, Aggregation.COUNT, Aggregation.RATE, Aggregation.UNIQUE_COUNT})


@dataclass(frozen=True)
class RawFilter:
    dimension: str
    values: tuple[RawValue | Unsupported, ...]


@dataclass(frozen=True)
class Filter:
    """Keep events whose `dimension` has one of `values` (stored text), or lacks it if `match_absent`."""

    dimension: str
    values: tuple[str, ...]
    match_absent: bool = False


@dataclass(frozen=True)
class UsageQuery:
    meter: Meter
    start_us: int
    end_us: int
    window_size: WindowSize | None
    time_zone: str
    windows: tuple[Window, ...]
    subjects: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    group_by: tuple[str, ...] = ()
    fill: bool = False
    # The REST API's filter tree (domain/filters.py), ANDed with `filters`.
    filter_tree: FilterNode | None = None

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The group_by names other than subject, in order."""
        return tuple(name for name in self.group_by if name != SUBJECT)

    @property
    def by_subject(self) -> bool:
        return SUBJECT in self.group_by


@dataclass(frozen=True)
class GroupAggregate:
    """One group as storage returns it: window bucket, subject, dimension texts, count, value."""

    bucket: int
    subject: str | None
    dimensions: tuple[str | None, ...]
    count: int
    value: float | None


@dataclass(frozen=True)
class UsageRow:
    window: Window
    subject: str | None
    group: tuple[tuple[str, GroupValue], ...]
    value: float | None
    count: int


def plan_usage_query(
    meter: Meter,
    *,
    start_us: int | None,
    end_us: int | None,
    window_size: WindowSize | None,
    time_zone_name: str,
    subjects: Sequence[str],
    filters: Sequence[RawFilter],
    group_by: Sequence[str],
    fill: bool,
    filter_tree: FilterNode | None = None,
) -> UsageQuery:
    """Check a QueryUsage request against its meter; every problem names its field.

    `filter_tree` comes checked against the same meter (filters.parse_filter).
    """
    start, end = check_range(start_us, end_us, required=True)
    assert start is not None and end is not None
    zone = time_zone(time_zone_name)
    checked_group_by = _group_by(meter, group_by)
    checked_filters = tuple(_filter(meter, i, f) for i, f in enumerate(filters))
    check_subjects(subjects, field="subjects")
    return UsageQuery(
        meter=meter,
        start_us=start,
        end_us=end,
        window_size=window_size,
        time_zone=str(zone.key),
        windows=tuple(windows(start, end, window_size, zone)),
        subjects=tuple(subjects),
        filters=checked_filters,
        group_by=checked_group_by,
        fill=fill,
        filter_tree=filter_tree,
    )


def _group_by(meter: Meter, names: Sequence[str]) -> tuple[str, ...]:
    if len(names) > MAX_GROUP_BY:
        raise InvalidArgument(f"at most {MAX_GROUP_BY} names, got {len(names)}", field="group_by")
    seen: set[str] = set()
    for name in names:
        if name != SUBJECT and name not in meter.dimensions_by_name:
            raise InvalidArgument(_unknown_dimension(meter, name), field="group_by")
        if name in seen:
            raise InvalidArgument(f"{name!r} is named twice", field="group_by")
        seen.add(name)
    return tuple(names)


def _unknown_dimension(meter: Meter, name: str) -> str:
    declared = ", ".join([SUBJECT, *meter.dimensions_by_name])
    return f"unknown dimension {name!r} of meter {meter.name!r} (declared: {declared})"


def _filter(meter: Meter, index: int, raw: RawFilter) -> Filter:
    where = f"filters[{index}]"
    if raw.dimension == SUBJECT:
        dimension_type = DimensionType.STRING
    elif raw.dimension in meter.dimensions_by_name:
        dimension_type = meter.dimensions_by_name[raw.dimension].type
    else:
        raise InvalidArgument(_unknown_dimension(meter, raw.dimension), field=f"{where}.dimension")
    if not raw.values:
        raise InvalidArgument("is required: one value for equals, several for in", field=f"{where}.values")
    if len(raw.values) > MAX_FILTER_VALUES:
        raise InvalidArgument(f"at most {MAX_FILTER_VALUES:,} values", field=f"{where}.values")
    texts: list[str] = []
    match_absent = False
    for position, value in enumerate(raw.values):
        if value is None and raw.dimension != SUBJECT:
            match_absent = True
            continue
        if isinstance(value, str):
            value = value_from_text(value, dimension_type)
        text = stored_text(value, dimension_type)
        if text is None:
            raise InvalidArgument(
                f"must be a {dimension_type} like dimension {raw.dimension!r}, got {describe_value(value)}",
                field=f"{where}.values[{position}]",
            )
        texts.append(text)
    return Filter(raw.dimension, tuple(texts), match_absent)


def usage_rows(query: UsageQuery, groups: Iterable[GroupAggregate]) -> list[UsageRow]:
    """Answer rows from storage's groups: windows attached, rate divided, empty windows filled, ordered."""
    by_bucket = {w.bucket: w for w in query.windows}
    aggregation = query.meter.aggregation
    dimension_types = [query.meter.dimensions_by_name[name].type for name in query.dimensions]
    rows: dict[tuple[int, str | None, tuple[str | None, ...]], UsageRow] = {}
    for g in groups:
        window = by_bucket.get(g.bucket if query.window_size else 0)
        if window is None:  # storage and windows.py disagree on the zone's rules
            raise RuntimeError(f"bucket {g.bucket} is not a window of {query.time_zone}")
        value = g.value
        if aggregation is Aggregation.RATE and value is not None:
            value = value / window.seconds
        rows[(window.bucket, g.subject, g.dimensions)] = UsageRow(
            window, g.subject, _group(query, g.dimensions, dimension_types), value, g.count
        )
    if query.fill:
        series = {(subject, dims) for _, subject, dims in rows} or (
            {(None, ())} if not query.group_by else set()
        )
        if len(series) * len(query.windows) > MAX_ROWS:
            raise too_many_rows()
        empty = 0.0 if aggregation in ZERO_WHEN_EMPTY else None
        for window in query.windows:
            for subject, dims in series:
                rows.setdefault(
                    (window.bucket, subject, dims),
                    UsageRow(window, subject, _group(query, dims, dimension_types), empty, 0),
                )
    return sorted(rows.values(), key=_row_order)


def _group(
    query: UsageQuery, texts: tuple[str | None, ...], types: list[DimensionType]
) -> tuple[tuple[str, GroupValue], ...]:
    return tuple(
        (name, typed_value(text, t)) for name, text, t in zip(query.dimensions, texts, types, strict=True)
    )


def _row_order(row: UsageRow) -> tuple[Any, ...]:
    return (
        row.window.start_us,
        row.subject or "",
        tuple((value is not None, value) for _, value in row.group),
    )


def too_many_rows() -> InvalidArgument:
    """The error for an answer of more than MAX_ROWS rows (grouped or filled)."""
    return InvalidArgument(
        f"the answer would have more than {MAX_ROWS:,} rows; group by fewer names, use a larger"
        " window_size, a shorter range, or filters",
        field="group_by",
    )


# ---- ListEvents -------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last event's timestamp and idempotency key."""

    timestamp_us: int
    idempotency_key: str


@dataclass(frozen=True)
class EventListing:
    meter: Meter
    start_us: int | None
    end_us: int | None
    subjects: tuple[str, ...]
    filters: tuple[Filter, ...]
    page_size: int
    # Events stored after this instant are left out of every page.
    as_of_us: int
    after: Cursor | None
    fingerprint: str
    # The REST API's filter tree (domain/filters.py), ANDed with `filters`.
    filter_tree: FilterNode | None = None


def plan_event_listing(
    meter: Meter,
    *,
    start_us: int | None,
    end_us: int | None,
    subjects: Sequence[str],
    filters: Sequence[RawFilter],
    page_size: int,
    page_token: str,
    now_us: int,
    filter_tree: FilterNode | None = None,
    token_field: str = "page_token",
) -> EventListing:
    start, end = check_range(start_us, end_us, required=False)
    size = checked_limit(page_size, field="page_size")
    check_subjects(subjects, field="subjects")
    checked = tuple(_filter(meter, i, f) for i, f in enumerate(filters))
    # A token is only valid for the listing it came from.
    filter_identity = [[f.dimension, list(f.values), f.match_absent] for f in checked]
    identity: list[Any] = [meter.name, start, end, list(subjects), filter_identity]
    if filter_tree is not None:  # appended only then: tokens of listings without one stay valid
        identity.append(filter_tree.identity())
    fingerprint = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    as_of, after = now_us, None
    if page_token:
        as_of, after = _decode_token(page_token, fingerprint, token_field)
    return EventListing(
        meter,
        start,
        end,
        tuple(subjects),
        checked,
        size,
        as_of,
        after,
        fingerprint,
        filter_tree,
    )


def next_page_token(listing: EventListing, last: Cursor) -> str:
    payload = {"t": last.timestamp_us, "k": last.idempotency_key, "a": listing.as_of_us, "f": listing.fingerprint}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str, field: str) -> tuple[int, Cursor]:
    """The snapshot time and cursor of a token; `field` names the token as the request does.

    A token is the client's to send, so anything is refused by name: bytes
    that are not base64 of JSON, JSON nested to a RecursionError, numbers
    beyond storage's Int64 microseconds, text no UTF-8 encoder takes.
    """
    refused = InvalidArgument("is not a page token of ListEvents", field=field)
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise refused from None
    if not isinstance(payload, dict):
        raise refused
    as_of, after_us, key, token_fingerprint = (payload.get(name) for name in ("a", "t", "k", "f"))
    if not (_is_time_us(as_of) and _is_time_us(after_us) and _is_text(key) and isinstance(token_fingerprint, str)):
        raise refused
    if token_fingerprint != fingerprint:
        raise InvalidArgument(
            "belongs to a different listing: meter, range, subjects and filters must stay the same"
            " from page to page",
            field=field,
        )
    return as_of, Cursor(after_us, key)


def _is_time_us(value: object) -> TypeGuard[int]:
    return type(value) is int and MIN_TIME_US <= value <= MAX_TIME_US


def _is_text(value: object) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def raw_filters(params: list[str], field: str = "filter") -> list[RawFilter]:
    """`model:gpt-4.1`, `model:claude` -> one filter on model with both values, in first-seen order;
    `null` matches events without the dimension (as the events API reads its `filter` parameter)."""
    values: dict[str, list[str | None]] = {}
    for param in params:
        dimension, colon, value = param.partition(":")
        if not colon or not dimension:
            raise InvalidArgument(f"{param!r} must be dimension:value", field=field)
        values.setdefault(dimension, []).append(None if value == "null" else value)
    return [RawFilter(dimension, tuple(v)) for dimension, v in values.items()]
