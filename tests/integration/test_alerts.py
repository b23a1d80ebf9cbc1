"""Alert rules over REST on a real server: refusals, evaluate-now, and deliveries to a real receiver.

The receiver is an HTTP server on a loopback port started by the test (so the
server runs with OPENSPANNER_WEBHOOK_ALLOW_PRIVATE=true); a delivery is
waited for, never timed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from openspanner.client import Client, InvalidArgumentError, NotFoundError
from tests.harness import ADMIN_KEY, ServerProcess, running_server
from tests.support.http_calls import http

Received = tuple[dict[str, str], bytes]


class Receiver:
    """Answers 200 to every POST and hands each (headers, body) to the test."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def next(self) -> tuple[dict[str, str], dict[str, Any], bytes]:
        headers, body = self.received.get(timeout=60)
        return headers, json.loads(body), body

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(Path(tmp_path_factory.mktemp("alerts")), OPENSPANNER_WEBHOOK_ALLOW_PRIVATE="true",
                        OPENSPANNER_WEBHOOK_POLL_SECONDS="0.2") as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def meter(server: ServerProcess) -> str:
    name = f"m_{uuid.uuid4().hex[:10]}"
    code, body = http(server, "POST", "/v1/meters", {
        "name": name, "aggregation": "sum", "dimensions": [{"name": "region", "type": "string", "required": False}],
    })
    assert code == 201, body
    return name


def destination(server: ServerProcess, url: str) -> dict[str, Any]:
    code, body = http(server, "POST", "/v1/alerts/destinations", {"name": "ops", "webhook_url": url})
    assert code == 201, body
    return dict(body)


def usage(server: ServerProcess, meter_name: str, subject: str, quantity: float, region: str = "eu") -> None:
    code, body = http(server, "POST", "/v1/usages", {
        "idempotency_key": uuid.uuid4().hex, "subject": subject, "meter": meter_name, "quantity": quantity,
        "metadata": {"region": region},
    })
    assert code == 201, body


def rule(server: ServerProcess, **fields: Any) -> dict[str, Any]:
    code, body = http(server, "POST", "/v1/alerts", {"name": "busy", "threshold": 10, **fields})
    assert code == 201, body
    return dict(body)


def test_a_rule_triggers_once_then_resolves_and_each_event_is_delivered_signed(
    server: ServerProcess, receiver: Receiver
) -> None:
    # The server's worker also evaluates the rule (at once, and 5 s after each event): whichever
    # evaluation sees a crossing first makes its event, and no other evaluation makes another.
    name = meter(server)
    target = destination(server, receiver.url)
    created = rule(server, meter=name, destination_id=target["id"], evaluation_interval_seconds=3600)
    assert (created["window_seconds"], created["comparator"], created["enabled"]) == (3600, "gte", True)
    assert created["destination"]["id"] == target["id"] and "secret" not in json.dumps(created["destination"])
    usage(server, name, "org_1", 7)
    usage(server, name, "org_1", 5)

    for _ in range(2):
        code, evaluated = http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")
        assert code == 200, evaluated
        assert (evaluated["state"]["status"], evaluated["state"]["value"]) == ("alerting", 12)
    assert _event_types(server, created["id"]) == ["triggered"]
    headers, payload, raw = receiver.next()
    assert (payload["event"]["type"], payload["rule"]["id"], payload["state"]["status"]) == (
        "triggered", created["id"], "alerting"
    )
    assert payload["rule"]["destination_name"] == "ops" and payload["event"]["value"] == 12
    secret = target["webhook_signing"]["secret"]
    signed = headers["x-open-spanner-timestamp"].encode() + b"." + raw
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-open-spanner-signature"] == f"v1={expected}"

    code, changed = http(server, "PUT", f"/v1/alerts/{created['id']}", {"threshold": 100})
    assert code == 200 and changed["threshold"] == 100 and changed["evaluation_interval_seconds"] == 3600
    for _ in range(2):
        code, resolved = http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")
        assert code == 200 and resolved["state"]["status"] == "ok"
    assert _event_types(server, created["id"]) == ["resolved", "triggered"]
    _, payload, _ = receiver.next()
    assert (payload["event"]["type"], payload["state"]["status"]) == ("resolved", "ok")
    delivered = _wait_for_deliveries(server, created["id"], 2)
    assert {e["delivery"]["status"] for e in delivered} == {"delivered"}
    assert receiver.received.empty()


def test_an_event_brings_its_rule_forward(server: ServerProcess, receiver: Receiver) -> None:
    """With an hour between evaluations, only the 5 s after a matching event can trigger the rule."""
    name = meter(server)
    created = rule(server, meter=name, destination_id=destination(server, receiver.url)["id"],
                   evaluation_interval_seconds=3600, subject="org_9")
    while "state" not in (got := http(server, "GET", f"/v1/alerts/{created['id']}")[1]):
        threading.Event().wait(0.2)  # the worker's first evaluation, due at creation
    assert got["state"]["status"] == "no_data"
    usage(server, name, "org_9", 50)
    _, payload, _ = receiver.next()
    assert (payload["event"]["type"], payload["rule"]["id"], payload["event"]["value"]) == (
        "triggered", created["id"], 50
    )


