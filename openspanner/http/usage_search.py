"""Search, breakdowns, CSV export and dimension values: the product's read routes.

POST /v1/usages/search answers the meter's aggregate per bucket (hour, day,
month; our minute too) over [from, to), optionally per group and through a
filter tree; GET and POST /v1/usages/export answer the same buckets as CSV.
A breakdown is the top values of one dimension; dimension values are the
values a dimension took, for pickers. Beyond the product: `time_zone`
aligns buckets in a zone, `fill` answers empty buckets, and every bucket
carries its end, its event count and its group values typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from openspanner.domain.breakdowns import plan_breakdown, plan_dimension_values
from openspanner.domain.buckets import (
    BucketCsvRow,
    bucket_csv,
    bucket_window_size,
    check_bucket_range,
    group_value_text,
)
from openspanner.domain.filters import FilterNode, parse_filter
from openspanner.domain.meters import Meter
from openspanner.domain.paging import MAX_LIMIT, clamped_limit, group_by_names
from openspanner.domain.queries import UsageQuery, UsageRow, plan_usage_query
from openspanner.domain.times import format_rfc3339, parse_rfc3339_us
from openspanner.domain.values import SUBJECT
from openspanner.http.context import Deps, Services, authorized
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.problems import ErrorResponse
from openspanner.http.wire import Strict, query_limit

router = APIRouter(prefix="/v1/usages", tags=["search"], route_class=JsonBodyRoute)
_READ = [Depends(authorized("/openspanner.v1.QueryService/QueryUsage"))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse}, 404: {"model": ErrorResponse, "description": "No such meter."}
}


class UsageFilter(Strict):
    """A group `{"type": "group", "op": "and"|"or", "rules": [...]}` or a condition
    `{"type": "condition", "field": ..., "op": ..., "value": ...}`. Condition ops: eq, neq, gt, gte,
    lt, lte, in (value: a non-empty array), contains (strings), exists (no value). Fields: subject,
    meter, quantity, timestamp (or event_time), received_at, idempotency_key, metadata.<dimension>.
    `type` may be left out: `rules` makes a group, `field` a condition."""

    type: str | None = Field(None, description="group or condition.")
    op: str | None = None
    rules: list[UsageFilter] | None = None
    field: str | None = None
    value: Any = Field(None, description="Typed as the field: a number for number dimensions and quantity.")


class _Range(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subject: str = Field("", description="Only this subject's events.")
    meter: str = Field(description="The meter's name.")
    from_: str = Field(alias="from", description="Range start, included (RFC 3339).")
    to: str = Field(description="Range end, excluded (RFC 3339).")
    limit: int = Field(0, description=f"At most this many items, up to {MAX_LIMIT}; 0 means 100.")
    filter: UsageFilter | None = None


class UsageSearchRequest(_Range):
    bucket_size: str = Field("day", description="hour, day or month (our extension: minute).")
    group_by: list[str] = Field(default_factory=list, description="Up to 5 dimensions, or subject.")
    time_zone: str = Field("", description="Extension: IANA zone buckets are aligned in; UTC by default.")
    fill: bool = Field(False, description="Extension: also answer buckets without events.")


class UsageBucket(BaseModel):
    subject: str
    meter: str
    bucket_size: str
    bucket_start: str
    bucket_end: str = Field(description="Extension: where the bucket ends (clipped to `to`).")
    aggregation: str
    unit: str
    quantity: float | None = Field(description="The aggregate; null only for an empty filled bucket.")
    events: int = Field(description="Extension: the number of events in the bucket.")
    group: dict[str, str] = Field(description="The group_by values as text (as in the product).")
    group_values: dict[str, Any] = Field(description="Extension: the group_by values, typed as declared.")


class UsageBreakdownRequest(_Range):
    field: str = Field(description="subject, or a dimension (bare or as metadata.<dimension>).")


class UsageBreakdownItem(BaseModel):
    field: str
    value: str
    typed_value: Any = Field(description="Extension: the value typed as the dimension declares it.")
    quantity: float
    events: int
    aggregation: str
    unit: str


class UsageBreakdownListResponse(BaseModel):
    items: list[UsageBreakdownItem]


class UsageDimensionValue(BaseModel):
    field: str
    value: str
    typed_value: Any = Field(description="Extension: the value typed as the dimension declares it.")
    events: int


class UsageDimensionValueListResponse(BaseModel):
    items: list[UsageDimensionValue]


@dataclass(frozen=True)
class _Buckets:
    query: UsageQuery
    rows: list[UsageRow]
    bucket_size: str
    subject: str


def _limit(value: int) -> int:
    """A body's limit: 0 is an omitted JSON number, so the default."""
    return clamped_limit(value, zero_means_default=True)


def _filter_tree(body: _Range, meter: Meter) -> FilterNode | None:
    raw = None if body.filter is None else body.filter.model_dump(exclude_unset=True)
    return parse_filter(raw, meter)


async def _buckets(body: UsageSearchRequest, services: Services) -> _Buckets:
    meter = await services.reader.meter(body.meter)
    size = bucket_window_size(body.bucket_size)
    start, end = check_bucket_range(
        parse_rfc3339_us(body.from_, field="from"), parse_rfc3339_us(body.to, field="to"), size
    )
    query = plan_usage_query(
        meter,
        start_us=start,
        end_us=end,
        window_size=size,
        time_zone_name=body.time_zone,
        subjects=[body.subject] if body.subject else [],
        filters=[],
        group_by=group_by_names(body.group_by, drop_repeats=True),
        fill=body.fill,
        filter_tree=_filter_tree(body, meter),
    )
    rows = (await services.reader.usage(query))[: _limit(body.limit)]
    return _Buckets(query, rows, size.value, body.subject)


