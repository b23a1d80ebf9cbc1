"""Stage 5, acknowledge: per-event results -> the protobuf answer.

Results are built only from what the writer returned, i.e. after the batch
is committed, so an ACCEPTED answer always means "stored".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openspanner.errors import OpenSpannerError, status_name
from openspanner.ingest.write import WriteOutcome
from openspanner.storage.events import NO_CLIENT_TIME, EventRow
from openspanner.storage.queries import EventRecord
from openspanner.v1 import event_pb2, usage_pb2

# The answer of each writer outcome. The batcher's other outcomes (RETRY, and the error of an event
# not stored) are answered by the caller: a refused event is REJECTED, else a stream resends, a call fails.
OUTCOME_OF: dict[object, usage_pb2.Outcome] = {
    WriteOutcome.ACCEPTED: usage_pb2.ACCEPTED,
    WriteOutcome.DUPLICATE: usage_pb2.DUPLICATE,
}


@dataclass(slots=True)
class EventResult:
    index: int
    idempotency_key: str
    outcome: usage_pb2.Outcome
    error: OpenSpannerError | None = None
    # The event as stored (of a duplicate: the one stored first), when the answer carries it.
    event: event_pb2.StoredEvent | None = None
    conflicting_fields: list[str] = field(default_factory=list)


def record_of(row: EventRow) -> EventRecord:
    """An accepted row as it is now stored."""
    return EventRecord(row.idempotency_key, row.subject, row.timestamp_us, row.quantity, row.metadata, row.received_us)


def conflicting_fields(resent: EventRow, stored: EventRecord) -> list[str]:
    """The fields of a resent event that differ from the stored one, as the event names them.

    A resend without a timestamp does not conflict on it: it was stamped with
    its receive time, which is not what the client said.
    """
    differing = [
        name
        for name, differs in (
            ("subject", resent.subject != stored.subject),
            ("quantity", resent.quantity != stored.quantity),
            ("timestamp", resent.client_time_us != NO_CLIENT_TIME and resent.timestamp_us != stored.timestamp_us),
        )
        if differs
    ]
    names = sorted(resent.metadata.keys() | stored.metadata.keys())
    differing.extend(f"metadata.{name}" for name in names if resent.metadata.get(name) != stored.metadata.get(name))
    return differing


def rejection(error: OpenSpannerError) -> usage_pb2.Rejection:
    return usage_pb2.Rejection(code=status_name(error), field=error.field, message=error.message)


def bulk_response(results: Sequence[EventResult]) -> usage_pb2.RecordUsagesResponse:
    response = usage_pb2.RecordUsagesResponse()
    counts: dict[usage_pb2.Outcome, int] = {
        usage_pb2.ACCEPTED: 0, usage_pb2.DUPLICATE: 0, usage_pb2.REJECTED: 0
    }
    for result in results:
        counts[result.outcome] += 1
        item = response.results.add(
            index=result.index, idempotency_key=result.idempotency_key, outcome=result.outcome
        )
        if result.error is not None:
            item.rejection.CopyFrom(rejection(result.error))
        if result.event is not None:
            item.event.CopyFrom(result.event)
            item.conflicting_fields.extend(result.conflicting_fields)
    response.accepted = counts[usage_pb2.ACCEPTED]
    response.duplicates = counts[usage_pb2.DUPLICATE]
    response.rejected = counts[usage_pb2.REJECTED]
    return response


def stream_ack(
    first_sequence: int, outcomes: Sequence[tuple[int, Any, OpenSpannerError | None]]
) -> usage_pb2.StreamAck:
    """The ack of one stream message: (offset, outcome, error) in offset order -> ranges.

    Consecutive events with one outcome share a range, so a clean batch of
    500 events is acknowledged by one range. A rejected event gets a range of
    its own (its reason is its own); RETRY events share one while their
    reason is the same.
    """
    runs: list[list[Any]] = []  # [first offset, last offset, outcome, error]
    for offset, outcome, error in outcomes:
        if runs:
            last = runs[-1]
            if (
                last[1] == offset - 1
                and last[2] == outcome
                and last[3] is error
                and outcome != usage_pb2.REJECTED
            ):
                last[1] = offset
                continue
        runs.append([offset, offset, outcome, error])
    return _ack_of_runs(first_sequence, runs)


def uniform_stream_ack(
    first_sequence: int, count: int, outcome: Any, error: OpenSpannerError | None
) -> usage_pb2.StreamAck:
    """The ack of a message whose `count` events (none rejected) all had one outcome: one range.

    The usual message; built without a Python step per event.
    """
    return _ack_of_runs(first_sequence, [[0, count - 1, outcome, error]])


def _ack_of_runs(first_sequence: int, runs: list[list[Any]]) -> usage_pb2.StreamAck:
    ack = usage_pb2.StreamAck()
    for first, last_offset, outcome, error in runs:
        item = ack.acks.add(
            first_sequence=first_sequence + first, last_sequence=first_sequence + last_offset, outcome=outcome
        )
        if error is not None:
            item.rejection.CopyFrom(rejection(error))
    return ack