def _event_types(server: ServerProcess, rule_id: str) -> list[str]:
    code, events = http(server, "GET", f"/v1/alerts/events?rule_id={rule_id}")
    assert code == 200, events
    return [e["type"] for e in events["items"]]


def _wait_for_deliveries(server: ServerProcess, rule_id: str, count: int) -> list[dict[str, Any]]:
    """The rule's events once each shows its delivery (the receiver has answered; the log follows it)."""
    while True:
        code, events = http(server, "GET", f"/v1/alerts/events?rule_id={rule_id}")
        assert code == 200
        if len(events["items"]) == count and all("delivery" in e for e in events["items"]):
            return list(events["items"])
        threading.Event().wait(0.2)


def test_a_grouped_rule_keeps_a_state_per_group(server: ServerProcess, receiver: Receiver) -> None:
    name = meter(server)
    target = destination(server, receiver.url)
    created = rule(server, meter=name, destination_id=target["id"], group_by="subject", threshold=10,
                   metadata={"region": "eu"})
    usage(server, name, "org_a", 20)
    usage(server, name, "org_b", 3)
    usage(server, name, "org_b", 30, region="us")  # filtered out by the rule
    assert http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")[0] == 200
    code, events = http(server, "GET", f"/v1/alerts/events?rule_id={created['id']}")
    assert [(e["type"], e["group_key"], e["group_value"]) for e in events["items"]] == [
        ("triggered", "subject", "org_a")
    ]
    code, got = http(server, "GET", f"/v1/alerts/{created['id']}")
    assert code == 200
    assert sorted((s["group_value"], s["status"], s["value"]) for s in got["states"]) == [
        ("org_a", "alerting", 20), ("org_b", "ok", 3)
    ]
    assert got["state"]["status"] == "alerting"
    assert datetime.fromisoformat(got["next_evaluate_at"]) > datetime.now(UTC)
    _, payload, _ = receiver.next()
    assert (payload["event"]["group_value"], payload["state"]["group_value"]) == ("org_a", "org_a")


def test_a_rule_without_events_has_no_data(server: ServerProcess, receiver: Receiver) -> None:
    created = rule(server, meter=meter(server), destination_id=destination(server, receiver.url)["id"])
    code, evaluated = http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")
    assert code == 200
    assert evaluated["state"]["status"] == "no_data" and "events" not in evaluated
    assert _event_types(server, created["id"]) == []


def test_refusals_name_their_field(server: ServerProcess, receiver: Receiver) -> None:
    name = meter(server)
    target = destination(server, receiver.url)["id"]
    base = {"name": "r", "meter": name, "destination_id": target, "threshold": 1}
    cases = [
        ({"meter": "nope"}, 404, "meter"),
        ({"destination_id": str(uuid.uuid4())}, 404, "destination_id"),
        ({"window_seconds": 59}, 400, "window_seconds"),
        ({"evaluation_interval_seconds": 86401}, 400, "evaluation_interval_seconds"),
        ({"comparator": "above"}, 400, "comparator"),
        ({"group_by": "model"}, 400, "group_by"),
        ({"metadata": {"model": "x"}}, 400, "metadata.model"),
        ({"threshold": "high"}, 400, "threshold"),
        ({"name": ""}, 400, "name"),
    ]
    for change, status, field in cases:
        code, body = http(server, "POST", "/v1/alerts", {**base, **change})
        assert (code, body["error"].get("field")) == (status, field), (change, body)
    raw = json.dumps(base).replace('"threshold": 1', '"threshold": 1e999').encode()
    code, body = http(server, "POST", "/v1/alerts", raw=raw)
    assert (code, body["error"]["field"]) == (400, "threshold"), body
    assert http(server, "GET", f"/v1/alerts/{uuid.uuid4()}")[0] == 404
    assert http(server, "POST", f"/v1/alerts/{uuid.uuid4()}/evaluate")[0] == 404


def test_a_destination_a_rule_uses_cannot_be_deleted(server: ServerProcess, receiver: Receiver) -> None:
    target = destination(server, receiver.url)["id"]
    created = rule(server, meter=meter(server), destination_id=target)
    code, body = http(server, "DELETE", f"/v1/alerts/destinations/{target}")
    assert code == 409, body
    assert http(server, "DELETE", f"/v1/alerts/{created['id']}")[0] == 204
    assert http(server, "GET", f"/v1/alerts/{created['id']}")[0] == 404
    assert http(server, "DELETE", f"/v1/alerts/destinations/{target}")[0] == 204


def test_read_keys_list_rules_but_cannot_change_them(server: ServerProcess, receiver: Receiver) -> None:
    code, created_key = http(server, "POST", "/v1/api-keys", {"name": "reader", "scope": "read"})
    assert code == 201, created_key
    key = created_key["secret"]
    assert http(server, "GET", "/v1/alerts", key=key)[0] == 200
    assert http(server, "POST", "/v1/alerts", {"name": "x"}, key=key)[0] == 403


