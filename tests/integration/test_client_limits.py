"""Plans and entitlements through openspanner.client's Client and AsyncClient against a real
server, both held to the same behaviour (AsyncClient through test_client's Blocking)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openspanner.client import Client, FailedPreconditionError, InvalidArgumentError, QuotaExceededError
from tests.harness import ADMIN_KEY, ServerProcess
from tests.integration.test_client import Blocking


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, shared_server: ServerProcess) -> Iterator[Any]:
    client = (Client if request.param == "sync" else Blocking)(shared_server.address, ADMIN_KEY)
    yield client
    client.close()


def a_meter(api: Any) -> str:
    name = f"c_{uuid.uuid4().hex[:10]}"
    api.create_meter({"name": name, "aggregation": "sum", "dimensions": [
        {"name": "region", "type": "string", "required": False},
    ]})
    return name


def test_plans_and_assignments(api: Any) -> None:
    meter = a_meter(api)
    plan = api.create_plan({"name": "team", "description": "for teams",
                            "limits": [{"meter": meter, "limit": 100, "period": "day"}]})
    assert (plan["version"], plan["is_current"], plan["limits"][0]["period"]) == (1, True, "day")
    assert plan["limits"][0]["enforcement"] == "advisory" and plan["limits"][0]["warning_percent"] == 80
    assert api.get_plan(plan["id"]) == plan
    assert plan["id"] in {p["id"] for p in api.list_plans()}

    subject = f"org_{uuid.uuid4().hex[:8]}"
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = api.assign_plan(subject, plan["id"], effective_at=later)
    assert (scheduled["status"], scheduled["active"], scheduled["subject"]) == ("scheduled", False, subject)
    assert abs(scheduled["assigned_time"] - later) < timedelta(seconds=1)
    now = api.assign_plan(subject, plan["id"])
    assert now["status"] == "active" and now["plan_name"] == "team"

    preview = api.preview_plan(plan["id"], {"name": "team", "limits": [{"meter": meter, "limit": 50, "period": "day"}]})
    assert preview["current"]["id"] == plan["id"] and preview["proposed"]["version"] == 2
    updated = api.update_plan(plan["id"], {**plan, "limits": [{**plan["limits"][0], "limit": 200}]})
    assert (updated["version"], updated["parent_plan_id"], updated["limits"][0]["limit"]) == (2, plan["id"], 200)
    with pytest.raises(FailedPreconditionError):
        api.update_plan(plan["id"], {"name": "again", "limits": [{"meter": meter, "limit": 1}]})
    assert {p["id"] for p in api.list_plans(include_retired=True)} >= {plan["id"], updated["id"]}

    history = api.list_assignments(subject=subject, include_history=True)
    # The scheduled one (ended before it began), the first version's (moved), the second's.
    assert sorted((a["status"], a["plan_id"]) for a in history) == sorted([
        ("ended", plan["id"]), ("ended", plan["id"]), ("active", updated["id"]),
    ])
    assert [a["plan_id"] for a in api.list_assignments(subject=subject)] == [updated["id"]]
    progress = api.get_subject_progress(subject)
    assert progress["plan"]["id"] == updated["id"]
    assert [(i["meter"], i["state"], i["current"], i["limit"]) for i in progress["items"]] == [(meter, "ok", 0, 200)]

    ended = api.unassign_plan(subject)
    assert ended["status"] == "ended" and ended["unassigned_time"] is not None
    api.delete_plan(updated["id"])
    with pytest.raises(InvalidArgumentError) as refused:
        api.create_plan({"name": "bad", "limits": [{"meter": meter, "limit": 0}]})
    assert refused.value.field == "plan.limits[0].limit"


def test_check_consume_and_a_hard_refusal(api: Any) -> None:
    meter = a_meter(api)
    plan = api.create_plan({"name": "hard", "limits": [{"meter": meter, "limit": 2, "enforcement": "hard"}]})
    subject = f"org_{uuid.uuid4().hex[:8]}"
    assert api.check(subject, meter)["state"] == "no_plan"
    api.assign_plan(subject, plan["id"])
    quota = api.check(subject, meter, 2)
    assert (quota["allowed"], quota["state"], quota["remaining"], quota["period"]) == (True, "exceeded", 0, "month")

    key = uuid.uuid4().hex
    answer = api.consume({"idempotency_key": key, "subject": subject, "meter": meter, "quantity": 2,
                          "metadata": {"region": "eu"}})
    assert (answer["accepted"], answer["replayed"], answer["event"]["metadata"]) == (True, False, {"region": "eu"})
    assert api.consume({"idempotency_key": key, "subject": subject, "meter": meter, "quantity": 2})["replayed"]

    refused_key = uuid.uuid4().hex
    with pytest.raises(QuotaExceededError) as refused:
        api.consume({"idempotency_key": refused_key, "subject": subject, "meter": meter})
    decision = refused.value.decision
    assert (decision["accepted"], decision["quota"]["current"], decision["quota"]["state"]) == (False, 2, "exceeded")
    assert refused.value.retry_after == decision["quota"]["retry_after_seconds"] > 0
    assert api.get_decision(refused_key)["accepted"] is False

    decisions = list(api.list_decisions(subject=subject, page_size=1))
    assert sorted(d["idempotency_key"] for d in decisions) == sorted([key, refused_key])
    assert [d["idempotency_key"] for d in api.list_decisions(subject=subject, outcome="rejected")] == [refused_key]
    (state,) = api.list_states(subject=subject)
    assert (state["state"], state["current"], state["limit"]) == ("exceeded", 2, 2)
    assert "exceeded" in {e["type"] for e in api.list_entitlement_events(subject=subject)}
    assert api.list_entitlement_events(subject=subject, event_type="recovered") == []
    assert [p["current"] for p in api.list_periods(subject=subject)] == [2]
