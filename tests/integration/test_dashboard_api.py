"""The REST routes the dashboard reads besides the product's: session, API keys, stats, subjects.

Against a real server of its own, so the in-memory counts start from zero.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openspanner.client import StreamClient
from openspanner.v1 import usage_pb2
from tests.harness import ADMIN_KEY, ServerProcess, running_server
from tests.integration.test_http import error_of
from tests.support.http_calls import http


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("dashboard-api")) as running:
        yield running


def meter(server: ServerProcess, name: str) -> None:
    code, body = http(server, "POST", "/v1/meters", {
        "name": name, "aggregation": "sum", "unit": "token", "dimensions": [{"name": "model", "type": "string"}],
    })
    assert code == 201, body


def usage(key: str, meter: str, subject: str = "org_1", quantity: float = 1, **metadata: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "subject": subject, "meter": meter, "quantity": quantity,
            "metadata": metadata or {"model": "gpt-4.1"}}


def test_session_and_api_keys_create_list_revoke(server: ServerProcess) -> None:
    assert http(server, "GET", "/v1/session") == (200, {"key_id": "admin", "scope": "admin"})
    code, created = http(server, "POST", "/v1/api-keys", {"name": "dashboard", "scope": "read"})
    assert code == 201, created
    key, secret = created["api_key"], created["secret"]
    assert (key["name"], key["scope"], key["revoked_at"]) == ("dashboard", "read", None)
    assert secret.startswith(f"osk_{key['id']}_")
    assert http(server, "GET", "/v1/session", key=secret) == (200, {"key_id": key["id"], "scope": "read"})
    code, listed = http(server, "GET", "/v1/api-keys")
    assert code == 200 and key in listed["items"]
    # A read key may read, not manage keys.
    assert http(server, "GET", "/v1/meters", key=secret)[0] == 200
    assert error_of(http(server, "GET", "/v1/api-keys", key=secret)) == (403, "forbidden", None)
    assert error_of(http(server, "POST", "/v1/api-keys", {"name": "x", "scope": "root"})) == (
        400, "invalid_input", "scope"
    )

    code, revoked = http(server, "DELETE", f"/v1/api-keys/{key['id']}")
    assert code == 200 and revoked["revoked_at"] and revoked["id"] == key["id"]
    assert error_of(http(server, "GET", "/v1/session", key=secret)) == (401, "unauthorized", None)
    code, remaining = http(server, "GET", "/v1/api-keys")
    assert key["id"] not in {k["id"] for k in remaining["items"]}
    code, everything = http(server, "GET", "/v1/api-keys?include_revoked=true")
    assert revoked in everything["items"]
    assert error_of(http(server, "DELETE", "/v1/api-keys/nope")) == (404, "not_found", "id")


def test_overview_and_ingest_health_count_what_was_answered(server: ServerProcess) -> None:
    name = f"stats_{uuid.uuid4().hex[:8]}"
    meter(server, name)
    events = [usage(f"k{i}", name, quantity=i) for i in range(1, 4)]
    assert http(server, "POST", "/v1/usages/bulk", events)[0] == 201
    assert http(server, "POST", "/v1/usages", events[0])[0] == 201  # a duplicate
    bad = usage("bad", name, colour="red")
    assert http(server, "POST", "/v1/usages/bulk", [bad, events[1]])[0] == 201

    code, overview = http(server, "GET", "/v1/stats/overview")
    assert code == 200, overview
    row = next(m for m in overview["meters"] if m["meter"] == name)
    assert row["last_hour"] == row["last_day"] == {"accepted": 3, "duplicates": 2, "rejected": 1}
    assert row["stored_events"] == 3 and row["latest_event_at"].endswith("Z")
    assert overview["stored_events"] >= 3 and overview["open_streams"] == 0

    code, health = http(server, "GET", "/v1/stats/ingest")
    assert code == 200
    paths = {(r["meter"], r["path"]): r for r in health["rates"]}
    assert paths[(name, "bulk")]["accepted_per_second"] > 0 and paths[(name, "bulk")]["rejected_per_second"] > 0
    assert paths[(name, "unary")]["duplicates_per_second"] > 0
    (kind,) = [k for k in health["rejections"] if k["meter"] == name]
    assert (kind["field"], kind["count"]) == ("metadata.colour", 1)
    assert [(e["idempotency_key"], e["subject"]) for e in kind["latest"]] == [("bad", "org_1")]
    assert kind["latest"][0]["message"].startswith("metadata.colour: ")


def test_events_for_made_up_meters_are_counted_under_one_name(server: ServerProcess) -> None:
    """Client input never becomes a stats entry of its own: the counts stay bounded."""
    made_up = [f"nope_{uuid.uuid4().hex[:8]}" for _ in range(5)]
    code, body = http(server, "POST", "/v1/usages/bulk", [usage(f"k{i}", name) for i, name in enumerate(made_up)])
    assert code == 400, body

    code, overview = http(server, "GET", "/v1/stats/overview")
    names = {m["meter"] for m in overview["meters"]}
    assert "unknown" in names and not names & set(made_up)
    code, health = http(server, "GET", "/v1/stats/ingest")
    kinds = [k for k in health["rejections"] if k["meter"] == "unknown" and k["field"] == "meter"]
    shown = " ".join(e["message"] for k in kinds for e in k["latest"])
    assert all(name in shown for name in made_up)  # the examples still say which name was sent


def test_an_open_stream_is_listed_with_its_ack_latency(server: ServerProcess) -> None:
    name = f"streamed_{uuid.uuid4().hex[:8]}"
    meter(server, name)

    async def scenario() -> tuple[Any, Any]:
        start = usage_pb2.StreamUsageStart(meters=[name])
        async with StreamClient(server.address, ADMIN_KEY, start, batch_size=10) as stream:
            for i in range(25):
                event = usage_pb2.UsageEvent(idempotency_key=f"s{i}", subject="org_9", meter=name, quantity=1)
                event.metadata.update({"model": "claude"} if i else {"colour": "red"})
                await stream.send(event)
            await stream.flush(timeout=30)
            during = await asyncio.to_thread(http, server, "GET", "/v1/stats/ingest")
        for _ in range(50):  # the server notices the end of the stream just after the client
            after = await asyncio.to_thread(http, server, "GET", "/v1/stats/ingest")
            if not [s for s in after[1]["streams"] if name in s["meters"]]:
                break
            await asyncio.sleep(0.1)
        return during, after

    (code, during), (_, after) = asyncio.run(scenario())
    assert code == 200
    (shown,) = [s for s in during["streams"] if name in s["meters"]]
    assert (shown["kind"], shown["events_acknowledged"]) == ("usage", 25)
    assert shown["ack_latency_ms_p50"] > 0 and shown["ack_latency_ms_p99"] >= shown["ack_latency_ms_p50"]
    rates = {r["path"]: r for r in during["rates"] if r["meter"] == name}
    assert rates["stream:usage"]["accepted_per_second"] > 0 and rates["stream:usage"]["rejected_per_second"] > 0
    assert [k["field"] for k in during["rejections"] if k["meter"] == name] == ["metadata.colour"]
    assert not [s for s in after["streams"] if name in s["meters"]]


def test_subjects_with_their_usage_of_every_meter(server: ServerProcess) -> None:
    first, second = f"subj_a_{uuid.uuid4().hex[:6]}", f"subj_b_{uuid.uuid4().hex[:6]}"
    meter(server, first)
    meter(server, second)
    tag = uuid.uuid4().hex[:6]
    sent = [usage(f"a{i}", first, subject=f"big_{tag}", quantity=2) for i in range(3)]
    sent += [usage("b0", second, subject=f"big_{tag}", quantity=5), usage("a9", first, subject=f"small_{tag}")]
    assert http(server, "POST", "/v1/usages/bulk", sent)[0] == 201
    now = datetime.now(UTC)
    window = f"from={(now - timedelta(hours=1)).isoformat()}&to={(now + timedelta(hours=1)).isoformat()}"
    code, body = http(server, "GET", f"/v1/subjects?{window.replace('+', '%2B')}&limit=1000")
    assert code == 200, body
    ours = {s["subject"]: s["usage"] for s in body["items"] if s["subject"].endswith(tag)}
    assert [s["subject"] for s in body["items"] if s["subject"].endswith(tag)] == [f"big_{tag}", f"small_{tag}"]
    assert sorted((u["meter"], u["quantity"], u["events"]) for u in ours[f"big_{tag}"]) == [
        (first, 6.0, 3), (second, 5.0, 1)
    ]
    assert ours[f"small_{tag}"] == [
        {"meter": first, "quantity": 1.0, "events": 1, "unit": "token", "aggregation": "sum"}
    ]
    assert error_of(http(server, "GET", "/v1/subjects?from=yesterday&to=today")) == (400, "invalid_from", "from")
