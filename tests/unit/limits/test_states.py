"""States and entitlement events follow usage from any write path, and are handed to listeners once stored."""

from __future__ import annotations

import uuid
from typing import Any

from openspanner.domain.entitlements import EntitlementEvent
from openspanner.domain.events import UsageEvent
from openspanner.domain.plans import LimitDraft, PlanDraft
from openspanner.limits.service import LimitsService
from tests.unit.limits.in_process import METER, run


def test_changes_of_state_are_stored_then_handed_to_listeners(client: Any) -> None:
    heard: list[EntitlementEvent] = []

    async def body(limits: LimitsService) -> None:
        async def listen(events: list[EntitlementEvent]) -> None:
            heard.extend(events)

        limits.states.on_events(listen)
        plan = await limits.create_plan(PlanDraft("p", (LimitDraft(METER.name, 10.0),)))
        subject = f"org_{uuid.uuid4().hex[:8]}"
        await limits.assign(subject, plan.id, None)
        for quantity in (3.0, 5.0, 4.0):  # ok (no event), warning, exceeded
            await limits._pipeline.record_one(UsageEvent(uuid.uuid4().hex, subject, METER.name, quantity, None, {}))
            await limits.states.flush()
        stored = await limits.list_events(subject, "", "", 10)
        assert [e.type.value for e in stored] == ["exceeded", "warning"]
        states = await limits.list_states(subject, "", "", 10)
        assert [(s.state.value, s.current) for s in states] == [("exceeded", 12.0)]

    run(client, body)
    assert [(e.type.value, e.previous_state, e.current) for e in heard] == [
        ("warning", "ok", 8.0), ("exceeded", "warning", 12.0)
    ]
