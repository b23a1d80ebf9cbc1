"""Plans and entitlements over REST on a real server: the product's routes, rules and answers,
exact under racing consumes, with usage from any write path counted at once."""

from __future__ import annotations

import asyncio
import signal
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from openspanner.client import StreamClient
from openspanner.v1 import usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, start_server
from tests.support.http_calls import http, request

WHEN = datetime.now(UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("limits")) as started:
        yield started


def new_meter(server: ServerProcess, aggregation: str = "sum") -> str:
    name = f"m_{uuid.uuid4().hex[:10]}"
    assert http(server, "POST", "/v1/meters", {"name": name, "aggregation": aggregation})[0] == 201
    return name


def new_plan(server: ServerProcess, *limits: dict[str, Any], name: str = "pro") -> dict[str, Any]:
    code, plan = http(server, "POST", "/v1/plans", {"name": name, "limits": list(limits)})
    assert code == 201, plan
    return plan


def assign(server: ServerProcess, subject: str, plan_id: str) -> dict[str, Any]:
    code, assignment = http(server, "PUT", f"/v1/plans/subjects/{subject}", {"plan_id": plan_id})
    assert code == 200, assignment
    return assignment


def subject() -> str:
    return f"org_{uuid.uuid4().hex[:8]}"


def error_of(answer: tuple[int, Any]) -> tuple[int, str, str | None]:
    code, body = answer
    return code, body["error"]["code"], body["error"].get("field")


def consume(server: ServerProcess, who: str, meter: str, quantity: float = 1, key: str | None = None,
            **fields: Any) -> tuple[int, Any]:
    body = {"idempotency_key": key or uuid.uuid4().hex, "subject": who, "meter": meter, "quantity": quantity, **fields}
    return http(server, "POST", "/v1/entitlements/consume", body)


def check(server: ServerProcess, who: str, meter: str, quantity: float = 1) -> dict[str, Any]:
    code, body = http(server, "POST", "/v1/entitlements/check", {"subject": who, "meter": meter, "quantity": quantity})
    assert code == 200, body
    return body


def stored_total(server: ServerProcess, meter: str, who: str) -> tuple[float, int]:
    """(value, events) of the subject's usage, read back through the query API."""
    window = urllib.parse.urlencode({
        "start_time": (WHEN - timedelta(days=400)).isoformat(), "end_time": (WHEN + timedelta(days=1)).isoformat(),
        "subject": who,
    })
    code, body = http(server, "GET", f"/v1/meters/{meter}/usage?{window}")
    assert code == 200, body
    rows = body["rows"]
    return (rows[0]["value"], rows[0]["event_count"]) if rows else (0.0, 0)


