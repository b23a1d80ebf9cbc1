"""POST /v1/usages answered directly (http/direct.py) answers byte for byte as its FastAPI route does.

The direct path takes a request with `Content-Type: application/json` and no
query string; `application/json; charset=utf-8`, which FastAPI reads the same
way, goes to the route. Each case is sent both ways and the answers compared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import pytest

from tests.harness import ADMIN_KEY, ServerProcess, running_server
from tests.support.http_calls import http, request

MAX_BODY_BYTES = 4096
DIRECT = {"Content-Type": "application/json"}
ROUTED = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("direct"), OPENSPANNER_HTTP_MAX_BODY_BYTES=str(MAX_BODY_BYTES)
    ) as running:
        code, body = http(running, "POST", "/v1/meters", {
            "name": "direct", "aggregation": "sum",
            "dimensions": [{"name": "region", "type": "string", "required": True}],
        })
        assert code == 201, body
        yield running


def event(key: str, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "subject": "org_1", "meter": "direct", "quantity": 2,
            "metadata": {"region": "eu"}, **fields}


def both_ways(server: ServerProcess, raw: bytes, key: str | None = ADMIN_KEY) -> list[tuple[int, str, bytes]]:
    answers = []
    for headers in (DIRECT, ROUTED):
        code, answer_headers, body = request(server, "POST", "/v1/usages", raw=raw, key=key, headers=headers)
        answers.append((code, answer_headers.get("content-type", ""), body))
    return answers


@pytest.mark.parametrize(("case", "raw", "status"), [
    ("a duplicate", json.dumps(event("stored-first")).encode(), 201),
    ("an unknown meter", json.dumps(event("k", meter="nope")).encode(), 404),
    ("an undeclared dimension", json.dumps(event("k", metadata={"region": "eu", "x": "y"})).encode(), 400),
    ("a missing required dimension", json.dumps(event("k", metadata={})).encode(), 400),
    ("a timestamp from the future", json.dumps(event("k", timestamp="2999-01-01T00:00:00Z")).encode(), 400),
    ("an unknown field", json.dumps(event("k", colour="red")).encode(), 400),
    ("a missing quantity", json.dumps({"idempotency_key": "k", "meter": "direct"}).encode(), 400),
    ("a quantity of the wrong type", json.dumps(event("k", quantity="two")).encode(), 400),
    ("an array", b"[]", 400),
    ("text that is not JSON", b"{not json", 400),
    ("bytes that are not UTF-8", b'{"meter": "\xff"}', 400),
    ("a lone surrogate", b'{"idempotency_key": "\\ud800", "meter": "direct", "quantity": 1}', 400),
])
def test_each_answer_is_the_routes_own(server: ServerProcess, case: str, raw: bytes, status: int) -> None:
    code, _ = http(server, "POST", "/v1/usages", event("stored-first"))
    assert code == 201
    direct, routed = both_ways(server, raw)
    assert direct[0] == status, (case, direct)
    assert direct == routed, case


@pytest.mark.parametrize("key", [None, "not-a-key", f"{ADMIN_KEY}x"])
def test_a_refused_key_is_answered_as_the_route_does(server: ServerProcess, key: str | None) -> None:
    direct, routed = both_ways(server, json.dumps(event(uuid.uuid4().hex)).encode(), key=key)
    assert direct[0] == 401 and direct == routed


def test_a_new_event_is_answered_as_the_route_does(server: ServerProcess) -> None:
    """Two new events, one each way: the same answer but for the event's own id and key."""
    answers = []
    for headers in (DIRECT, ROUTED):
        key = uuid.uuid4().hex
        code, answer_headers, body = request(
            server, "POST", "/v1/usages", raw=json.dumps(event(key)).encode(), headers=headers
        )
        answer = json.loads(body)
        assert (code, answer["idempotency_key"], answer["outcome"]) == (201, key, "accepted")
        answers.append((answer_headers["content-type"], {**answer, "id": "", "idempotency_key": "",
                                                         "received_at": "", "timestamp": ""}, list(answer)))
    assert answers[0] == answers[1]


