"""Keyed bulk calls: the digest of a request and the stored form of its first answer.

Both are computed from domain values, not from any API's messages, so the
same events give the same digest whichever API sent them, and a first
answer stored by one API replays through another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from openspanner.domain.events import (
    BulkAnswer,
    BulkRequest,
    EventResult,
    IncomingEvent,
    MetadataValue,
    Outcome,
    RefusedEvent,
    StoredEvent,
    UnsupportedValue,
)
from openspanner.errors import OpenSpannerError

# Bumped when the stored form changes; an answer of another version is not replayed (see decode_answer).
ANSWER_VERSION = 1


def request_digest(request: BulkRequest) -> str:
    """sha256 of the request's events, in order, as canonical JSON.

    Two requests have the same digest exactly when their events say the same:
    the same keys, subjects, meters, quantities, instants (to the microsecond)
    and metadata values of the same kinds.
    """
    canonical = json.dumps(
        [request.idempotency_key, [_event_form(event) for event in request.events]],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _event_form(event: IncomingEvent) -> list[Any]:
    if isinstance(event, RefusedEvent):
        error = event.error
        return ["refused", event.idempotency_key, event.subject, event.meter, error.field, error.message]
    return [
        "event",
        event.idempotency_key,
        event.subject,
        event.meter,
        float(event.quantity),
        event.timestamp_us,
        sorted((name, _value_form(value)) for name, value in event.metadata.items()),
    ]


def _value_form(value: MetadataValue) -> Any:
    """A metadata value with its kind kept: "1", 1.0 and true stay three different forms."""
    if isinstance(value, UnsupportedValue):
        return {"unsupported": value.kind}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return float(value)


def encode_answer(answer: BulkAnswer) -> bytes:
    return json.dumps(
        {
            "version": ANSWER_VERSION,
            "accepted": answer.accepted,
            "duplicates": answer.duplicates,
            "rejected": answer.rejected,
            "results": [_result_form(result) for result in answer.results],
        },
        separators=(",", ":"),
    ).encode()


def _result_form(result: EventResult) -> dict[str, Any]:
    form: dict[str, Any] = {"index": result.index, "key": result.idempotency_key, "outcome": result.outcome.value}
    if result.error is not None:
        form["error"] = {
            "type": type(result.error).__name__,
            "message": result.error.message,
            "field": result.error.field,
            "retry_after_seconds": result.error.retry_after_seconds,
        }
    if result.event is not None:
        event = result.event
        form["event"] = {
            "id": event.id,
            "key": event.idempotency_key,
            "subject": event.subject,
            "meter": event.meter,
            "quantity": event.quantity,
            "timestamp_us": event.timestamp_us,
            "ingested_at_us": event.ingested_at_us,
            "metadata": dict(event.metadata),
        }
        form["conflicting_fields"] = result.conflicting_fields
    return form


def decode_answer(stored: bytes) -> BulkAnswer | None:
    """The answer `encode_answer` stored, or None for bytes it did not write (another version's)."""
    try:
        form = json.loads(stored)
        if not isinstance(form, dict) or form.get("version") != ANSWER_VERSION:
            return None
        results = [_result_of(item) for item in form["results"]]
        return BulkAnswer(results, int(form["accepted"]), int(form["duplicates"]), int(form["rejected"]))
    except (ValueError, KeyError, TypeError):
        return None


def _result_of(form: Mapping[str, Any]) -> EventResult:
    result = EventResult(int(form["index"]), str(form["key"]), Outcome(form["outcome"]))
    if (error := form.get("error")) is not None:
        result.error = _error_of(error)
    if (event := form.get("event")) is not None:
        result.event = StoredEvent(
            id=event["id"],
            idempotency_key=event["key"],
            subject=event["subject"],
            meter=event["meter"],
            quantity=float(event["quantity"]),
            timestamp_us=int(event["timestamp_us"]),
            ingested_at_us=int(event["ingested_at_us"]),
            metadata=event["metadata"],
        )
        result.conflicting_fields = list(form.get("conflicting_fields", []))
    return result


def _error_of(form: Mapping[str, Any]) -> OpenSpannerError:
    """The typed error a result was answered with, so its code on every API is the one first answered."""
    error_type = next((c for c in _subclasses(OpenSpannerError) if c.__name__ == form["type"]), OpenSpannerError)
    error = error_type.__new__(error_type)
    OpenSpannerError.__init__(
        error, form["message"], field=form["field"], retry_after_seconds=form.get("retry_after_seconds")
    )
    return error


def _subclasses(base: type[OpenSpannerError]) -> Iterator[type[OpenSpannerError]]:
    for subclass in base.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)
