"""MeterService: decode the request, ask the catalog, encode the answer."""

from __future__ import annotations

from dataclasses import replace

import grpc

from openspanner.catalog import MeterCatalog
from openspanner.grpc.convert import meter_from_proto, meter_to_proto
from openspanner.grpc.rpc import rpc
from openspanner.v1 import meter_pb2, meter_pb2_grpc


class MeterService(meter_pb2_grpc.MeterServiceServicer):
    def __init__(self, catalog: MeterCatalog) -> None:
        self._catalog = catalog

    @rpc
    async def CreateMeter(
        self, request: meter_pb2.Meter, context: grpc.aio.ServicerContext
    ) -> meter_pb2.Meter:
        return meter_to_proto(await self._catalog.create(meter_from_proto(request)))

    @rpc
    async def GetMeter(
        self, request: meter_pb2.GetMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb2.Meter:
        return meter_to_proto(await self._catalog.get_by_reference(request.name, field="name"))

    @rpc
    async def ListMeters(
        self, request: meter_pb2.ListMetersRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb2.ListMetersResponse:
        meters, next_token = self._catalog.page(request.page_size, request.page_token)
        return meter_pb2.ListMetersResponse(
            meters=[meter_to_proto(m) for m in meters], next_page_token=next_token
        )

    @rpc
    async def UpdateMeter(
        self, request: meter_pb2.UpdateMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb2.Meter:
        requested = meter_from_proto(request.meter, aggregation_required=False)
        current = await self._catalog.get_by_reference(request.meter.name, field="meter.name")
        requested = replace(requested, name=current.name)
        fields = tuple(request.update_mask.paths)
        return meter_to_proto(await self._catalog.update(requested, fields))

    @rpc
    async def DeleteMeter(
        self, request: meter_pb2.DeleteMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb2.DeleteMeterResponse:
        meter = await self._catalog.get_by_reference(request.name, field="name")
        deleted = await self._catalog.delete(meter.name, request.force)
        return meter_pb2.DeleteMeterResponse(deleted_events=deleted)