def test_plan_versions_assignments_and_the_conflicts(server: ServerProcess) -> None:
    meter = new_meter(server)
    plan = new_plan(server, {"meter": meter, "limit": 100})
    limit = plan["limits"][0]
    assert (plan["version"], plan["is_current"], "parent_plan_id" in plan) == (1, True, False)
    assert (limit["period"], limit["warning_percent"], limit["enforcement"], limit["failure_policy"]) == (
        "month", 80, "advisory", "fail_open"
    )
    assert http(server, "GET", f"/v1/plans/{plan['id']}") == (200, plan)
    who = subject()
    first = assign(server, who, plan["id"])
    assert (first["status"], first["active"], first["plan_version"]) == ("active", True, 1)
    body = {"name": "pro", "limits": [{"meter": meter, "limit": 200}]}
    code, v2 = http(server, "PUT", f"/v1/plans/{plan['id']}", body)
    assert code == 200 and (v2["version"], v2["parent_plan_id"], v2["is_current"]) == (2, plan["id"], True)
    assert http(server, "GET", f"/v1/plans/{plan['id']}")[1]["is_current"] is False
    # The subject moved to version 2, its anchor kept.
    code, listed = http(server, "GET", f"/v1/plans/assignments?subject={who}")
    assert [(a["plan_id"], a["period_anchor_at"]) for a in listed["items"]] == [(v2["id"], first["period_anchor_at"])]
    code, history = http(server, "GET", f"/v1/plans/assignments?subject={who}&include_history=true")
    assert [a["status"] for a in history["items"]] == ["active", "ended"]
    assert check(server, who, meter)["limit"] == 200
    ids = [p["id"] for p in http(server, "GET", "/v1/plans")[1]["items"]]
    assert v2["id"] in ids and plan["id"] not in ids
    # Refusals: a retired version, a plan in use.
    body = {"name": "pro", "limits": [{"meter": meter, "limit": 1}]}
    assert error_of(http(server, "PUT", f"/v1/plans/{plan['id']}", body)) == (409, "conflict", "id")
    assert error_of(http(server, "PUT", f"/v1/plans/subjects/{who}", {"plan_id": plan["id"]})) == (
        409, "conflict", "plan_id"
    )
    assert error_of(http(server, "DELETE", f"/v1/plans/{v2['id']}")) == (409, "conflict", "id")
    assert http(server, "DELETE", f"/v1/plans/subjects/{who}")[0] == 204
    assert check(server, who, meter)["state"] == "no_plan"
    assert http(server, "DELETE", f"/v1/plans/{v2['id']}")[0] == 204
    assert error_of(http(server, "GET", f"/v1/plans/{v2['id']}")) == (404, "not_found", "plan_id")


@pytest.mark.parametrize(("limit", "field"), [
    ({"meter": "no_such_meter", "limit": 1}, "limits[0].meter"),
    ({"limit": 0}, "limits[0].limit"),
    ({"limit": -5}, "limits[0].limit"),
    ({"limit": 10, "warning_percent": 150}, "limits[0].warning_percent"),
    ({"limit": 10, "warning_percent": -1}, "limits[0].warning_percent"),
    ({"limit": 10, "period": "hour"}, "limits[0].period"),
    ({"limit": 10, "enforcement": "soft"}, "limits[0].enforcement"),
    ({"limit": 10, "failure_policy": "retry"}, "limits[0].failure_policy"),
])
def test_a_bad_limit_is_refused_naming_its_field(server: ServerProcess, limit: dict[str, Any], field: str) -> None:
    meter = new_meter(server)
    answer = http(server, "POST", "/v1/plans", {"name": "p", "limits": [{"meter": meter, **limit}]})
    assert error_of(answer) == (404 if field.endswith("meter") else 400, "not_found" if field.endswith("meter")
                                else "invalid_input", field)


def test_other_refusals_name_their_field(server: ServerProcess) -> None:
    meter = new_meter(server)
    twice = [{"meter": meter, "limit": 1, "period": "day"}, {"meter": meter, "limit": 2, "period": "day"}]
    assert error_of(http(server, "POST", "/v1/plans", {"name": "p", "limits": twice})) == (
        400, "invalid_input", "limits[1].period"
    )
    assert error_of(http(server, "POST", "/v1/plans", {"name": "", "limits": twice[:1]}))[2] == "name"
    assert error_of(http(server, "POST", "/v1/plans", {"name": "p", "limits": []}))[2] == "limits"
    body = {"subject": "org_1", "meter": meter, "quantity": 1}
    assert error_of(http(server, "POST", "/v1/entitlements/consume", body)) == (
        400, "invalid_input", "idempotency_key"
    )
    assert error_of(consume(server, "org_1", meter, -1)) == (400, "invalid_input", "quantity")
    assert error_of(http(server, "POST", "/v1/entitlements/check", {**body, "quantity": -1}))[2] == "quantity"
    assert error_of(http(server, "GET", "/v1/entitlements/decisions?outcome=maybe"))[2] == "outcome"


