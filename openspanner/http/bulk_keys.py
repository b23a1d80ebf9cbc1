"""The batch key of `POST /v1/usages/bulk`: when a reused key replays, and when it is refused.

Following the IETF Idempotency-Key draft and Stripe: the first answer to a
keyed batch is kept under its key; the same batch sent again under it gets that
answer again, marked `Idempotent-Replayed: true`, and stores nothing; another
batch under a used key is refused (422, naming the header) and stores nothing,
where it used to be answered 201 with the first batch's answer while its own
events were dropped unseen.

"The same batch" is decided by `batch_fingerprint`, on the events as the client
sent them (before the server gives a key to an event without one, which would
make every resend differ): the same events in the same order, each with the
same meter, subject, quantity, metadata and idempotency_key, and, for an event
without an idempotency_key, the same timestamp. An event's timestamp is left
out when it carries a key, because that event is its key (sent alone again, it
is answered as the stored event, whatever its timestamp), and a retry built
anew stamps it anew: the product's StreamClient fills `now()` into every event
without a timestamp when it builds a call, and its README builds REST events
with `datetime.now()`. The product's client resends an unchanged body on its own
retries (retry_usage_write calls the same request again), so those replay too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import AwareDatetime

from openspanner.errors import IdempotencyKeyReused
from openspanner.http.wire import us_of

HEADER = "Idempotency-Key"
# Set on an answer that is a first answer replayed (the draft's and Stripe's name).
REPLAYED_HEADER = "Idempotent-Replayed"


class SentEvent(Protocol):
    """What the fingerprint reads of one event of the request (usages.UsageCreateRequest)."""

    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp: AwareDatetime | None
    metadata: dict[str, Any]


def batch_fingerprint(events: Sequence[SentEvent]) -> str:
    """A digest equal for two bodies exactly when they are the same batch (module docstring)."""
    canonical = [
        {
            "idempotency_key": event.idempotency_key,
            "subject": event.subject,
            "meter": event.meter,
            "quantity": event.quantity,
            "metadata": event.metadata,
            # One instant, however its offset was written.
            "timestamp": None if event.idempotency_key or event.timestamp is None else us_of(event.timestamp),
        }
        for event in events
    ]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return "rest:" + hashlib.sha256(text.encode()).hexdigest()


def named_by_header(error: IdempotencyKeyReused) -> IdempotencyKeyReused:
    """The refusal naming the header the key came in, as REST clients send it."""
    return IdempotencyKeyReused(error.message, field=HEADER)
