"""UsageService: hands events to the ingest pipeline."""

from __future__ import annotations

from typing import Any

import grpc

from openspanner.grpc.rpc import rpc
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.ingest.streams import (
    Adapter,
    DeviceTelemetryAdapter,
    GenericAdapter,
    QueueThroughputAdapter,
    WebSocketSessionAdapter,
)
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

    @rpc
    async def StreamUsage(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._stream(GenericAdapter(), requests, context)

    @rpc
    async def StreamDeviceTelemetry(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._stream(DeviceTelemetryAdapter(), requests, context)

    @rpc
    async def StreamWebSocketSessions(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._stream(WebSocketSessionAdapter(), requests, context)

    @rpc
    async def StreamQueueThroughput(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._stream(QueueThroughputAdapter(), requests, context)

    async def _stream(self, adapter: Adapter, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._pipeline.serve_stream(adapter, requests, context.write)