def test_states_of_a_check(server: ServerProcess) -> None:
    meter, other = new_meter(server), new_meter(server)
    who = subject()
    answer = check(server, who, meter)
    assert (answer["allowed"], answer["state"], answer["message"]) == (
        False, "no_plan", "subject is not assigned to a plan"
    )
    plan = new_plan(server, {"meter": meter, "limit": 10, "period": "day"})
    assign(server, who, plan["id"])
    answer = check(server, who, other)
    assert (answer["allowed"], answer["state"], answer["plan_id"]) == (False, "not_in_plan", plan["id"])
    answer = check(server, who, meter, 0)
    assert (answer["allowed"], answer["state"], answer["quantity"], answer["remaining"]) == (True, "ok", 1, 9)
    assert "retry_after_seconds" not in answer
    assert consume(server, who, meter, 7)[0] == 201
    answer = check(server, who, meter, 1)
    assert (answer["state"], answer["current"], answer["message"]) == (
        "warning", 7, "quota is available; warning threshold reached"
    )
    assert check(server, who, meter, 3)["state"] == "exceeded"
    answer = check(server, who, meter, 4)
    assert (answer["allowed"], answer["state"], answer["overage"], answer["message"]) == (
        False, "exceeded", 1, "quota would be exceeded"
    )
    assert 0 < answer["retry_after_seconds"] <= 86_400
    code, progress = http(server, "GET", f"/v1/plans/subjects/{who}/progress")
    assert code == 200 and [(i["meter"], i["current"], i["state"]) for i in progress["items"]] == [
        (meter, 7, "ok")  # progress is the usage so far: 70%
    ]
    assert error_of(http(server, "GET", f"/v1/plans/subjects/{subject()}/progress"))[:2] == (404, "not_found")


def test_a_hard_limit_refuses_with_429_and_a_replayed_key_gets_its_first_decision(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 5, "enforcement": "hard"})["id"])
    code, first = consume(server, who, meter, 4, key="k-1")
    assert code == 201 and (first["accepted"], first["replayed"], first["event"]["quantity"]) == (True, False, 4)
    code, headers, _ = request(server, "POST", "/v1/entitlements/consume", {
        "idempotency_key": "k-2", "subject": who, "meter": meter, "quantity": 2})
    assert code == 429 and int(headers["retry-after"]) > 0
    code, again = consume(server, who, meter, 4, key="k-1")
    assert code == 201 and again["replayed"] is True and again["quota"] == first["quota"]
    code, refused = consume(server, who, meter, 1, key="k-2")  # replayed: not evaluated again, though 1 fits
    assert code == 429 and refused["replayed"] is True and refused["accepted"] is False
    assert stored_total(server, meter, who) == (4, 1)
    code, decision = http(server, "GET", "/v1/entitlements/decisions/k-2")
    assert code == 200 and (decision["accepted"], decision["quota"]["state"]) == (False, "exceeded")
    code, page = http(server, "GET", f"/v1/entitlements/decisions?subject={who}&limit=1")
    code, rest = http(server, "GET", f"/v1/entitlements/decisions?subject={who}&limit=1&cursor={page['next_cursor']}")
    assert {page["items"][0]["idempotency_key"], rest["items"][0]["idempotency_key"]} == {"k-1", "k-2"}
    assert "next_cursor" not in rest
    code, rejected = http(server, "GET", f"/v1/entitlements/decisions?subject={who}&outcome=rejected")
    assert [d["idempotency_key"] for d in rejected["items"]] == ["k-2"]


def test_racing_consumes_never_pass_a_hard_limit(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 1000, "enforcement": "hard"})["id"])
    with ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(lambda _: consume(server, who, meter)[0], range(2000)))
    assert (codes.count(201), codes.count(429)) == (1000, 1000)
    assert stored_total(server, meter, who) == (1000, 1000)


