"""Ack range merging: a stream message's outcomes, in offset order, become domain ranges."""

from __future__ import annotations

from openspanner.domain.events import AckRange, Outcome, StreamAck
from openspanner.errors import InvalidArgument, Unavailable
from openspanner.ingest.acknowledge import conflicting_fields, record_of, stream_ack, uniform_stream_ack
from openspanner.storage.events import NO_CLIENT_TIME, EventRow

A, D, R, T = Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.RETRY


def test_consecutive_events_with_one_outcome_share_a_range() -> None:
    ack = stream_ack(100, [(0, A, None), (1, A, None), (2, D, None), (3, D, None), (4, A, None)])
    assert ack == StreamAck((AckRange(100, 101, A), AckRange(102, 103, D), AckRange(104, 104, A)))


def test_each_rejected_event_has_a_range_of_its_own() -> None:
    first, second = InvalidArgument("is required", field="subject"), InvalidArgument("bad", field="quantity")
    ack = stream_ack(0, [(0, A, None), (1, R, first), (2, R, second), (3, A, None)])
    assert ack.ranges == (AckRange(0, 0, A), AckRange(1, 1, R, first), AckRange(2, 2, R, second), AckRange(3, 3, A))


def test_retry_events_share_a_range_only_while_their_reason_is_the_same() -> None:
    storage_down, full = Unavailable("down"), Unavailable("full")
    ack = stream_ack(10, [(0, T, storage_down), (1, T, storage_down), (2, T, full)])
    assert ack.ranges == (AckRange(10, 11, T, storage_down), AckRange(12, 12, T, full))


def test_a_gap_in_offsets_starts_a_new_range() -> None:
    ack = stream_ack(0, [(0, A, None), (2, A, None)])
    assert ack.ranges == (AckRange(0, 0, A), AckRange(2, 2, A))


def test_a_uniform_message_is_one_range_whatever_its_size() -> None:
    assert uniform_stream_ack(500, 500, A, None) == StreamAck((AckRange(500, 999, A),))
    error = Unavailable("down")
    assert uniform_stream_ack(7, 1, T, error).ranges == (AckRange(7, 7, T, error),)


def test_uniform_and_merged_acks_agree() -> None:
    outcomes = [(offset, D, None) for offset in range(64)]
    assert stream_ack(3, outcomes) == uniform_stream_ack(3, 64, D, None)


def _row(**fields: object) -> EventRow:
    values: dict[str, object] = {
        "meter": "m", "idempotency_key": "k", "subject": "s", "timestamp_us": 5_000_000, "quantity": 1.0,
        "metadata": {"region": "eu"}, "retention_days": 30, "client_time_us": 5_000_000, "received_us": 6_000_000,
    }
    values.update(fields)
    return EventRow(**values)  # type: ignore[arg-type]


def test_conflicting_fields_name_what_a_resend_changed() -> None:
    stored = record_of(_row())
    resent = _row(subject="t", quantity=2.0, timestamp_us=1, client_time_us=1, metadata={"region": "us", "x": "1"})
    assert conflicting_fields(resent, stored) == ["subject", "quantity", "timestamp", "metadata.region", "metadata.x"]


def test_a_resend_without_a_timestamp_does_not_conflict_on_it() -> None:
    stored = record_of(_row())
    assert conflicting_fields(_row(timestamp_us=9_000_000, client_time_us=NO_CLIENT_TIME), stored) == []