def test_a_chunked_body_over_the_limit_is_refused_413(server: ServerProcess) -> None:
    """The body limit counts a chunked body as it arrives: its refusal reaches the route to answer."""
    connection = HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    chunks = iter([b'{"meter": "direct", "subject": "', b"x" * MAX_BODY_BYTES, b'"}'])
    connection.request("POST", "/v1/usages", body=chunks, encode_chunked=True, headers={
        **DIRECT, "Authorization": f"Bearer {ADMIN_KEY}", "Transfer-Encoding": "chunked",
    })
    answer = connection.getresponse()
    assert answer.status == 413
    assert json.loads(answer.read())["error"]["code"] == "payload_too_large"
    connection.close()


def test_a_query_parameter_is_refused_by_the_route(server: ServerProcess) -> None:
    code, body = http(server, "POST", "/v1/usages?dry_run=1", event(uuid.uuid4().hex))
    assert code == 400 and body["error"]["field"] == "dry_run"


def entitlement_both_ways(
    server: ServerProcess, path: str, body: dict[str, Any], key: str | None = ADMIN_KEY
) -> list[tuple[int, str, dict[str, Any]]]:
    answers = []
    for headers in (DIRECT, ROUTED):
        code, answer_headers, raw = request(server, "POST", path, raw=json.dumps(body).encode(), key=key,
                                            headers=headers)
        answers.append((code, answer_headers.get("content-type", ""), json.loads(raw)))
    return answers


def test_checks_and_consumes_are_answered_directly_as_their_routes_do(server: ServerProcess) -> None:
    """The same bodies through the direct path and through FastAPI: the same answers (a consume's
    key differs per way, so only its status, decision and quota are compared; the times in a
    check's window are the same instant either way)."""
    code, plan = http(server, "POST", "/v1/plans", {
        "name": "direct", "limits": [{"meter": "direct", "limit": 3, "enforcement": "hard"}],
    })
    assert code == 201, plan
    assert http(server, "PUT", "/v1/plans/subjects/org_direct", {"plan_id": plan["id"]})[0] == 200
    for body in (
        {"subject": "org_direct", "meter": "direct", "quantity": 2},
        {"subject": "nobody", "meter": "direct", "quantity": 1},
        {"subject": "org_direct", "meter": "direct", "quantity": -1},
        {"subject": "org_direct", "meter": "direct", "quantity": 1, "colour": "red"},
    ):
        direct, routed = entitlement_both_ways(server, "/v1/entitlements/check", body)
        assert direct == routed, body
    for key in (None, "not-a-key"):
        direct, routed = entitlement_both_ways(server, "/v1/entitlements/check", {"subject": "s", "meter": "m"}, key)
        assert direct == routed and direct[0] == 401

    answers = []
    for quantity in (2, 2):  # the second of each pair passes the hard limit of 3
        for headers in (DIRECT, ROUTED):
            who = "org_direct_" + ("a" if headers is DIRECT else "b")
            assert http(server, "PUT", f"/v1/plans/subjects/{who}", {"plan_id": plan["id"]})[0] == 200
            body = {"idempotency_key": uuid.uuid4().hex, "subject": who, "meter": "direct", "quantity": quantity,
                    "metadata": {"region": "eu"}}
            code, _, raw = request(server, "POST", "/v1/entitlements/consume", raw=json.dumps(body).encode(),
                                   key=ADMIN_KEY, headers=headers)
            answer = json.loads(raw)
            answers.append((code, answer["accepted"], answer["quota"]["current"], answer["quota"]["state"]))
    assert answers == [(201, True, 0, "ok"), (201, True, 0, "ok"), (429, False, 2, "exceeded"),
                       (429, False, 2, "exceeded")]
    missing_key = {"subject": "org_direct", "meter": "direct", "quantity": 1, "metadata": {"region": "eu"}}
    direct, routed = entitlement_both_ways(server, "/v1/entitlements/consume", missing_key)
    assert direct == routed and direct[0] == 400 and direct[2]["error"]["field"] == "idempotency_key"
