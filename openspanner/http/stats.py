"""/v1/stats/overview and /v1/stats/ingest: what this server's ingest did lately.

For the dashboard's overview and ingest-health pages. Accepted, duplicate and
rejected counts, rates, rejections and open streams are this server's own,
in memory since it started (ingest/stats.py); stored events and the latest
event per meter are read from storage, so they hold for the deployment.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from openspanner.domain.times import format_rfc3339
from openspanner.http.context import Deps, authorized
from openspanner.ingest.stats import RATE_WINDOW_SECONDS

router = APIRouter(prefix="/v1/stats", tags=["stats"])
_READ = [Depends(authorized("/openspanner.v1.QueryService/QueryUsage"))]
HOUR, DAY = 3600, 86_400


def _time(seconds: float) -> str:
    return format_rfc3339(int(seconds * 1_000_000))


class OutcomeCounts(BaseModel):
    accepted: int
    duplicates: int
    rejected: int


class MeterOverview(BaseModel):
    meter: str
    last_hour: OutcomeCounts = Field(description="This server's answers over the last hour.")
    last_day: OutcomeCounts
    latest_event_at: str | None = Field(description="Timestamp of the meter's latest stored event.")
    stored_events: int


class Overview(BaseModel):
    started_at: str = Field(description="When this server started; its counts begin there.")
    stored_events: int
    open_streams: int
    meters: list[MeterOverview]


class Rate(BaseModel):
    meter: str
    path: str = Field(description="unary, bulk, or stream:<type>.")
    accepted_per_second: float
    duplicates_per_second: float
    rejected_per_second: float


class RejectionExample(BaseModel):
    at: str
    idempotency_key: str
    subject: str
    message: str


class Rejections(BaseModel):
    meter: str
    field: str
    rule: str
    count: int
    latest: list[RejectionExample] = Field(description="The latest examples, newest last.")


class StreamHealth(BaseModel):
    id: str
    kind: str
    meters: list[str]
    opened_at: str
    events_acknowledged: int
    ack_latency_ms_p50: float | None
    ack_latency_ms_p99: float | None


class IngestHealth(BaseModel):
    window_seconds: int
    rates: list[Rate]
    rejections: list[Rejections]
    streams: list[StreamHealth]


def _counts(values: tuple[int, int, int]) -> OutcomeCounts:
    return OutcomeCounts(accepted=values[0], duplicates=values[1], rejected=values[2])


@router.get("/overview", response_model=Overview, summary="Per meter: recent answers and stored events",
            dependencies=_READ)
async def overview(services: Deps) -> Overview:
    stats = services.pipeline.stats
    stored = await services.reader.meter_summaries()
    names = sorted({m.name for m in services.catalog.all()} | set(stats.meters()))
    meters = [
        MeterOverview(
            meter=name,
            last_hour=_counts(stats.totals(name, HOUR)),
            last_day=_counts(stats.totals(name, DAY)),
            latest_event_at=format_rfc3339(stored[name][1]) if name in stored else None,
            stored_events=stored.get(name, (0, 0))[0],
        )
        for name in names
    ]
    return Overview(
        started_at=_time(stats.started_at),
        stored_events=sum(count for count, _ in stored.values()),
        open_streams=len(stats.open_streams()),
        meters=meters,
    )


@router.get("/ingest", response_model=IngestHealth, summary="Rates, rejections and open streams, live",
            dependencies=_READ)
async def ingest(services: Deps) -> IngestHealth:
    stats = services.pipeline.stats
    return IngestHealth(
        window_seconds=RATE_WINDOW_SECONDS,
        rates=[
            Rate(meter=m, path=p, accepted_per_second=a, duplicates_per_second=d, rejected_per_second=r)
            for m, p, a, d, r in stats.rates()
        ],
        rejections=[
            Rejections(
                meter=kind.meter, field=kind.field, rule=kind.rule, count=kind.count,
                latest=[
                    RejectionExample(at=_time(e.at), idempotency_key=e.idempotency_key, subject=e.subject,
                                     message=e.message)
                    for e in kind.latest
                ],
            )
            for kind in stats.rejection_kinds()
        ],
        streams=[
            StreamHealth(
                id=s.id, kind=s.kind, meters=list(s.meters), opened_at=_time(s.opened_at),
                events_acknowledged=s.events_acknowledged,
                ack_latency_ms_p50=s.latency_ms(0.5), ack_latency_ms_p99=s.latency_ms(0.99),
            )
            for s in stats.open_streams()
        ],
    )
