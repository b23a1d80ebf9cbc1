"""/v1/subjects: who used what over a period, every meter at once (the dashboard's subjects page).

One usage query per meter grouped by subject, as `POST /v1/usages/search`
with `group_by: ["subject"]` and no buckets would answer it, so each number
is the meter's own aggregation over the range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from openspanner.domain.paging import MAX_LIMIT
from openspanner.domain.queries import plan_usage_query
from openspanner.domain.times import parse_rfc3339_us
from openspanner.domain.values import SUBJECT
from openspanner.http.context import Deps, authorized
from openspanner.http.wire import query_limit

router = APIRouter(tags=["search"])


class MeterUsage(BaseModel):
    meter: str
    quantity: float | None
    events: int
    unit: str
    aggregation: str


class SubjectUsage(BaseModel):
    subject: str
    usage: list[MeterUsage]


class SubjectList(BaseModel):
    items: list[SubjectUsage]


@router.get(
    "/v1/subjects", response_model=SubjectList, summary="Subjects with their usage of every meter",
    description="Subjects ordered by their number of events over the range, most first.",
    dependencies=[Depends(authorized("/openspanner.v1.QueryService/QueryUsage"))],
)
async def list_subjects(
    services: Deps,
    from_: Annotated[str, Query(alias="from", description="Range start, included (RFC 3339).")],
    to: Annotated[str, Query(description="Range end, excluded (RFC 3339).")],
    limit: Annotated[int, Query(description=f"At most this many subjects, up to {MAX_LIMIT}.")] = 100,
) -> SubjectList:
    limit = query_limit(limit)
    start, end = parse_rfc3339_us(from_, field="from"), parse_rfc3339_us(to, field="to")
    usage: dict[str, list[MeterUsage]] = {}
    for meter in services.catalog.all():
        query = plan_usage_query(
            meter, start_us=start, end_us=end, window_size=None, time_zone_name="", subjects=[], filters=[],
            group_by=[SUBJECT], fill=False,
        )
        for row in await services.reader.usage(query):
            usage.setdefault(row.subject or "", []).append(MeterUsage(
                meter=meter.name, quantity=row.value, events=row.count, unit=meter.unit,
                aggregation=meter.aggregation.value,
            ))
    ranked = sorted(usage.items(), key=lambda item: (-sum(u.events for u in item[1]), item[0]))
    return SubjectList(items=[SubjectUsage(subject=s, usage=u) for s, u in ranked[:limit]])
