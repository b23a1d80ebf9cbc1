"""REST usage bodies -> domain events, and domain answers -> the product's JSON, with no protobuf between."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from openspanner.domain.events import BulkAnswer, EventResult, Outcome, StoredEvent
from openspanner.domain.values import Unsupported
from openspanner.errors import InvalidArgument, NotFound
from openspanner.http.usages import UsageCreateRequest, bulk_result, domain_event
from openspanner.http.wire import usage_event

STORED = StoredEvent(
    id="1d2c", idempotency_key="a", subject="org", meter="calls", quantity=1.5, timestamp_us=1_700_000_000_000_001,
    ingested_at_us=1_700_000_001_000_000, metadata={"region": "eu", "cached": True, "tokens": 12.0},
)


def test_a_body_becomes_a_domain_event_with_its_instant_in_microseconds() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=2)))
    body = UsageCreateRequest(
        idempotency_key="k", subject="org", meter="calls", quantity=2, timestamp=at,
        metadata={"region": "eu", "cached": False, "tokens": 12, "ratio": 0.5, "gone": None},
    )
    event = domain_event(body)
    assert (event.idempotency_key, event.subject, event.meter, event.quantity) == ("k", "org", "calls", 2.0)
    assert event.timestamp_us == int(at.timestamp()) * 1_000_000 + 678_901
    assert event.metadata == {"region": "eu", "cached": False, "tokens": 12.0, "ratio": 0.5, "gone": None}
    assert isinstance(event.metadata["tokens"], float)


def test_objects_and_arrays_are_kept_only_as_their_kind() -> None:
    body = UsageCreateRequest(quantity=1, metadata={"o": {"deep": [1, 2]}, "l": [{"x": 1}]})
    event = domain_event(body)
    kinds = {k: v.kind for k, v in event.metadata.items() if isinstance(v, Unsupported)}
    assert kinds == {"o": "an object", "l": "a list"}


def test_a_body_without_key_or_timestamp_gets_a_new_key_and_the_receive_time() -> None:
    event = domain_event(UsageCreateRequest(quantity=1))
    assert event.idempotency_key.startswith("generated:") and event.timestamp_us is None


def test_a_stored_event_answers_as_the_products_json() -> None:
    answer = usage_event(STORED).model_dump()
    assert answer == {
        "id": "1d2c", "idempotency_key": "a", "subject": "org", "meter": "calls", "quantity": 1.5,
        "timestamp": "2023-11-14T22:13:20.000001Z", "received_at": "2023-11-14T22:13:21Z",
        "metadata": {"region": "eu", "cached": True, "tokens": 12.0},
    }


def test_a_bulk_answer_lists_items_by_outcome_and_failures_with_the_products_codes() -> None:
    answer = BulkAnswer.of([
        EventResult(0, "a", Outcome.ACCEPTED, event=STORED),
        EventResult(1, "b", Outcome.REJECTED, NotFound("meter 'x' does not exist", field="meter")),
        EventResult(2, "c", Outcome.DUPLICATE, event=STORED),
        EventResult(3, "d", Outcome.REJECTED, InvalidArgument("must be a finite number", field="quantity")),
        EventResult(4, "e", Outcome.ACCEPTED),  # replayed from an answer that carried no events
    ])
    result = bulk_result(answer)
    assert (result.accepted, result.duplicates, result.failed) == (2, 1, 2)
    assert [e.id for e in result.accepted_items] == ["1d2c"] and len(result.duplicate_items) == 1
    assert [(f.index, f.code, f.field, f.message) for f in result.failed_items] == [
        (1, "not_found", "meter", "not found: meter: meter 'x' does not exist"),
        (3, "invalid_input", "quantity", "invalid input: quantity: must be a finite number"),
    ]
