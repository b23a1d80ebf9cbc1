"""Keyed bulk calls: the digest of a request and the stored form of its first answer.

Both are computed from domain values, not from any API's messages, so the
same events give the same digest whichever API sent them, and a first
answer stored by one API replays through another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from operator import attrgetter, itemgetter
from typing import Any

from openspanner.domain.events import (
    BulkAnswer,
    BulkRequest,
    EventResult,
    MetadataValue,
    Outcome,
    RefusedEvent,
    StoredEvent,
    UsageEvent,
)
from openspanner.errors import OpenSpannerError

# Bumped when the stored form changes; an answer of another version is not replayed (see decode_answer).
ANSWER_VERSION = 1


def request_digest(request: BulkRequest) -> str:
    """sha256 of the request's key and events, in order, in a canonical text.

    Two requests have the same digest exactly when their events say the same:
    the same keys, subjects, meters, quantities, instants (to the microsecond)
    and metadata values of the same kinds (repr keeps "1", 1.0 and True apart).
    Built a column at a time, so a large keyed bulk call costs little more
    than its own decoding; metadata an edge shared between events is written once.
    """
    events = request.events
    usage = [event for event in events if isinstance(event, UsageEvent)]
    refused = [
        (index, event.idempotency_key, event.subject, event.meter, event.error.field, event.error.message)
        for index, event in enumerate(events)
        if isinstance(event, RefusedEvent)
    ]
    canonical = repr((
        request.idempotency_key,
        len(events),
        refused,
        list(map(_KEY, usage)),
        list(map(_SUBJECT, usage)),
        list(map(_METER, usage)),
        list(map(float, map(_QUANTITY, usage))),
        list(map(_TIMESTAMP, usage)),
        *_metadata_forms(list(map(_METADATA, usage))),
    ))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


_KEY = attrgetter("idempotency_key")
_SUBJECT = attrgetter("subject")
_METER = attrgetter("meter")
_QUANTITY = attrgetter("quantity")
_TIMESTAMP = attrgetter("timestamp_us")
_METADATA = attrgetter("metadata")
_NAME = itemgetter(0)


def _metadata_forms(metadata: list[Mapping[str, MetadataValue]]) -> tuple[list[str], list[int]]:
    """Each distinct metadata as its items in name order, and each event's one by position.

    An edge hands equal metadata of one call as one dict, so each dict object
    is written once; equal dicts that are distinct objects still get one
    form, so the digest does not depend on how an edge shared them.
    """
    by_id = dict(zip(map(id, metadata), metadata, strict=True))
    forms: dict[str, int] = {}
    ordinal_of_id = {
        key: forms.setdefault(repr(sorted(value.items(), key=_NAME)), len(forms)) for key, value in by_id.items()
    }
    return list(forms), list(map(ordinal_of_id.__getitem__, map(id, metadata)))


def encode_answer(answer: BulkAnswer) -> bytes:
    """The answer as JSON, a column per result field: what every result has is written without a
    Python step per result; errors and stored events, which few results of a large call carry,
    are written by position."""
    results = answer.results
    return json.dumps(
        {
            "version": ANSWER_VERSION,
            "accepted": answer.accepted,
            "duplicates": answer.duplicates,
            "rejected": answer.rejected,
            "indexes": list(map(_INDEX, results)),
            "keys": list(map(_RESULT_KEY, results)),
            "outcomes": [outcome.value for outcome in map(_OUTCOME, results)],
            "errors": {
                str(position): _error_form(result.error)
                for position, result in enumerate(results)
                if result.error is not None
            },
            "events": {
                str(position): [_event_form(result.event), result.conflicting_fields]
                for position, result in enumerate(results)
                if result.event is not None
            },
        },
        separators=(",", ":"),
    ).encode()


_INDEX = attrgetter("index")
_RESULT_KEY = attrgetter("idempotency_key")
_OUTCOME = attrgetter("outcome")


def _error_form(error: OpenSpannerError) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "message": error.message,
        "field": error.field,
        "retry_after_seconds": error.retry_after_seconds,
    }


def _event_form(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "key": event.idempotency_key,
        "subject": event.subject,
        "meter": event.meter,
        "quantity": event.quantity,
        "timestamp_us": event.timestamp_us,
        "ingested_at_us": event.ingested_at_us,
        "metadata": dict(event.metadata),
    }


def decode_answer(stored: bytes) -> BulkAnswer | None:
    """The answer `encode_answer` stored, or None for bytes it did not write (another version's)."""
    try:
        form = json.loads(stored)
        if not isinstance(form, dict) or form.get("version") != ANSWER_VERSION:
            return None
        results = [
            EventResult(int(index), str(key), Outcome(outcome))
            for index, key, outcome in zip(form["indexes"], form["keys"], form["outcomes"], strict=True)
        ]
        for position, error in form["errors"].items():
            results[int(position)].error = _error_of(error)
        for position, (event, conflicting) in form["events"].items():
            results[int(position)].event = _event_of(event)
            results[int(position)].conflicting_fields = list(conflicting)
        return BulkAnswer(results, int(form["accepted"]), int(form["duplicates"]), int(form["rejected"]))
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _event_of(form: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        id=str(form["id"]),
        idempotency_key=str(form["key"]),
        subject=str(form["subject"]),
        meter=str(form["meter"]),
        quantity=float(form["quantity"]),
        timestamp_us=int(form["timestamp_us"]),
        ingested_at_us=int(form["ingested_at_us"]),
        metadata=dict(form["metadata"]),
    )


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
