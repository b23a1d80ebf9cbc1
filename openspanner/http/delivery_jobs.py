"""/v1/alerts/delivery-jobs: the durable deliveries, their log per attempt, and manual retry.

A job is one event for one destination (docs/webhooks.md); its id is the
`webhook-id` and `X-Open-Spanner-Delivery-ID` of every attempt.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from openspanner.errors import Unavailable
from openspanner.http.context import Deps, Services, authorized
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import rfc3339
from openspanner.webhooks.model import Attempt, DeliveryJob, JobStatus
from openspanner.webhooks.outbox import Outbox

router = APIRouter(prefix="/v1/alerts/delivery-jobs", tags=["alerts"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.DeliveryService"


class DeliveryAttemptJson(BaseModel):
    """One row of the delivery log, in the product's delivery shape (and its attempt number)."""

    id: str = Field(description="The job id and the attempt number: `<job id>-<attempt>`.")
    job_id: str
    attempt: int
    event_id: str
    trigger_type: str = "webhook"
    status: str = Field(description="delivered or failed")
    status_code: int | None = Field(None, description="The receiver's HTTP status, when it answered.")
    error: str | None = None
    duration_ms: int
    attempted_at: str
    created_at: str


class DeliveryJobJson(BaseModel):
    id: str = Field(description="Also the webhook-id and X-Open-Spanner-Delivery-ID of every attempt.")
    event_kind: str
    event_id: str
    destination_id: str
    status: str = Field(description="pending, running, delivered or dead_letter")
    attempts: int
    next_attempt_at: str | None = Field(None, description="When pending: the next attempt's time.")
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str
    deliveries: list[DeliveryAttemptJson] | None = Field(
        None, description="The delivery log, one row per attempt; in the answer of one job only."
    )


class DeliveryJobList(BaseModel):
    items: list[DeliveryJobJson]


def delivery_job_json(job: DeliveryJob, log: list[Attempt] | None = None) -> DeliveryJobJson:
    return DeliveryJobJson(
        id=job.id,
        event_kind=job.event_kind,
        event_id=job.event_id,
        destination_id=job.destination_id,
        status=job.status.value,
        attempts=job.attempts,
        next_attempt_at=rfc3339(job.next_attempt_at) if job.status is JobStatus.PENDING else None,
        last_status_code=job.last_status_code or None,
        last_error=job.last_error or None,
        created_at=rfc3339(job.created_at),
        updated_at=rfc3339(job.updated_at),
        deliveries=None if log is None else [attempt_json(a) for a in log],
    )


def attempt_json(attempt: Attempt) -> DeliveryAttemptJson:
    """Also for an alert event's latest delivery (Outbox.latest_attempts)."""
    return DeliveryAttemptJson(
        id=f"{attempt.job_id}-{attempt.attempt}",
        job_id=attempt.job_id,
        attempt=attempt.attempt,
        event_id=attempt.event_id,
        status=attempt.status.value,
        status_code=attempt.status_code or None,
        error=attempt.error or None,
        duration_ms=attempt.duration_ms,
        attempted_at=rfc3339(attempt.attempted_at),
        created_at=rfc3339(attempt.attempted_at),
    )


def outbox_of(services: Services) -> Outbox:
    if services.outbox is None:
        raise Unavailable("webhook deliveries are not available on this server")
    return services.outbox


@router.get(
    "", response_model=DeliveryJobList, response_model_exclude_none=True, summary="List delivery jobs, newest first",
    dependencies=[Depends(authorized(f"{_SERVICE}/ListDeliveryJobs"))],
)
async def list_delivery_jobs(
    services: Deps,
    status: Annotated[str | None, Query(description="pending, running, delivered or dead_letter")] = None,
    destination_id: Annotated[str | None, Query()] = None,
    event_id: Annotated[str | None, Query()] = None,
    event_kind: Annotated[str | None, Query(description="alert, destination.test, ...")] = None,
    limit: Annotated[int | None, Query(description="At most this many (50 when left out, at most 200).")] = None,
) -> DeliveryJobList:
    jobs = await outbox_of(services).list_jobs(status, destination_id, event_id, event_kind, limit)
    return DeliveryJobList(items=[delivery_job_json(job) for job in jobs])


@router.get(
    "/{id}", response_model=DeliveryJobJson, response_model_exclude_none=True,
    summary="One delivery job with its delivery log",
    dependencies=[Depends(authorized(f"{_SERVICE}/GetDeliveryJob"))],
)
async def get_delivery_job(id: str, services: Deps) -> DeliveryJobJson:
    outbox = outbox_of(services)
    job = await outbox.get(id)
    return delivery_job_json(job, await outbox.attempts(job.id))


@router.post(
    "/{id}/retry", response_model=DeliveryJobJson, response_model_exclude_none=True,
    summary="Requeue a dead letter now (409 in any other state)",
    dependencies=[Depends(authorized(f"{_SERVICE}/RetryDeliveryJob"))],
)
async def retry_delivery_job(id: str, services: Deps) -> DeliveryJobJson:
    return delivery_job_json(await outbox_of(services).retry(id))
