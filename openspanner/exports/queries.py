"""What an export reads: its query (a JSON object) checked against its meter into a plan.

The same checks run when a job is created (so a bad query is a 400 naming
its field, never a job that fails later) and when the worker runs it (the
meter may have changed in between). The usage_buckets query is the
product's usage search body; the events query takes the events API's
parameters (GET /v1/meters/{id}/events) as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openspanner.domain.buckets import bucket_window_size, check_bucket_range
from openspanner.domain.filters import parse_filter
from openspanner.domain.meters import Meter
from openspanner.domain.paging import clamped_limit, group_by_names
from openspanner.domain.queries import EventListing, UsageQuery, plan_event_listing, plan_usage_query, raw_filters
from openspanner.domain.times import parse_rfc3339_us
from openspanner.errors import InvalidArgument

BUCKET_FIELDS = frozenset(
    {"subject", "meter", "from", "to", "limit", "filter", "bucket_size", "group_by", "time_zone", "fill"}
)
EVENT_FIELDS = frozenset({"meter", "subject", "start_time", "end_time", "filter"})


@dataclass(frozen=True)
class BucketExport:
    query: UsageQuery
    bucket_size: str
    subject: str
    limit: int


def meter_name(query: Mapping[str, Any]) -> str:
    name = query.get("meter")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("is required", field="query.meter")
    return name


def check_fields(query: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise InvalidArgument(
            f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}", field=f"query.{unknown[0]}"
        )


def plan_bucket_export(meter: Meter, query: Mapping[str, Any]) -> BucketExport:
    """The product's search body as a usage query, as POST /v1/usages/search plans it."""
    check_fields(query, BUCKET_FIELDS)
    size = bucket_window_size(_text(query, "bucket_size", "day"), field="query.bucket_size")
    start, end = check_bucket_range(
        parse_rfc3339_us(_text(query, "from", ""), field="query.from"),
        parse_rfc3339_us(_text(query, "to", ""), field="query.to"),
        size,
    )
    subject = _text(query, "subject", "")
    group_by = query.get("group_by") or []
    if not isinstance(group_by, list) or not all(isinstance(name, str) for name in group_by):
        raise InvalidArgument("must be an array of strings", field="query.group_by")
    fill = query.get("fill", False)
    if not isinstance(fill, bool):
        raise InvalidArgument("must be true or false", field="query.fill")
    limit = query.get("limit") or 0
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise InvalidArgument("must be an integer", field="query.limit")
    planned = plan_usage_query(
        meter,
        start_us=start,
        end_us=end,
        window_size=size,
        time_zone_name=_text(query, "time_zone", ""),
        subjects=[subject] if subject else [],
        filters=[],
        group_by=group_by_names(group_by, drop_repeats=True),
        fill=fill,
        filter_tree=parse_filter(query.get("filter"), meter, field="query.filter"),
    )
    return BucketExport(planned, size.value, subject, clamped_limit(limit, zero_means_default=True))


def plan_event_export(meter: Meter, query: Mapping[str, Any], as_of_us: int) -> EventListing:
    """The events API's listing, every page of it: events stored up to `as_of_us`."""
    check_fields(query, EVENT_FIELDS)
    subjects = query.get("subject") or []
    if isinstance(subjects, str):
        subjects = [subjects]
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise InvalidArgument("must be a string or an array of strings", field="query.subject")
    filters = query.get("filter") or []
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise InvalidArgument('must be an array of "dimension:value" strings', field="query.filter")
    return plan_event_listing(
        meter,
        start_us=_optional_time(query, "start_time"),
        end_us=_optional_time(query, "end_time"),
        subjects=subjects,
        filters=raw_filters(filters, field="query.filter"),
        page_size=1,
        page_token="",
        now_us=as_of_us,
    )


def _text(query: Mapping[str, Any], name: str, default: str) -> str:
    value = query.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidArgument("must be a string", field=f"query.{name}")
    return value


def _optional_time(query: Mapping[str, Any], name: str) -> int | None:
    text = _text(query, name, "")
    return parse_rfc3339_us(text, field=f"query.{name}") if text else None
