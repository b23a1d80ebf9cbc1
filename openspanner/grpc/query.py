"""QueryService: decode the request, plan it against its meter, run it, encode the rows."""

from __future__ import annotations

import time
from collections.abc import Iterable

import grpc

from openspanner.domain.events import stored_event
from openspanner.domain.paging import group_by_names
from openspanner.domain.queries import RawFilter, plan_event_listing, plan_usage_query
from openspanner.domain.windows import WindowSize
from openspanner.errors import InvalidArgument
from openspanner.grpc.convert import decode_value, read_timestamp_us, stored_event_to_proto, timestamp_of_us
from openspanner.grpc.rpc import rpc
from openspanner.query.reader import UsageReader
from openspanner.v1 import query_pb2, query_pb2_grpc


class QueryService(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, reader: UsageReader) -> None:
        self._reader = reader

    @rpc
    async def QueryUsage(
        self, request: query_pb2.QueryUsageRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.QueryUsageResponse:
        meter = await self._reader.meter(request.meter)
        query = plan_usage_query(
            meter,
            start_us=read_timestamp_us(request, "start_time"),
            end_us=read_timestamp_us(request, "end_time"),
            window_size=_window_size(request.window_size),
            time_zone_name=request.time_zone,
            subjects=list(request.subjects),
            filters=_filters(request.filters),
            group_by=group_by_names(request.group_by, drop_repeats=False),
            fill=request.fill,
        )
        response = query_pb2.QueryUsageResponse(
            aggregation=meter.aggregation.value, time_zone=query.time_zone
        )
        for row in await self._reader.usage(query):
            message = response.rows.add(
                window_start=timestamp_of_us(row.window.start_us),
                window_end=timestamp_of_us(row.window.end_us),
                subject=row.subject or "",
                event_count=row.count,
            )
            if row.value is not None:
                message.value = row.value
            if row.group:
                message.group.update(dict(row.group))
        return response

    @rpc
    async def ListEvents(
        self, request: query_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ListEventsResponse:
        meter = await self._reader.meter(request.meter)
        listing = plan_event_listing(
            meter,
            start_us=read_timestamp_us(request, "start_time"),
            end_us=read_timestamp_us(request, "end_time"),
            subjects=list(request.subjects),
            filters=_filters(request.filters),
            page_size=request.page_size,
            page_token=request.page_token,
            now_us=time.time_ns() // 1000,
        )
        page, next_token = await self._reader.events(listing)
        return query_pb2.ListEventsResponse(
            events=[stored_event_to_proto(stored_event(meter, r)) for r in page], next_page_token=next_token
        )


def _window_size(value: int) -> WindowSize | None:
    if value == query_pb2.WINDOW_SIZE_UNSPECIFIED:
        return None
    try:
        return WindowSize(query_pb2.WindowSize.Name(value))
    except ValueError:
        raise InvalidArgument(f"unknown window size {value}", field="window_size") from None


def _filters(messages: Iterable[query_pb2.DimensionFilter]) -> list[RawFilter]:
    return [RawFilter(m.dimension, tuple(decode_value(v) for v in m.values)) for m in messages]
