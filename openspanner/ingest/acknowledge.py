"""Stage 5, acknowledge: what the writer returned -> per-event results and stream ack ranges.

Results are built only from what the writer returned, i.e. after the batch
is committed, so an ACCEPTED answer always means "stored". They are domain
values: each API turns them into its own answer at its edge.
"""

from __future__ import annotations

from collections.abc import Sequence

from openspanner.domain.events import AckRange, EventRecord, Outcome, StreamAck
from openspanner.errors import OpenSpannerError
from openspanner.ingest.write import WriteOutcome
from openspanner.storage.events import NO_CLIENT_TIME, EventRow

# The answer of each writer outcome. The batcher's other outcomes (RETRY, and the error of an event
# not stored) are answered by the caller: a refused event is REJECTED, else a stream resends, a call fails.
OUTCOME_OF: dict[object, Outcome] = {
    WriteOutcome.ACCEPTED: Outcome.ACCEPTED,
    WriteOutcome.DUPLICATE: Outcome.DUPLICATE,
}


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


def stream_ack(
    first_sequence: int, outcomes: Sequence[tuple[int, Outcome, OpenSpannerError | None]]
) -> StreamAck:
    """The ack of one stream message: (offset, outcome, error) in offset order -> ranges.

    Consecutive events with one outcome share a range, so a clean batch of
    500 events is acknowledged by one range. A rejected event gets a range of
    its own (its reason is its own); RETRY events share one while their
    reason is the same (the same error object).
    """
    runs: list[tuple[int, int, Outcome, OpenSpannerError | None]] = []  # first offset, last offset, ...
    for offset, outcome, error in outcomes:
        if runs:
            first, last, run_outcome, run_error = runs[-1]
            if last == offset - 1 and run_outcome is outcome and run_error is error and outcome is not Outcome.REJECTED:
                runs[-1] = (first, offset, outcome, error)
                continue
        runs.append((offset, offset, outcome, error))
    return StreamAck(
        tuple(
            AckRange(first_sequence + first, first_sequence + last, outcome, error)
            for first, last, outcome, error in runs
        )
    )


def uniform_stream_ack(
    first_sequence: int, count: int, outcome: Outcome, error: OpenSpannerError | None
) -> StreamAck:
    """The ack of a message whose `count` events (none rejected) all had one outcome: one range.

    The usual message; built without a Python step per event.
    """
    return StreamAck((AckRange(first_sequence, first_sequence + count - 1, outcome, error),))
