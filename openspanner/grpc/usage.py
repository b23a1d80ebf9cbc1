"""UsageService: our gRPC write API, converted to domain events on the way in and back on the way out."""

from __future__ import annotations

from typing import Any

import grpc

from openspanner.domain.events import StreamAck
from openspanner.grpc.rpc import rpc
from openspanner.grpc.streams import (
    DeviceTelemetryAdapter,
    GenericAdapter,
    QueueThroughputAdapter,
    WebSocketSessionAdapter,
)
from openspanner.grpc.usage_convert import (
    bulk_request_from_proto,
    event_from_proto,
    record_usage_response,
    record_usages_response,
    stream_ack_to_proto,
)
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.ingest.streams import StreamAdapter
from openspanner.v1 import usage_pb2, usage_pb2_grpc


class UsageService(usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline

    @rpc
    async def RecordUsage(
        self, request: usage_pb2.UsageEvent, context: grpc.aio.ServicerContext
    ) -> usage_pb2.RecordUsageResponse:
        result = await self._pipeline.record_one(event_from_proto(request))
        return record_usage_response(result)

    @rpc
    async def RecordUsages(
        self, request: usage_pb2.RecordUsagesRequest, context: grpc.aio.ServicerContext
    ) -> usage_pb2.RecordUsagesResponse:
        return record_usages_response(await self._pipeline.record_bulk(bulk_request_from_proto(request)))

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

    async def _stream(self, adapter: StreamAdapter, requests: Any, context: grpc.aio.ServicerContext) -> None:
        async def write(ack: StreamAck) -> None:
            await context.write(stream_ack_to_proto(ack))

        await self._pipeline.serve_stream(adapter, requests, write)
