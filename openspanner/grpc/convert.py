"""Protobuf <-> domain conversions shared by the servicers."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

from openspanner.domain.events import EventRecord, event_id
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.domain.values import typed_value
from openspanner.errors import InvalidArgument
from openspanner.v1 import event_pb2, meter_pb2


def meter_from_proto(message: meter_pb2.Meter, *, aggregation_required: bool = True) -> Meter:
    """The domain meter of a request; an unset aggregation is kept as None only for updates."""
    aggregation = None
    if message.aggregation != meter_pb2.AGGREGATION_UNSPECIFIED:
        aggregation = Aggregation(enum_name(meter_pb2.Aggregation, message.aggregation, "aggregation"))
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
        type=DimensionType(enum_name(meter_pb2.DimensionType, message.type, f"dimensions[{index}].type")),
        required=message.required if message.HasField("required") else True,
        display_name=message.display_name,
        description=message.description,
        deprecated=message.deprecated,
    )


def enum_name(enum: EnumTypeWrapper, number: int, field: str) -> str:
    """The name of an enum number a request carries. Enums of proto3 are open: a client may
    send any int32, and one no version of the enum declares is refused by the field's name."""
    try:
        return str(enum.Name(number))
    except ValueError:
        names = enum.keys()
        declared = ", ".join(name for name in names if not name.endswith("UNSPECIFIED"))
        raise InvalidArgument(f"unknown value {number}, must be one of {declared}", field=field) from None


def meter_to_proto(meter: Meter) -> meter_pb2.Meter:
    message = meter_pb2.Meter(
        id=meter.id,
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
                display_name=d.display_name,
                description=d.description,
                deprecated=d.deprecated,
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


def stored_event_to_proto(meter: Meter, record: EventRecord) -> event_pb2.StoredEvent:
    message = event_pb2.StoredEvent(
        id=event_id(meter.name, record.idempotency_key),
        idempotency_key=record.idempotency_key,
        subject=record.subject,
        meter=meter.name,
        quantity=record.quantity,
        timestamp=timestamp_of_us(record.timestamp_us),
        ingest_time=timestamp_of_us(record.ingested_at_us),
    )
    dimensions = meter.dimensions_by_name
    message.metadata.update({
        key: typed_value(text, dimensions[key].type if key in dimensions else DimensionType.STRING)
        for key, text in record.metadata.items()
    })
    return message


def timestamp_of_us(us: int) -> Timestamp:
    return Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)