def test_usage_by_any_path_counts_at_once_and_a_late_event_in_its_window(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 100, "period": "day", "enforcement": "hard"})["id"])
    assert check(server, who, meter)["current"] == 0
    event = {"idempotency_key": uuid.uuid4().hex, "subject": who, "meter": meter, "quantity": 30}
    assert http(server, "POST", "/v1/usages", event)[0] == 201
    assert check(server, who, meter)["current"] == 30
    bulk = [{**event, "idempotency_key": uuid.uuid4().hex, "quantity": 5} for _ in range(4)]
    assert http(server, "POST", "/v1/usages/bulk", bulk)[0] == 201
    assert check(server, who, meter)["current"] == 50
    # Before the subject's anchor (its assignment): in no window.
    late = {**event, "idempotency_key": uuid.uuid4().hex, "timestamp": (WHEN - timedelta(days=2)).isoformat()}
    assert http(server, "POST", "/v1/usages", late)[0] == 201
    assert check(server, who, meter)["current"] == 50
    code, refused = consume(server, who, meter, 51)
    assert code == 429 and refused["quota"]["current"] == 50


@pytest.mark.parametrize("aggregation", ["sum", "count", "avg", "min", "max", "first", "last", "rate"])
def test_every_aggregation_current_is_the_query_apis_value(server: ServerProcess, aggregation: str) -> None:
    meter = new_meter(server, aggregation)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 1e9, "period": "week"})["id"])
    now = datetime.now(UTC)
    for index, quantity in enumerate([5, 2, 9, 4]):
        at = (now + timedelta(seconds=index + 1)).isoformat()  # after the anchor, the assignment
        code, body = consume(server, who, meter, quantity, timestamp=at)
        assert code == 201, body
    current = check(server, who, meter)["current"]
    value, events = stored_total(server, meter, who)
    assert events == 4
    if aggregation == "rate":  # the query divides by its range, the limit by its window: a week
        assert current == pytest.approx(4 / (7 * 86_400))
    else:
        assert current == pytest.approx(value)


def test_states_events_and_periods_follow_usage(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 10})["id"])
    event = {"subject": who, "meter": meter, "quantity": 5}
    for quantity in (5, 4, 1):
        assert http(server, "POST", "/v1/usages", {**event, "idempotency_key": uuid.uuid4().hex,
                                                   "quantity": quantity})[0] == 201
        http(server, "GET", f"/v1/entitlements/states?subject={who}")  # a flush after each
    code, states = http(server, "GET", f"/v1/entitlements/states?subject={who}")
    assert code == 200 and [(s["state"], s["current"]) for s in states["items"]] == [("exceeded", 10)]
    code, events = http(server, "GET", f"/v1/entitlements/events?subject={who}")
    assert [e["type"] for e in events["items"]] == ["exceeded", "warning"]
    code, periods = http(server, "GET", f"/v1/entitlements/periods?subject={who}")
    assert [(p["included"], p["overage"], p["event_count"]) for p in periods["items"]] == [(10, 0, 3)]


def test_after_sigkill_a_check_sees_exactly_storage(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        meter = new_meter(server)
        who = subject()
        assign(server, who, new_plan(server, {"meter": meter, "limit": 10, "enforcement": "hard"})["id"])
        assert consume(server, who, meter, 6, key="before-kill")[0] == 201
        assert consume(server, who, meter, 6, key="refused")[0] == 429
    finally:
        server.stop(signal.SIGKILL)
    with running_server(tmp_path, server.database) as restarted:
        assert check(restarted, who, meter)["current"] == 6
        code, replayed = consume(restarted, who, meter, 6, key="refused")
        assert code == 429 and replayed["replayed"] is True
        assert consume(restarted, who, meter, 4, key="after")[0] == 201
        assert stored_total(restarted, meter, who) == (10, 2)


def test_grpc_record_usage_and_a_late_event_count_in_their_window(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 100, "enforcement": "hard"})["id"])
    now = datetime.now(UTC)
    assert consume(server, who, meter, 10, timestamp=(now + timedelta(seconds=60)).isoformat())[0] == 201
    client = Client(server.address)
    try:
        event = usage_pb2.UsageEvent(idempotency_key=uuid.uuid4().hex, subject=who, meter=meter, quantity=25)
        event.timestamp.FromDatetime(now + timedelta(seconds=30))  # older than the consume: late
        client.call(client.usage.RecordUsage, event)
    finally:
        client.close()
    assert check(server, who, meter)["current"] == 35
    assert stored_total(server, meter, who) == (35, 2)


