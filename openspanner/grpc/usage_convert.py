"""Our gRPC usage messages <-> the write path's domain values, converted once at this edge.

On the way in, a UsageEvent becomes a domain UsageEvent (its Timestamp read
once, in microseconds; its metadata Struct decoded once per distinct Struct
of a call); on the way out, domain results become RecordUsageResponse,
RecordUsagesResponse and StreamAck. Per-event rejections carry the gRPC code
name of their typed error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from google.protobuf import struct_pb2

from openspanner.domain import events as domain
from openspanner.domain.events import MetadataValue, Outcome
from openspanner.errors import OpenSpannerError, status_name
from openspanner.grpc.convert import decode_value, read_timestamp_us, stored_event_to_proto
from openspanner.v1 import usage_pb2

OUTCOME_TO_PROTO: dict[Outcome, usage_pb2.Outcome] = {
    Outcome.ACCEPTED: usage_pb2.ACCEPTED,
    Outcome.DUPLICATE: usage_pb2.DUPLICATE,
    Outcome.REJECTED: usage_pb2.REJECTED,
    Outcome.RETRY: usage_pb2.RETRY,
}


class StructDecoder:
    """Decodes each distinct metadata Struct of one call once, and hands its events the same dict.

    Decoding a Struct is the costliest step of a generic event (~5 us, against
    <1 us to serialize it); equal bytes give the same dict object, which the
    validator then checks once per meter (validate.MetadataCache).
    """

    __slots__ = ("_decoded",)

    def __init__(self) -> None:
        self._decoded: dict[bytes, dict[str, MetadataValue]] = {}

    def decode(self, struct: struct_pb2.Struct) -> dict[str, MetadataValue]:
        if not struct.fields:
            return _NO_METADATA
        key = struct.SerializeToString(deterministic=True)
        found = self._decoded.get(key)
        if found is None:
            found = self._decoded[key] = decode_values(struct.fields.items())
        return found

    def decode_map(self, values: Mapping[str, struct_pb2.Value]) -> dict[str, MetadataValue]:
        """A map<string, Value> field (the product's metadata): the same values as a Struct's fields."""
        if not values:
            return _NO_METADATA
        return decode_values(values.items())


# Shared by every event without metadata; never changed (see domain UsageEvent.metadata).
_NO_METADATA: dict[str, MetadataValue] = {}


def decode_values(items: Iterable[tuple[str, struct_pb2.Value]]) -> dict[str, MetadataValue]:
    return {key: decode_value(value) for key, value in items}


def event_from_proto(message: usage_pb2.UsageEvent, structs: StructDecoder | None = None) -> domain.IncomingEvent:
    """The domain event of a UsageEvent, or a RefusedEvent naming what cannot be read.

    `structs` shares decoded metadata among the events of one call; a single
    event (RecordUsage) has nothing to share, so its Struct is decoded without
    being serialized for a cache key.
    """
    try:
        timestamp_us = read_timestamp_us(message, "timestamp")
    except OpenSpannerError as error:
        return domain.RefusedEvent(message.idempotency_key, message.subject, message.meter, error)
    return domain.UsageEvent(
        idempotency_key=message.idempotency_key,
        subject=message.subject,
        meter=message.meter,
        quantity=message.quantity,
        timestamp_us=timestamp_us,
        metadata=structs.decode(message.metadata) if structs else decode_values(message.metadata.fields.items()),
    )


def events_from_proto(messages: Iterable[usage_pb2.UsageEvent]) -> list[domain.IncomingEvent]:
    structs = StructDecoder()
    return [event_from_proto(message, structs) for message in messages]


def bulk_request_from_proto(request: usage_pb2.RecordUsagesRequest) -> domain.BulkRequest:
    return domain.BulkRequest(
        events=events_from_proto(request.events),
        idempotency_key=request.idempotency_key,
        validate_only=request.validate_only,
    )


def rejection_to_proto(error: OpenSpannerError) -> usage_pb2.Rejection:
    return usage_pb2.Rejection(code=status_name(error), field=error.field, message=error.message)


def record_usage_response(result: domain.EventResult) -> usage_pb2.RecordUsageResponse:
    return usage_pb2.RecordUsageResponse(
        idempotency_key=result.idempotency_key,
        outcome=OUTCOME_TO_PROTO[result.outcome],
        event=None if result.event is None else stored_event_to_proto(result.event),
        conflicting_fields=result.conflicting_fields,
    )


def record_usages_response(answer: domain.BulkAnswer) -> usage_pb2.RecordUsagesResponse:
    response = usage_pb2.RecordUsagesResponse(
        accepted=answer.accepted, duplicates=answer.duplicates, rejected=answer.rejected
    )
    for result in answer.results:
        item = response.results.add(
            index=result.index, idempotency_key=result.idempotency_key, outcome=OUTCOME_TO_PROTO[result.outcome]
        )
        if result.error is not None:
            item.rejection.CopyFrom(rejection_to_proto(result.error))
        if result.event is not None:
            item.event.CopyFrom(stored_event_to_proto(result.event))
            item.conflicting_fields.extend(result.conflicting_fields)
    return response


def stream_ack_to_proto(ack: domain.StreamAck) -> usage_pb2.StreamAck:
    message = usage_pb2.StreamAck()
    for ack_range in ack.ranges:
        item = message.acks.add(
            first_sequence=ack_range.first_sequence,
            last_sequence=ack_range.last_sequence,
            outcome=OUTCOME_TO_PROTO[ack_range.outcome],
        )
        if ack_range.error is not None:
            item.rejection.CopyFrom(rejection_to_proto(ack_range.error))
    return message
