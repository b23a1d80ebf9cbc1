"""JSON forms shared by the REST resources: times, and the event answer.

The answer of a stored event is built from the domain StoredEvent, by
POST /v1/usages, its bulk form and GET /v1/meters/{id}/events alike, so the
REST edge converts once and never goes through protobuf.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from openspanner.domain.events import StoredEvent
from openspanner.domain.paging import clamped_limit
from openspanner.domain.times import format_rfc3339


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def query_limit(limit: int) -> int:
    """A `limit` query parameter: leaving it out asks for the default, so 0 is refused."""
    return clamped_limit(limit, zero_means_default=False)


def rfc3339(moment: datetime) -> str:
    return format_rfc3339(us_of(moment))


def us_of(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class UsageEvent(BaseModel):
    """A stored usage event, as the product answers it."""

    id: str = Field(description="UUID of the event, derived from its meter and idempotency_key.")
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp: str = Field(description="When the usage happened (RFC 3339).")
    received_at: str = Field(description="When the server first received it (RFC 3339).")
    metadata: dict[str, Any] = Field(description="Dimension values, typed as the meter declares them.")


E = TypeVar("E", bound=UsageEvent)


def usage_event(stored: StoredEvent, model: type[E] = UsageEvent, **extra: Any) -> E:  # type: ignore[assignment]
    """The answer of a stored event, as `model` (a UsageEvent with `extra` fields) built once."""
    return model(
        **extra,
        id=stored.id,
        idempotency_key=stored.idempotency_key,
        subject=stored.subject,
        meter=stored.meter,
        quantity=stored.quantity,
        timestamp=format_rfc3339(stored.timestamp_us),
        received_at=format_rfc3339(stored.ingested_at_us),
        metadata=dict(stored.metadata),
    )
