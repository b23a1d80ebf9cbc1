"""/v1/meters/{id}/usage and /v1/meters/{id}/events: our QueryUsage and ListEvents over HTTP.

What the product's search does not offer is here: minute windows, time
zones, every subject list and filter, empty windows filled, typed group
values, and raw events page by page.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from openspanner.domain.events import stored_event
from openspanner.domain.paging import group_by_names
from openspanner.domain.queries import plan_event_listing, plan_usage_query, raw_filters
from openspanner.domain.times import format_rfc3339
from openspanner.domain.windows import WindowSize
from openspanner.http.context import Deps, authorized
from openspanner.http.wire import UsageEvent, query_limit, us_of, usage_event

router = APIRouter(prefix="/v1/meters/{id}", tags=["queries"])
_SERVICE = "/openspanner.v1.QueryService"

FilterParam = Annotated[
    list[str],
    Query(
        description="`dimension:value`, repeatable; several values of one dimension mean any of them. A value "
        "reads as the dimension's type; `null` matches events without the dimension. `subject:` works too."
    ),
]
SubjectParam = Annotated[list[str], Query(description="Only these subjects; repeatable.")]


class UsageRow(BaseModel):
    window_start: str
    window_end: str
    subject: str | None = Field(None, description="Set when group_by names subject.")
    group: dict[str, Any] = Field(description="The group_by dimension values, typed as the meter declares them.")
    value: float | None = Field(description="The aggregate; null for an empty window of avg, min, max, first, last.")
    event_count: int


class UsageResponse(BaseModel):
    rows: list[UsageRow]
    aggregation: str
    time_zone: str


class EventPage(BaseModel):
    items: list[UsageEvent]
    next_cursor: str | None = Field(None, description="Cursor of the next page; absent on the last page.")


def optional_us(moment: AwareDatetime | None) -> int | None:
    return None if moment is None else us_of(moment)


@router.get(
    "/usage", response_model=UsageResponse, response_model_exclude_none=True,
    summary="Aggregate a meter's usage", dependencies=[Depends(authorized(f"{_SERVICE}/QueryUsage"))],
)
async def query_usage(
    id: str,
    services: Deps,
    start_time: Annotated[AwareDatetime, Query(description="Range start, included (RFC 3339).")],
    end_time: Annotated[AwareDatetime, Query(description="Range end, excluded.")],
    window_size: Annotated[Literal["minute", "hour", "day", "month"] | None, Query()] = None,
    time_zone: Annotated[str, Query(description="IANA name windows are aligned in; UTC by default.")] = "",
    subject: SubjectParam = [],  # noqa: B006 - FastAPI copies defaults
    filter: FilterParam = [],  # noqa: B006
    group_by: Annotated[list[str], Query(description="Dimensions or subject, repeatable; at most 5.")] = [],  # noqa: B006
    fill: Annotated[bool, Query(description="Also answer windows without events.")] = False,
) -> UsageResponse:
    meter = await services.catalog.get_by_reference(id)
    query = plan_usage_query(
        meter,
        start_us=us_of(start_time),
        end_us=us_of(end_time),
        window_size=WindowSize(window_size) if window_size else None,
        time_zone_name=time_zone,
        subjects=subject,
        filters=raw_filters(filter),
        group_by=group_by_names(group_by, drop_repeats=True),
        fill=fill,
    )
    rows = await services.reader.usage(query)
    return UsageResponse(
        rows=[
            UsageRow(
                window_start=format_rfc3339(row.window.start_us),
                window_end=format_rfc3339(row.window.end_us),
                subject=row.subject,
                group=dict(row.group),
                value=row.value,
                event_count=row.count,
            )
            for row in rows
        ],
        aggregation=meter.aggregation.value,
        time_zone=query.time_zone,
    )


@router.get(
    "/events", response_model=EventPage, response_model_exclude_none=True,
    summary="A meter's raw events, newest first", dependencies=[Depends(authorized(f"{_SERVICE}/ListEvents"))],
)
async def list_events(
    id: str,
    services: Deps,
    start_time: Annotated[AwareDatetime | None, Query()] = None,
    end_time: Annotated[AwareDatetime | None, Query()] = None,
    subject: SubjectParam = [],  # noqa: B006
    filter: FilterParam = [],  # noqa: B006
    limit: Annotated[int, Query(description="Page size, 1..1000.")] = 100,
    cursor: Annotated[str, Query(description="next_cursor of the previous page; other parameters unchanged.")] = "",
) -> EventPage:
    meter = await services.catalog.get_by_reference(id)
    listing = plan_event_listing(
        meter,
        start_us=optional_us(start_time),
        end_us=optional_us(end_time),
        subjects=subject,
        filters=raw_filters(filter),
        page_size=query_limit(limit),
        page_token=cursor,
        now_us=time.time_ns() // 1000,
        token_field="cursor",
    )
    page, next_token = await services.reader.events(listing)
    return EventPage(
        items=[usage_event(stored_event(meter, record)) for record in page], next_cursor=next_token or None
    )

