"""The product's `open_spanner.v1` messages <-> the write path's domain values, in one place.

The product's gRPC API (open_spanner_usage.proto) is served by our own
pipeline: its requests become domain events on the way in and domain
answers become its messages on the way out, each converted once (no pass
through our own API's messages). Pure functions: no I/O, no pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf import struct_pb2

from openspanner.domain import events as domain
from openspanner.domain.events import Outcome, key_or_generated
from openspanner.errors import OpenSpannerError
from openspanner.grpc.convert import read_timestamp_us, timestamp_of_us
from openspanner.grpc.usage_convert import StructDecoder
from openspanner.product_errors import rejection_code
from openspanner.v1 import open_spanner_usage_pb2

# The product's bulk limit (its client documents "at most 1000 events"); the
# server's own max_bulk_events lowers it, never raises it.
PRODUCT_MAX_BULK_EVENTS = 1000

ProductBulkAnswer = TypeVar(
    "ProductBulkAnswer", open_spanner_usage_pb2.CreateUsageBulkResponse, open_spanner_usage_pb2.StreamUsageResponse
)


def event_from_product(
    message: open_spanner_usage_pb2.UsageEventInput, structs: StructDecoder | None = None
) -> domain.IncomingEvent:
    """The domain event of a product event; an unset timestamp stays unset (the receive time).

    Metadata values are read as they came, so validation sees exactly what
    the client sent (a null is "not given").
    """
    key = key_or_generated(message.idempotency_key)
    try:
        timestamp_us = read_timestamp_us(message, "timestamp")
    except OpenSpannerError as error:
        return domain.RefusedEvent(key, message.subject, message.meter, error)
    return domain.UsageEvent(
        idempotency_key=key,
        subject=message.subject,
        meter=message.meter,
        quantity=message.quantity,
        timestamp_us=timestamp_us,
        metadata=(structs or StructDecoder()).decode_map(message.metadata),
    )


def request_from_product(
    idempotency_key: str, events: Iterable[open_spanner_usage_pb2.UsageEventInput]
) -> domain.BulkRequest:
    structs = StructDecoder()
    return domain.BulkRequest(
        events=[event_from_product(e, structs) for e in events], idempotency_key=idempotency_key
    )


def product_event(stored: domain.StoredEvent) -> open_spanner_usage_pb2.UsageEvent:
    """The product's UsageEvent of a stored event: `received_at` is our ingest time."""
    event = open_spanner_usage_pb2.UsageEvent(
        id=stored.id,
        idempotency_key=stored.idempotency_key,
        subject=stored.subject,
        meter=stored.meter,
        quantity=stored.quantity,
        timestamp=timestamp_of_us(stored.timestamp_us),
        received_at=timestamp_of_us(stored.ingested_at_us),
    )
    for key, value in stored.metadata.items():
        event.metadata[key].CopyFrom(_value(value))
    return event


def _value(value: domain.TypedValue) -> struct_pb2.Value:
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, str):
        return struct_pb2.Value(string_value=value)
    return struct_pb2.Value(number_value=value)


def product_failure(index: int, error: OpenSpannerError) -> open_spanner_usage_pb2.BulkFailure:
    """The product's failure (the same code and message as a failed item of REST bulk)."""
    code, message = rejection_code(error)
    return open_spanner_usage_pb2.BulkFailure(index=index, code=code, message=message)


def fill_product_bulk_answer(answer: ProductBulkAnswer, ours: domain.BulkAnswer) -> ProductBulkAnswer:
    """Fill the product's bulk answer (CreateUsageBulkResponse or StreamUsageResponse,
    the same fields) from ours, keeping request order within each list."""
    answer.accepted_count = ours.accepted
    answer.duplicate_count = ours.duplicates
    answer.failed_count = ours.rejected
    for result in ours.results:
        if result.outcome is Outcome.REJECTED and result.error is not None:
            answer.failed.append(product_failure(result.index, result.error))
        elif result.outcome is Outcome.ACCEPTED:
            answer.accepted.append(result_event(result))
        elif result.outcome is Outcome.DUPLICATE:
            answer.duplicates.append(result_event(result))
    return answer


def result_event(result: domain.EventResult) -> open_spanner_usage_pb2.UsageEvent:
    """The stored event of a result; a result without one (a first answer stored by our own
    RecordUsages, which answers no accepted events, replayed here) gives what it knows: the key."""
    if result.event is not None:
        return product_event(result.event)
    return open_spanner_usage_pb2.UsageEvent(idempotency_key=result.idempotency_key)


def bulk_limit(max_bulk_events: int) -> int:
    """Events one product bulk call or stream may carry on this server."""
    return min(PRODUCT_MAX_BULK_EVENTS, max_bulk_events)
