"""UsageService: hands events to the ingest pipeline."""

from __future__ import annotations

import grpc

from openspanner.ingest.pipeline import IngestPipeline
from openspanner.services._rpc import rpc
from openspanner.v1 import usage_pb2, usage_pb2_grpc


class UsageService(usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline

    @rpc
    async def RecordUsage(
        self, request: usage_pb2.UsageEvent, context: grpc.aio.ServicerContext
    ) -> usage_pb2.RecordUsageResponse:
        return await self._pipeline.record_one(request)

    @rpc
    async def RecordUsages(
        self, request: usage_pb2.RecordUsagesRequest, context: grpc.aio.ServicerContext
    ) -> usage_pb2.RecordUsagesResponse:
        return await self._pipeline.record_bulk(request)
