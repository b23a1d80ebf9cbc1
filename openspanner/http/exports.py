"""/v1/exports: export jobs, with the product's routes and job JSON (docs/exports.md).

POST answers 202 with the job queued; the worker writes the artifact and
the job moves to completed (or failed); GET .../download answers the file.
Beyond the product: kind `events` (a meter's raw events, any number of
them, with the events API's filters), format `jsonl`, `gzip`, and on the
job its progress (`rows_written`) and when its artifact expires.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from openspanner.errors import Unavailable
from openspanner.exports.jobs import Exports
from openspanner.exports.model import ExportJob, ExportStatus
from openspanner.http.context import Deps, Services, authorized
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.problems import ErrorResponse
from openspanner.http.wire import Strict, rfc3339

router = APIRouter(prefix="/v1/exports", tags=["exports"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.ExportService"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such export job."},
    409: {"model": ErrorResponse, "description": "Not in a state that allows this."},
}


class ExportCreateRequest(Strict):
    kind: str = Field("", description="usage_buckets (the default: the product's kind) or events.")
    format: str = Field("", description="csv (the default), or jsonl for events.")
    query: dict[str, Any] | None = Field(
        None,
        description="usage_buckets: the body of POST /v1/usages/search. events: {meter, subject (one or an array),"
        " start_time, end_time, filter: [\"dimension:value\", ...]}, the parameters of GET /v1/meters/{id}/events.",
    )
    gzip: bool = Field(False, description="Extension: the artifact gzip-compressed.")


class ExportJobJson(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued, running, completed, failed or canceled")
    format: str
    query: dict[str, Any]
    error: str | None = None
    artifact_size: int | None = Field(None, description="Bytes of the artifact, once completed.")
    download_url: str | None = Field(None, description="Once completed, until the artifact expires.")
    created_at: str
    updated_at: str
    completed_at: str | None = None
    gzip: bool = Field(description="Extension: the artifact is gzip-compressed.")
    rows_written: int = Field(description="Extension: rows written so far (all of them once completed).")
    expires_at: str | None = Field(None, description="Extension: when the artifact is deleted.")


class ExportJobList(BaseModel):
    items: list[ExportJobJson]
    next_cursor: str | None = None


def export_job_json(job: ExportJob, exports: Exports) -> ExportJobJson:
    expires = exports.expires_at(job)
    return ExportJobJson(
        id=job.id,
        kind=job.kind.value,
        status=job.status.value,
        format=job.format.value,
        query=json.loads(job.query),
        error=job.error or None,
        artifact_size=job.artifact_size or None,
        download_url=f"/v1/exports/{job.id}/download" if expires is not None else None,
        created_at=rfc3339(job.created_at),
        updated_at=rfc3339(job.updated_at),
        completed_at=None if job.completed_at is None or job.status is ExportStatus.QUEUED
        else rfc3339(job.completed_at),
        gzip=job.gzip,
        rows_written=job.rows_written,
        expires_at=None if expires is None else rfc3339(expires),
    )


def exports_of(services: Services) -> Exports:
    if services.exports is None:
        raise Unavailable("export jobs are not available on this server")
    return services.exports


@router.post(
    "", status_code=202, response_model=ExportJobJson, response_model_exclude_none=True,
    summary="Queue an export job", responses={400: {"model": ErrorResponse}, **_ERRORS},
    dependencies=[Depends(authorized(f"{_SERVICE}/CreateExport"))],
)
async def create_export(body: ExportCreateRequest, services: Deps) -> ExportJobJson:
    exports = exports_of(services)
    job = await exports.create(body.kind, body.format, body.query, body.gzip)
    return export_job_json(job, exports)


@router.get(
    "", response_model=ExportJobList, response_model_exclude_none=True, summary="List export jobs, newest first",
    dependencies=[Depends(authorized(f"{_SERVICE}/ListExports"))],
)
async def list_exports(
    services: Deps,
    limit: Annotated[int | None, Query(description="Page size, 1..1000 (100 when left out).")] = None,
    cursor: Annotated[str, Query(description="next_cursor of the previous page.")] = "",
) -> ExportJobList:
    exports = exports_of(services)
    jobs, next_cursor = await exports.list(limit, cursor)
    return ExportJobList(items=[export_job_json(job, exports) for job in jobs], next_cursor=next_cursor or None)


@router.get(
    "/{id}", response_model=ExportJobJson, response_model_exclude_none=True, summary="One export job",
    responses=_ERRORS, dependencies=[Depends(authorized(f"{_SERVICE}/GetExport"))],
)
async def get_export(id: str, services: Deps) -> ExportJobJson:
    exports = exports_of(services)
    return export_job_json(await exports.get(id), exports)


@router.post(
    "/{id}/cancel", response_model=ExportJobJson, response_model_exclude_none=True,
    summary="Cancel a queued or running export (409 otherwise)", responses=_ERRORS,
    dependencies=[Depends(authorized(f"{_SERVICE}/CancelExport"))],
)
async def cancel_export(id: str, services: Deps) -> ExportJobJson:
    exports = exports_of(services)
    return export_job_json(await exports.cancel(id), exports)


@router.post(
    "/{id}/retry", response_model=ExportJobJson, response_model_exclude_none=True,
    summary="Queue a failed or canceled export again (409 otherwise)", responses=_ERRORS,
    dependencies=[Depends(authorized(f"{_SERVICE}/RetryExport"))],
)
async def retry_export(id: str, services: Deps) -> ExportJobJson:
    exports = exports_of(services)
    return export_job_json(await exports.retry(id), exports)


@router.get(
    "/{id}/download", response_class=FileResponse, summary="The artifact of a completed export (409 until then)",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}, "application/gzip": {}}}, **_ERRORS},
    dependencies=[Depends(authorized(f"{_SERVICE}/DownloadExport"))],
)
async def download_export(id: str, services: Deps) -> FileResponse:
    artifact = await exports_of(services).artifact(id)
    return FileResponse(artifact.path, media_type=artifact.media_type, filename=artifact.filename)