def test_the_grpc_client_and_the_command_line_manage_rules(server: ServerProcess, receiver: Receiver) -> None:
    name = meter(server)
    target = destination(server, receiver.url)["id"]
    with Client(server.address, ADMIN_KEY) as client:
        created = client.create_alert_rule({"name": "quiet", "meter": name, "destination_id": target,
                                            "comparator": "lt", "threshold": 1, "group_by": "subject",
                                            "evaluation_interval_seconds": 3600})
        assert (created["enabled"], created["comparator"], created["window_seconds"]) == (True, "lt", 3600)
        changed = client.update_alert_rule(created["id"], {"threshold": 100, "comparator": "gte"})
        assert (changed["threshold"], changed["comparator"], changed["group_by"]) == (100, "gte", "subject")
        usage(server, name, "org_1", 150)
        assert client.evaluate_alert_rule(created["id"])["state"]["status"] == "alerting"
        events = list(client.list_alert_events(rule_id=created["id"]))
        assert [(e["type"], e["group_value"]) for e in events] == [("triggered", "org_1")]
        assert [r["id"] for r in client.list_alert_rules(meter=name)] == [created["id"]]
        with pytest.raises(NotFoundError):
            client.update_alert_rule(created["id"], {"destination_id": str(uuid.uuid4())})
        with pytest.raises(InvalidArgumentError):
            client.update_alert_rule(created["id"], {"window_seconds": 10})

    env = {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}
    listed = json.loads(_cli(env, "alerts", "list", "--meter", name, "--format", "json"))
    assert [(r["id"], r["state"]["status"]) for r in listed] == [(created["id"], "alerting")]
    updated = json.loads(_cli(env, "alerts", "update", created["id"], "--disable", "--filter", "region=eu"))
    assert (updated["enabled"], updated["metadata"], updated["threshold"]) == (False, {"region": "eu"}, 100)
    assert "triggered" in _cli(env, "alerts", "events", "--rule", created["id"])
    _cli(env, "alerts", "delete", created["id"])
    assert json.loads(_cli(env, "alerts", "list", "--meter", name, "--format", "json")) == []


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "openspanner", *args], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_events_page_newest_first(server: ServerProcess, receiver: Receiver) -> None:
    name = meter(server)
    created = rule(server, meter=name, destination_id=destination(server, receiver.url)["id"],
                   evaluation_interval_seconds=3600)
    usage(server, name, "org_1", 20)
    for threshold in (10, 100, 10):  # triggered, resolved, triggered
        assert http(server, "PUT", f"/v1/alerts/{created['id']}", {"threshold": threshold})[0] == 200
        assert http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")[0] == 200
    seen, cursor = [], ""
    while True:
        code, page = http(server, "GET", f"/v1/alerts/events?rule_id={created['id']}&limit=1&cursor={cursor}")
        assert code == 200 and len(page["items"]) == 1, page
        seen.append(page["items"][0]["type"])
        cursor = page.get("next_cursor", "")
        if not cursor:
            break
    assert seen == ["triggered", "resolved", "triggered"]
    code, body = http(server, "GET", "/v1/alerts/events?cursor=nonsense")
    assert (code, body["error"]["code"]) == (400, "invalid_cursor"), body


def test_a_rule_whose_meter_is_gone_is_in_error_and_sends_nothing(server: ServerProcess, receiver: Receiver) -> None:
    name = meter(server)
    created = rule(server, meter=name, destination_id=destination(server, receiver.url)["id"])
    assert http(server, "DELETE", f"/v1/meters/{name}")[0] == 204
    for _ in range(2):
        code, evaluated = http(server, "POST", f"/v1/alerts/{created['id']}/evaluate")
        assert code == 200, evaluated
        assert evaluated["state"]["status"] == "error" and name in evaluated["state"]["message"]
    assert _event_types(server, created["id"]) == ["evaluation_failed"]
    code, jobs = http(server, "GET", "/v1/alerts/delivery-jobs?event_kind=alert&limit=200")
    assert code == 200 and not any(j["destination_id"] == created["destination_id"] for j in jobs["items"])


def test_an_update_keeps_what_it_leaves_empty_as_the_product_does(server: ServerProcess, receiver: Receiver) -> None:
    target = destination(server, receiver.url)["id"]
    code, created = http(server, "POST", "/v1/alerts", {
        "name": "n", "meter": meter(server), "destination_id": target, "window_seconds": 600, "comparator": "lt",
    })
    assert code == 201 and created["threshold"] == 0, created
    code, changed = http(server, "PUT", f"/v1/alerts/{created['id']}", {
        "name": "", "comparator": "", "window_seconds": 0, "evaluation_interval_seconds": 0, "subject": "org_1",
    })
    assert code == 200, changed
    kept = ("name", "comparator", "window_seconds", "evaluation_interval_seconds", "meter", "threshold")
    assert {k: changed[k] for k in kept} == {k: created[k] for k in kept}
    assert changed["subject"] == "org_1"
