"""Protobuf <-> domain conversions shared by the servicers."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument
from openspanner.v1 import meter_pb2


def meter_from_proto(message: meter_pb2.Meter, *, aggregation_required: bool = True) -> Meter:
    """The domain meter of a request; an unset aggregation is kept as None only for updates."""
    aggregation = None
    if message.aggregation != meter_pb2.AGGREGATION_UNSPECIFIED:
        aggregation = Aggregation(meter_pb2.Aggregation.Name(message.aggregation))
    elif aggregation_required:
        allowed = ", ".join(a.value for a in Aggregation)
        raise InvalidArgument(f"is required, one of {allowed}", field="aggregation")
    return Meter(
        name=message.name,
        description=message.description,
        unit=message.unit,
        aggregation=aggregation,  # type: ignore[arg-type]
        event_retention_days=message.event_retention_days,
        dimensions=tuple(_dimension(i, d) for i, d in enumerate(message.dimensions)),
    )


def _dimension(index: int, message: meter_pb2.Dimension) -> Dimension:
    if message.type == meter_pb2.DIMENSION_TYPE_UNSPECIFIED:
        allowed = ", ".join(t.value for t in DimensionType)
        raise InvalidArgument(f"is required, one of {allowed}", field=f"dimensions[{index}].type")
    return Dimension(
        name=message.name,
        type=DimensionType(meter_pb2.DimensionType.Name(message.type)),
        required=message.required,
    )


def meter_to_proto(meter: Meter) -> meter_pb2.Meter:
    message = meter_pb2.Meter(
        name=meter.name,
        description=meter.description,
        unit=meter.unit,
        aggregation=meter.aggregation.value,
        event_retention_days=meter.event_retention_days,
        dimensions=[
            meter_pb2.Dimension(
                name=d.name,
                type=d.type.value,
                required=d.required,
            )
            for d in meter.dimensions
        ],
    )
    if meter.create_time:
        message.create_time.CopyFrom(timestamp(meter.create_time))
    if meter.update_time:
        message.update_time.CopyFrom(timestamp(meter.update_time))
    return message


def timestamp(value: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(value)
    return message