def _bucket(found: _Buckets, row: UsageRow) -> UsageBucket:
    meter = found.query.meter
    group: dict[str, Any] = dict(row.group)
    if row.subject is not None:
        group = {SUBJECT: row.subject, **group}
    return UsageBucket(
        subject=row.subject or found.subject,
        meter=meter.name,
        bucket_size=found.bucket_size,
        # The bucket's own start, as the product reports it, even where `from` clips it.
        bucket_start=format_rfc3339(row.window.bucket * 1_000_000),
        bucket_end=format_rfc3339(row.window.end_us),
        aggregation=meter.aggregation.value,
        unit=meter.unit,
        quantity=row.value,
        events=row.count,
        group={name: group_value_text(value) for name, value in group.items()},
        group_values=group,
    )


@router.post(
    "/search", response_model=list[UsageBucket], summary="Usage per bucket", dependencies=_READ, responses=_ERRORS
)
async def search_usage_buckets(body: UsageSearchRequest, services: Deps) -> list[UsageBucket]:
    found = await _buckets(body, services)
    return [_bucket(found, row) for row in found.rows]


def _csv(found: _Buckets) -> Response:
    meter = found.query.meter
    rows = (
        BucketCsvRow(
            bucket_start_us=row.window.bucket * 1_000_000,
            subject=row.subject or found.subject,
            meter=meter.name,
            bucket_size=found.bucket_size,
            aggregation=meter.aggregation.value,
            unit=meter.unit,
            quantity=row.value,
            group=dict(row.group),
        )
        for row in found.rows
    )
    return Response(
        bucket_csv(rows, found.query.group_by),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="usage-buckets.csv"'},
    )


_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The buckets as CSV."}
}


@router.post(
    "/export", response_class=Response, summary="Usage per bucket as CSV", dependencies=_READ,
    responses={**_CSV, **_ERRORS},
)
async def export_filtered_usage_buckets(body: UsageSearchRequest, services: Deps) -> Response:
    return _csv(await _buckets(body, services))


@router.get(
    "/export", response_class=Response, summary="Usage per bucket as CSV (query parameters)", dependencies=_READ,
    responses={**_CSV, **_ERRORS},
)
async def export_usage_buckets(
    services: Deps,
    meter: Annotated[str, Query(description="The meter's name.")],
    from_: Annotated[str, Query(alias="from", description="Range start, included (RFC 3339).")],
    to: Annotated[str, Query(description="Range end, excluded (RFC 3339).")],
    subject: Annotated[str, Query()] = "",
    bucket_size: Annotated[str, Query(description="hour, day or month (or minute).")] = "day",
    group_by: Annotated[list[str], Query(description="Repeated or comma-separated.")] = [],  # noqa: B006
    limit: Annotated[int, Query(description=f"At most {MAX_LIMIT} buckets; 100 by default.")] = 100,
    time_zone: Annotated[str, Query(description="Extension: IANA zone buckets are aligned in.")] = "",
) -> Response:
    body = UsageSearchRequest.model_validate({
        "meter": meter, "from": from_, "to": to, "subject": subject, "bucket_size": bucket_size,
        "group_by": group_by, "limit": query_limit(limit), "time_zone": time_zone,
    })
    return _csv(await _buckets(body, services))


@router.post(
    "/breakdowns/search", response_model=UsageBreakdownListResponse, summary="Top values of one dimension",
    dependencies=_READ, responses=_ERRORS,
)
async def search_usage_breakdown(body: UsageBreakdownRequest, services: Deps) -> UsageBreakdownListResponse:
    meter = await services.reader.meter(body.meter)
    plan = plan_breakdown(
        meter,
        body.field,
        parse_rfc3339_us(body.from_, field="from"),
        parse_rfc3339_us(body.to, field="to"),
        subjects=[body.subject] if body.subject else [],
        filter_tree=_filter_tree(body, meter),
        limit=_limit(body.limit),
    )
    return UsageBreakdownListResponse(items=[
        UsageBreakdownItem(
            field=plan.field, value=row.text, typed_value=row.value, quantity=row.quantity, events=row.events,
            aggregation=meter.aggregation.value, unit=meter.unit,
        )
        for row in await services.reader.breakdown(plan)
    ])


@router.get(
    "/dimensions", response_model=UsageDimensionValueListResponse, summary="Values a dimension took",
    dependencies=_READ, responses=_ERRORS,
)
async def list_usage_dimension_values(
    services: Deps,
    meter: Annotated[str, Query(description="The meter's name.")],
    field: Annotated[str, Query(description="subject, or a dimension (bare or as metadata.<dimension>).")],
    subject: Annotated[str, Query()] = "",
    from_: Annotated[str | None, Query(alias="from", description="Optional range start (RFC 3339).")] = None,
    to: Annotated[str | None, Query(description="Optional range end (RFC 3339).")] = None,
    limit: Annotated[int, Query(description=f"At most {MAX_LIMIT} values; 100 by default.")] = 100,
) -> UsageDimensionValueListResponse:
    checked = await services.reader.meter(meter)
    plan = plan_dimension_values(
        checked,
        field,
        start_us=None if from_ is None else parse_rfc3339_us(from_, field="from"),
        end_us=None if to is None else parse_rfc3339_us(to, field="to"),
        subjects=[subject] if subject else [],
        limit=query_limit(limit),
    )
    return UsageDimensionValueListResponse(items=[
        UsageDimensionValue(field=plan.field, value=row.text, typed_value=row.value, events=row.events)
        for row in await services.reader.dimension_values(plan)
    ])
