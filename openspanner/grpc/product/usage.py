"""open_spanner.v1.UsageService: the product's gRPC API, served by our pipeline.

The product's official client (`open_spanner_client.StreamClient`) calls
this service unchanged. Each call is converted to domain events (convert.py) and run
through the same pipeline calls as our own RecordUsage and RecordUsages, so
validation, batching, the pending bound and exactly-once are the same
whichever API an event came through. (Over REST, http/usages.py serves the
product's equivalents.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from openspanner.domain.events import BulkAnswer, BulkRequest
from openspanner.errors import InvalidArgument
from openspanner.grpc.product.convert import (
    event_from_product,
    fill_product_bulk_answer,
    request_from_product,
    result_event,
)
from openspanner.grpc.rpc import rpc
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.logging import get_logger
from openspanner.v1 import open_spanner_usage_pb2, open_spanner_usage_pb2_grpc

log = get_logger(__name__)

# The call metadata that carries a stream's batch key (the product's client
# sends it there: a client-streaming call has no first message to hold it).
BATCH_KEY_METADATA = "idempotency-key"


class ProductUsageService(open_spanner_usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, pipeline: IngestPipeline, max_events: int) -> None:
        """`max_events`: what one bulk call or stream may carry (the product's 1000, or less)."""
        self._pipeline = pipeline
        self._max_events = max_events

    @rpc
    async def CreateUsage(
        self, request: open_spanner_usage_pb2.CreateUsageRequest, context: grpc.aio.ServicerContext
    ) -> open_spanner_usage_pb2.CreateUsageResponse:
        # A refused event raises its typed error here, so `@rpc` answers it
        # as RecordUsage would (status, field in the BadRequest detail).
        answer = await self._pipeline.record_one(event_from_product(request.event))
        return open_spanner_usage_pb2.CreateUsageResponse(event=result_event(answer))

    @rpc
    async def CreateUsageBulk(
        self, request: open_spanner_usage_pb2.CreateUsageBulkRequest, context: grpc.aio.ServicerContext
    ) -> open_spanner_usage_pb2.CreateUsageBulkResponse:
        if len(request.events) > self._max_events:
            raise InvalidArgument(f"at most {self._max_events} per call, got {len(request.events)}", field="events")
        ours = await self._record_bulk(request_from_product(request.idempotency_key, request.events))
        return fill_product_bulk_answer(open_spanner_usage_pb2.CreateUsageBulkResponse(), ours)

    @rpc
    async def StreamUsage(
        self,
        requests: AsyncIterator[open_spanner_usage_pb2.StreamUsageRequest],
        context: grpc.aio.ServicerContext,
    ) -> open_spanner_usage_pb2.StreamUsageResponse:
        key = _batch_key(context)
        events = await self._read_stream(requests, key)
        ours = await self._record_bulk(request_from_product(key, events))
        return fill_product_bulk_answer(open_spanner_usage_pb2.StreamUsageResponse(), ours)

    async def _read_stream(
        self, requests: AsyncIterator[open_spanner_usage_pb2.StreamUsageRequest], key: str
    ) -> list[open_spanner_usage_pb2.UsageEventInput]:
        """Every event of the stream, up to the half-close; refused as soon as one too many
        arrives, so a runaway stream is not held in memory."""
        events: list[open_spanner_usage_pb2.UsageEventInput] = []
        async for request in requests:
            if len(events) == self._max_events:
                log.info("product stream refused: too many events", bulk_key=key, max_events=self._max_events)
                raise InvalidArgument(
                    f"at most {self._max_events} per stream; this stream sent more", field="events"
                )
            events.append(request.event)
        log.debug("product stream read", bulk_key=key, events=len(events))
        return events

    async def _record_bulk(self, request: BulkRequest) -> BulkAnswer:
        # The product's contract: accepted events are answered with the stored
        # event, and a reused batch key replays the first answer whatever the
        # new body (its clients rebuild a retried batch with new timestamps).
        return await self._pipeline.record_bulk(request, answer_accepted=True, replay_reused_key=True)


def _batch_key(context: grpc.aio.ServicerContext) -> str:
    return next((str(value) for key, value in context.invocation_metadata() or () if key == BATCH_KEY_METADATA), "")
