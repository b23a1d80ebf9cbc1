"""The product's `open_spanner.v1` messages <-> ours, in one place.

The product's gRPC API (open_spanner_usage.proto) is served by our own
pipeline, so its requests become our UsageEvents on the way in and our
answers become its messages on the way out; nothing else about the two APIs
differs in code. Pure functions: no I/O, no pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from openspanner.errors import error_of_code
from openspanner.http.errors import rest_code_of_rejection
from openspanner.ingest.decode import key_or_generated
from openspanner.v1 import event_pb2, open_spanner_usage_pb2, usage_pb2

# The product's bulk limit (its client documents "at most 1000 events"); the
# server's own max_bulk_events lowers it, never raises it.
PRODUCT_MAX_BULK_EVENTS = 1000

ProductBulkAnswer = TypeVar(
    "ProductBulkAnswer", open_spanner_usage_pb2.CreateUsageBulkResponse, open_spanner_usage_pb2.StreamUsageResponse
)


def event_from_product(message: open_spanner_usage_pb2.UsageEventInput) -> usage_pb2.UsageEvent:
    """Our UsageEvent of a product event; an unset timestamp stays unset (the receive time)."""
    event = usage_pb2.UsageEvent(
        idempotency_key=key_or_generated(message.idempotency_key),
        subject=message.subject,
        meter=message.meter,
        quantity=message.quantity,
    )
    if message.HasField("timestamp"):
        event.timestamp.CopyFrom(message.timestamp)
    # A Struct is a map of Values too: the values are copied as they came, so
    # validation sees exactly what the client sent (a null is "not given").
    for key, value in message.metadata.items():
        event.metadata.fields[key].CopyFrom(value)
    return event


def request_from_product(
    idempotency_key: str, events: Iterable[open_spanner_usage_pb2.UsageEventInput]
) -> usage_pb2.RecordUsagesRequest:
    return usage_pb2.RecordUsagesRequest(
        idempotency_key=idempotency_key, events=[event_from_product(e) for e in events]
    )


def product_event(stored: event_pb2.StoredEvent) -> open_spanner_usage_pb2.UsageEvent:
    """The product's UsageEvent of a stored event: `received_at` is our ingest time."""
    event = open_spanner_usage_pb2.UsageEvent(
        id=stored.id,
        idempotency_key=stored.idempotency_key,
        subject=stored.subject,
        meter=stored.meter,
        quantity=stored.quantity,
    )
    if stored.HasField("timestamp"):
        event.timestamp.CopyFrom(stored.timestamp)
    if stored.HasField("ingest_time"):
        event.received_at.CopyFrom(stored.ingest_time)
    for key, value in stored.metadata.fields.items():
        event.metadata[key].CopyFrom(value)
    return event


def product_failure(index: int, rejection: usage_pb2.Rejection) -> open_spanner_usage_pb2.BulkFailure:
    """The product's failure (the same code and message as a failed item of REST bulk)."""
    code, message = rest_code_of_rejection(error_of_code(rejection.code, rejection.message, field=rejection.field))
    return open_spanner_usage_pb2.BulkFailure(index=index, code=code, message=message)


def fill_product_bulk_answer(answer: ProductBulkAnswer, ours: usage_pb2.RecordUsagesResponse) -> ProductBulkAnswer:
    """Fill the product's bulk answer (CreateUsageBulkResponse or StreamUsageResponse,
    the same fields) from ours, keeping request order within each list."""
    answer.accepted_count = ours.accepted
    answer.duplicate_count = ours.duplicates
    answer.failed_count = ours.rejected
    for result in ours.results:
        if result.outcome == usage_pb2.REJECTED:
            answer.failed.append(product_failure(result.index, result.rejection))
        elif result.outcome == usage_pb2.ACCEPTED:
            answer.accepted.append(_result_event(result))
        elif result.outcome == usage_pb2.DUPLICATE:
            answer.duplicates.append(_result_event(result))
    return answer


def _result_event(result: usage_pb2.EventResult) -> open_spanner_usage_pb2.UsageEvent:
    """The stored event of a result; a result without one (a first answer stored by our own
    RecordUsages, which answers no accepted events, replayed here) gives what it knows: the key."""
    if result.HasField("event"):
        return product_event(result.event)
    return open_spanner_usage_pb2.UsageEvent(idempotency_key=result.idempotency_key)


def bulk_limit(max_bulk_events: int) -> int:
    """Events one product bulk call or stream may carry on this server."""
    return min(PRODUCT_MAX_BULK_EVENTS, max_bulk_events)