def test_a_stream_counts_as_soon_as_it_is_acknowledged(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    assign(server, who, new_plan(server, {"meter": meter, "limit": 100, "enforcement": "hard"})["id"])
    assert check(server, who, meter)["current"] == 0  # its window is in the ledger now
    events = [usage_pb2.UsageEvent(idempotency_key=f"s{i}", subject=who, meter=meter, quantity=2) for i in range(40)]

    async def send_all() -> None:
        async with StreamClient(server.address, ADMIN_KEY, usage_pb2.StreamUsageStart(meters=[meter])) as stream:
            for event in events:
                await stream.send(event)

    asyncio.run(send_all())  # returns once every event is acknowledged
    assert check(server, who, meter)["current"] == 80
    assert consume(server, who, meter, 21)[0] == 429


def test_a_preview_shows_each_subject_under_the_proposed_limits(server: ServerProcess) -> None:
    meter = new_meter(server)
    who = subject()
    plan = new_plan(server, {"meter": meter, "limit": 100})
    assign(server, who, plan["id"])
    assert consume(server, who, meter, 60)[0] == 201
    body = {"name": "pro", "limits": [{"meter": meter, "limit": 50}]}
    code, preview = http(server, "POST", f"/v1/plans/{plan['id']}/preview", body)
    assert code == 200, preview
    assert preview["summary"] == {"subjects": 1, "ok": 0, "warning": 0, "exceeded": 1, "removed_limits": 0}
    (item,) = preview["subjects"][0]["items"]
    assert (item["current"], item["current_limit"], item["proposed_limit"], item["current_state"],
            item["proposed_state"]) == (60, 100, 50, "ok", "exceeded")
    assert http(server, "GET", f"/v1/plans/{plan['id']}")[1]["version"] == 1  # nothing stored


def test_a_hard_limit_on_distinct_users_refuses_only_a_new_user_past_it(server: ServerProcess) -> None:
    """A plan may cap distinct users per month (a unique_count meter): a user already counted in
    the window is always within the cap, a new one past it is refused and stored nowhere. Usage
    recorded before the first consume is read from storage; later usage from the ledger."""
    meter = f"m_{uuid.uuid4().hex[:10]}"
    code, body = http(server, "POST", "/v1/meters", {
        "name": meter, "aggregation": "unique_count", "unique_dimension": "user",
        "dimensions": [{"name": "user", "type": "string", "required": True}],
    })
    assert code == 201, body
    plan = new_plan(server, {"meter": meter, "limit": 2, "enforcement": "hard"})
    who = subject()
    assign(server, who, plan["id"])
    code, _ = http(server, "POST", "/v1/usages", {
        "meter": meter, "subject": who, "idempotency_key": "before", "quantity": 1, "metadata": {"user": "u1"},
    })
    assert code in (200, 201)

    answers = [consume(server, who, meter, key=f"k{i}", metadata={"user": user})
               for i, user in enumerate(["u1", "u2", "u1", "u3", "u2"])]

    assert [code for code, _ in answers] == [201, 201, 201, 429, 201]
    assert [body["quota"]["current"] for _, body in answers] == [1, 1, 2, 2, 2]
    assert stored_total(server, meter, who) == (2.0, 5)  # u1 and u2; the refused u3 is nowhere
    assert check(server, who, meter)["current"] == 2
