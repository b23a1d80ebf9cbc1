"""Usage events as the write path sees them, free of any transport.

Each API converts its own messages into these on the way in (an incoming
`UsageEvent`, or a `RefusedEvent` it could not even read) and converts the
answers (`EventResult`, `BulkAnswer`, `StreamAck`) into its own messages on
the way out, so the ingest core and storage never see protobuf or JSON.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from openspanner.domain.meters import DimensionType, Meter
from openspanner.domain.values import RawValue, Unsupported, typed_value
from openspanner.errors import OpenSpannerError

# A metadata value as a client sent it: JSON's and protobuf Value's scalars
# (numbers are floats in both), null ("not given"), or an unsupported kind.
MetadataValue = RawValue | Unsupported


@dataclass(slots=True)
class UsageEvent:
    """An event as a client sent it, not yet judged against its meter."""

    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    # Microseconds since the epoch, or None when the client sent no timestamp (the receive time is used).
    timestamp_us: int | None
    # An edge may hand the same dict to several events of one call: the validator
    # then checks it once (validate.MetadataCache), so it must not be changed.
    metadata: Mapping[str, MetadataValue]


@dataclass(slots=True)
class RefusedEvent:
    """An event its edge could not read (a timestamp with impossible nanos, ...).

    It still takes its place in the answer, with the fields the edge could
    read, so the call answers it by index and the counts name its meter.
    """

    idempotency_key: str
    subject: str
    meter: str
    error: OpenSpannerError


IncomingEvent = UsageEvent | RefusedEvent


def key_or_generated(idempotency_key: str) -> str:
    """The key of an event from the product's APIs, which may leave it empty: then a new one.

    The product stores key-less events, each as a new event, and its client
    sends an empty key by default; our pipeline identifies every event by its
    key, so a key-less one gets a key no other event has. Such an event is
    counted again if the client sends it again, as in the product.
    """
    return idempotency_key or f"generated:{uuid.uuid4()}"


@dataclass(frozen=True)
class EventRecord:
    """One stored event as storage holds it: metadata as the stored dimension texts."""

    idempotency_key: str
    subject: str
    timestamp_us: int
    quantity: float
    metadata: dict[str, str]
    ingested_at_us: int


# Namespace of event ids (uuid5 of meter and key); never change it, or every id changes.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c4f5e-3b7a-4c2e-9a51-0b6d2f3e8a90")


def event_id(meter: str, idempotency_key: str) -> str:
    """The id of the event a meter stores under a key: derived, not stored, because the
    meter and key identify the event, so every server and every answer give the same id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{meter}\x00{idempotency_key}"))


TypedValue = str | bool | float


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored event as answers carry it: metadata typed as its meter declared them when answered.

    Typed once, when the answer is made, so a stored bulk answer replays the
    same values even if the meter's dimensions change later.
    """

    id: str
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp_us: int
    ingested_at_us: int
    metadata: Mapping[str, TypedValue]


def stored_event(meter: Meter, record: EventRecord) -> StoredEvent:
    dimensions = meter.dimensions_by_name
    metadata: dict[str, TypedValue] = {}
    for key, text in record.metadata.items():
        value = typed_value(text, dimensions[key].type if key in dimensions else DimensionType.STRING)
        if value is not None:
            metadata[key] = value
    return StoredEvent(
        id=event_id(meter.name, record.idempotency_key),
        idempotency_key=record.idempotency_key,
        subject=record.subject,
        meter=meter.name,
        quantity=record.quantity,
        timestamp_us=record.timestamp_us,
        ingested_at_us=record.ingested_at_us,
        metadata=metadata,
    )


class Outcome(enum.Enum):
    """What became of one event. RETRY only on streams: not stored, send it again."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(slots=True)
class EventResult:
    """The answer of one event of a call, at its index in the call."""

    index: int
    idempotency_key: str
    outcome: Outcome
    error: OpenSpannerError | None = None
    # The event as stored (of a duplicate: the one stored first), when the answer carries it.
    event: StoredEvent | None = None
    # Of a duplicate: the fields of this event that differ from the stored one.
    conflicting_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """Many events in one call; a non-empty `idempotency_key` makes a repeated call answer the first answer."""

    events: Sequence[IncomingEvent]
    idempotency_key: str = ""
    validate_only: bool = False


@dataclass(frozen=True, slots=True)
class BulkAnswer:
    """The results of a bulk call, in request order, with the count of each outcome;
    `replayed`: the first answer of its batch key, returned again (nothing was stored)."""

    results: Sequence[EventResult]
    accepted: int
    duplicates: int
    rejected: int
    replayed: bool = False

    @classmethod
    def of(cls, results: Sequence[EventResult]) -> BulkAnswer:
        counts = dict.fromkeys(Outcome, 0)
        for result in results:
            counts[result.outcome] += 1
        return cls(results, counts[Outcome.ACCEPTED], counts[Outcome.DUPLICATE], counts[Outcome.REJECTED])


@dataclass(frozen=True, slots=True)
class AckRange:
    """Consecutive events of a stream with one outcome (and, when not stored, one reason)."""

    first_sequence: int
    last_sequence: int
    outcome: Outcome
    error: OpenSpannerError | None = None


@dataclass(frozen=True, slots=True)
class StreamAck:
    """One acknowledgement written to a stream; no ranges: the start message was accepted."""

    ranges: tuple[AckRange, ...] = ()
