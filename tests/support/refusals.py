"""A schema whose events table refuses one subject: the engine's own refusal of a value.

The events table gets a CONSTRAINT that refuses one subject (ClickHouse answers
the insert with 469 VIOLATED_CONSTRAINT). Our validator passes that subject,
so the engine is the one refusing it, as it would a value it cannot store.
"""

from __future__ import annotations

from typing import Any

from openspanner.storage.schema import migrate

POISON = "refused-org"
METER = "calls"


def refuse_poison(client: Any) -> None:
    """The schema as a server creates it, plus the engine's own refusal of one subject."""
    migrate(client)
    client.command(f"ALTER TABLE usage_events ADD CONSTRAINT refuse_poison CHECK subject != '{POISON}'")
