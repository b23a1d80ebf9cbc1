"""The product's official client (`open-spanner` 0.1.13), strict mode, on its six plan and
entitlement calls: check, progress, consume (201 and a hard 429), a decision, the decisions list
with its cursor, and the states. Plans and assignments are set up over our REST API (the client
has no calls for them), as the product's dashboard does."""

from __future__ import annotations

import textwrap
import uuid
from typing import Any

from tests.harness import ADMIN_KEY, ServerProcess
from tests.product_client import run_product_client
from tests.support.http_calls import http

SETUP = """
from open_spanner_client import AuthenticatedClient
from open_spanner_client.api.entitlements import (
    consume_entitlement, get_consumption_decision, list_consumption_decisions, list_entitlement_states,
)
from open_spanner_client.api.plans import check_entitlement, get_subject_plan_progress
from open_spanner_client.models import EntitlementCheckRequest, EntitlementConsumeRequest

client = AuthenticatedClient(base_url=os.environ["BASE_URL"], token=os.environ["API_KEY"],
                             raise_on_unexpected_status=True)
meter, other, subject = os.environ["METER"], os.environ["OTHER"], os.environ["SUBJECT"]


def answer(response):
    return {"status": response.status_code, "parsed": response.parsed,
            "retry_after": response.headers.get("retry-after")}


def check(who, what, quantity):
    body = EntitlementCheckRequest.from_dict({"subject": who, "meter": what, "quantity": quantity})
    return answer(check_entitlement.sync_detailed(client=client, body=body))


def consume(key, quantity):
    body = EntitlementConsumeRequest.from_dict({"idempotency_key": key, "subject": subject, "meter": meter,
                                                "quantity": quantity, "metadata": {}})
    return answer(consume_entitlement.sync_detailed(client=client, body=body))
"""


def setup(server: ServerProcess) -> dict[str, str]:
    names = {"METER": f"m_{uuid.uuid4().hex[:8]}", "OTHER": f"m_{uuid.uuid4().hex[:8]}",
             "SUBJECT": f"org_{uuid.uuid4().hex[:8]}"}
    for meter in (names["METER"], names["OTHER"]):
        assert http(server, "POST", "/v1/meters", {"name": meter, "aggregation": "sum"})[0] == 201
    code, plan = http(server, "POST", "/v1/plans", {"name": "starter", "limits": [
        {"meter": names["METER"], "limit": 10, "period": "day", "enforcement": "hard"}]})
    assert code == 201, plan
    assert http(server, "PUT", f"/v1/plans/subjects/{names['SUBJECT']}", {"plan_id": plan["id"]})[0] == 200
    return names


def run(server: ServerProcess, body: str, names: dict[str, str]) -> Any:
    return run_product_client(SETUP + textwrap.dedent(body), BASE_URL=server.base_url, API_KEY=ADMIN_KEY, **names)


def test_the_six_calls_in_strict_mode(shared_server: ServerProcess) -> None:
    names = setup(shared_server)
    out = run(shared_server, """
        out = {"no_plan": check("org_nobody", meter, 1), "not_in_plan": check(subject, other, 1),
               "ok": check(subject, meter, 0)}
        out["consume"] = consume("c-1", 7)
        out["warning"] = check(subject, meter, 1)
        out["exceeded"] = check(subject, meter, 4)
        out["refused"] = consume("c-2", 4)
        out["replayed"] = consume("c-1", 7)
        out["consume_last"] = consume("c-3", 3)
        out["progress"] = answer(get_subject_plan_progress.sync_detailed(subject, client=client))
        out["decision"] = answer(get_consumption_decision.sync_detailed("c-2", client=client))
        first = list_consumption_decisions.sync_detailed(client=client, subject=subject, limit=2)
        out["page1"] = answer(first)
        out["page2"] = answer(list_consumption_decisions.sync_detailed(
            client=client, subject=subject, limit=2, cursor=first.parsed.next_cursor))
        out["rejected"] = answer(list_consumption_decisions.sync_detailed(
            client=client, subject=subject, outcome="rejected", enforcement="hard", evaluation_failed=False))
        out["states"] = answer(list_entitlement_states.sync_detailed(client=client, subject=subject, limit=10))
        emit(out)
    """, names)
    meter = names["METER"]
    assert (out["no_plan"]["status"], out["no_plan"]["parsed"]["state"], out["no_plan"]["parsed"]["allowed"]) == (
        200, "no_plan", False
    )
    assert out["not_in_plan"]["parsed"]["state"] == "not_in_plan"
    ok = out["ok"]["parsed"]
    assert (ok["allowed"], ok["state"], ok["quantity"], ok["limit"], ok["period"]) == (True, "ok", 1, 10, "day")
    consumed = out["consume"]
    assert consumed["status"] == 201 and consumed["parsed"]["accepted"] is True
    assert (consumed["parsed"]["event"]["quantity"], consumed["parsed"]["quota"]["projected"]) == (7, 7)
    assert out["warning"]["parsed"]["state"] == "warning"
    exceeded = out["exceeded"]["parsed"]
    assert (exceeded["allowed"], exceeded["state"], exceeded["retry_after_seconds"] > 0) == (False, "exceeded", True)
    refused = out["refused"]
    assert refused["status"] == 429 and int(refused["retry_after"]) > 0
    assert (refused["parsed"]["accepted"], refused["parsed"]["quota"]["enforcement"]) == (False, "hard")
    assert out["replayed"]["status"] == 201 and out["replayed"]["parsed"]["replayed"] is True
    assert out["consume_last"]["status"] == 201
    progress = out["progress"]["parsed"]
    assert [(i["meter"], i["current"], i["state"]) for i in progress["items"]] == [(meter, 10, "exceeded")]
    decision = out["decision"]["parsed"]
    assert (decision["idempotency_key"], decision["accepted"], decision["quota"]["state"]) == (
        "c-2", False, "exceeded"
    )
    listed = [d["idempotency_key"] for d in out["page1"]["parsed"]["items"] + out["page2"]["parsed"]["items"]]
    assert sorted(listed) == ["c-1", "c-2", "c-3"] and out["page1"]["parsed"]["next_cursor"]
    assert [d["idempotency_key"] for d in out["rejected"]["parsed"]["items"]] == ["c-2"]
    states = out["states"]["parsed"]["items"]
    assert [(s["meter"], s["state"], s["current"]) for s in states] == [(meter, "exceeded", 10)]
