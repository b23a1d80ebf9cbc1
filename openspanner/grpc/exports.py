"""ExportService: export jobs over gRPC, the same core calls as REST /v1/exports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc

from openspanner.errors import InvalidArgument, OpenSpannerError
from openspanner.exports.jobs import Exports
from openspanner.exports.model import ExportJob
from openspanner.grpc.convert import timestamp
from openspanner.grpc.handlers import abort
from openspanner.grpc.rpc import rpc
from openspanner.logging import get_logger
from openspanner.v1 import export_pb2, export_pb2_grpc

log = get_logger(__name__)

# Pieces of a download: small enough for any message limit, large enough to be few.
CHUNK_BYTES = 1024 * 1024


class ExportService(export_pb2_grpc.ExportServiceServicer):
    def __init__(self, exports: Exports) -> None:
        self._exports = exports

    @rpc
    async def CreateExport(
        self, request: export_pb2.CreateExportRequest, context: grpc.aio.ServicerContext
    ) -> export_pb2.CreateExportResponse:
        try:
            query = json.loads(request.query_json) if request.query_json else None
        except ValueError as exc:
            raise InvalidArgument(f"is not JSON: {exc}", field="query_json") from None
        job = await self._exports.create(request.kind, request.format, query, request.gzip)
        return export_pb2.CreateExportResponse(export=self._to_proto(job))

    @rpc
    async def ListExports(
        self, request: export_pb2.ListExportsRequest, context: grpc.aio.ServicerContext
    ) -> export_pb2.ListExportsResponse:
        jobs, cursor = await self._exports.list(request.limit or None, request.cursor)
        return export_pb2.ListExportsResponse(exports=[self._to_proto(job) for job in jobs], next_cursor=cursor)

    @rpc
    async def GetExport(
        self, request: export_pb2.GetExportRequest, context: grpc.aio.ServicerContext
    ) -> export_pb2.GetExportResponse:
        return export_pb2.GetExportResponse(export=self._to_proto(await self._exports.get(request.id)))

    @rpc
    async def CancelExport(
        self, request: export_pb2.CancelExportRequest, context: grpc.aio.ServicerContext
    ) -> export_pb2.CancelExportResponse:
        return export_pb2.CancelExportResponse(export=self._to_proto(await self._exports.cancel(request.id)))

    @rpc
    async def RetryExport(
        self, request: export_pb2.RetryExportRequest, context: grpc.aio.ServicerContext
    ) -> export_pb2.RetryExportResponse:
        return export_pb2.RetryExportResponse(export=self._to_proto(await self._exports.retry(request.id)))

    async def DownloadExport(
        self, request: export_pb2.DownloadExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[export_pb2.DownloadExportResponse]:
        """The artifact read a chunk at a time (a stream, so `@rpc` cannot wrap it: errors are
        turned into statuses here, before the first chunk)."""
        try:
            artifact = await self._exports.artifact(request.id)
            file = open(artifact.path, "rb")  # noqa: SIM115 - closed below, across yields
        except OpenSpannerError as error:
            await abort(context, error)
        except OSError:
            log.exception("export artifact unreadable", export=request.id)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        with file:
            while chunk := file.read(CHUNK_BYTES):
                yield export_pb2.DownloadExportResponse(chunk=chunk)

    def _to_proto(self, job: ExportJob) -> export_pb2.ExportJob:
        message = export_pb2.ExportJob(
            id=job.id, kind=job.kind.value, status=job.status.value, format=job.format.value,
            query_json=job.query, error=job.error, artifact_size=job.artifact_size,
            create_time=timestamp(job.created_at), update_time=timestamp(job.updated_at), gzip=job.gzip,
            rows_written=job.rows_written,
        )
        expires = self._exports.expires_at(job)
        if expires is not None:
            message.download_url = f"/v1/exports/{job.id}/download"
            message.expire_time.CopyFrom(timestamp(expires))
        if job.completed_at is not None and job.status.value != "queued":
            message.complete_time.CopyFrom(timestamp(job.completed_at))
        return message
