"""Keyed bulk calls: the request digest and the stored first answer, from domain values alone."""

from __future__ import annotations

from openspanner.domain.events import (
    BulkAnswer,
    BulkRequest,
    EventResult,
    Outcome,
    RefusedEvent,
    StoredEvent,
    Unsupported,
    UsageEvent,
)
from openspanner.errors import InvalidArgument, NotFound, StorageRefused
from openspanner.ingest.bulk_answers import decode_answer, encode_answer, request_digest


def event(key: str = "k", **fields: object) -> UsageEvent:
    values: dict[str, object] = {
        "idempotency_key": key, "subject": "org", "meter": "calls", "quantity": 2.0,
        "timestamp_us": 1_700_000_000_000_001, "metadata": {"region": "eu"},
    }
    values.update(fields)
    return UsageEvent(**values)  # type: ignore[arg-type]


def digest(*events: UsageEvent | RefusedEvent, key: str = "batch") -> str:
    return request_digest(BulkRequest(events, idempotency_key=key))


def test_the_same_events_give_the_same_digest() -> None:
    assert digest(event("a"), event("b")) == digest(event("a"), event("b"))
    # Metadata order is not part of what an event says.
    assert digest(event(metadata={"a": "1", "b": True})) == digest(event(metadata={"b": True, "a": "1"}))


def test_any_difference_in_what_events_say_changes_the_digest() -> None:
    base = digest(event())
    changed = [
        digest(event("other")),
        digest(event(subject="org2")),
        digest(event(meter="calls2")),
        digest(event(quantity=2.5)),
        digest(event(timestamp_us=1_700_000_000_000_002)),
        digest(event(timestamp_us=None)),
        digest(event(metadata={"region": "us"})),
        digest(event(metadata={})),
        digest(event(), event()),
        digest(event(), key="batch-2"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_values_of_different_kinds_never_share_a_digest() -> None:
    forms = [
        digest(event(metadata={"v": value}))
        for value in ("1", 1.0, True, None, Unsupported("a list"), Unsupported("an object"))
    ]
    assert len(set(forms)) == len(forms)


def test_an_unreadable_event_is_part_of_the_digest_with_its_reason() -> None:
    bad = RefusedEvent("k", "org", "calls", InvalidArgument("nanos must be between 0 and 999,999,999, got -1"))
    worse = RefusedEvent("k", "org", "calls", InvalidArgument("nanos must be between 0 and 999,999,999, got -2"))
    assert digest(bad) != digest(worse) and digest(bad) != digest(event())


def test_a_stored_answer_replays_equal_with_its_typed_errors() -> None:
    stored = StoredEvent(
        id="0f9b", idempotency_key="a", subject="org", meter="calls", quantity=1.5, timestamp_us=1_700_000_000_000_001,
        ingested_at_us=1_700_000_000_100_000, metadata={"region": "eu", "cached": True, "tokens": 12.0},
    )
    answer = BulkAnswer.of([
        EventResult(0, "a", Outcome.ACCEPTED, event=stored),
        EventResult(1, "b", Outcome.DUPLICATE, event=stored, conflicting_fields=["quantity"]),
        EventResult(2, "c", Outcome.REJECTED, NotFound("meter 'x' does not exist", field="meter")),
        EventResult(3, "d", Outcome.REJECTED, StorageRefused("no", field="quantity")),
        EventResult(4, "e", Outcome.ACCEPTED),
    ])
    replayed = decode_answer(encode_answer(answer))
    assert replayed is not None
    assert (replayed.accepted, replayed.duplicates, replayed.rejected) == (2, 1, 2)
    assert [(r.index, r.idempotency_key, r.outcome, r.event, r.conflicting_fields) for r in replayed.results] == [
        (r.index, r.idempotency_key, r.outcome, r.event, r.conflicting_fields) for r in answer.results
    ]
    errors = [r.error for r in replayed.results]
    assert [type(e) for e in errors] == [type(None), type(None), NotFound, StorageRefused, type(None)]
    assert [(e.message, e.field) for e in errors if e is not None] == [
        ("meter 'x' does not exist", "meter"), ("no", "quantity")
    ]


def test_an_answer_stored_in_another_form_is_not_replayed() -> None:
    assert decode_answer(b"\x08\x01\x12\x03abc") is None
    assert decode_answer(b'{"version": 0, "results": []}') is None


def test_the_digest_does_not_depend_on_whether_an_edge_shared_equal_metadata() -> None:
    shared = {"region": "eu", "tier": "pro"}
    once = digest(event("a", metadata=shared), event("b", metadata=shared), event("c", metadata={"region": "us"}))
    apart = digest(
        event("a", metadata={"tier": "pro", "region": "eu"}),
        event("b", metadata={"region": "eu", "tier": "pro"}),
        event("c", metadata={"region": "us"}),
    )
    assert once == apart
    swapped = digest(
        event("a", metadata={"region": "us"}), event("b", metadata=shared), event("c", metadata=shared)
    )
    assert swapped != once
