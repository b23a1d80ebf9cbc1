"""The REST API on a real server: the seeds' curl commands run verbatim, the
product's REST contract (status codes, shapes, error codes), and HTTP and gRPC
seeing one API.

The curl commands are read from the product documents themselves, kept
verbatim in tests/seed_payloads/documents, so each example is tested as it
is written.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from openapi_spec_validator import validate

from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage, stored_totals
from tests.integration.test_seeds import within_retention
from tests.support.http_calls import http, request
from tests.support.seed_docs import seed_commands

MAX_BODY_BYTES = 64 * 1024
CURL = shutil.which("curl") or "/usr/bin/curl"


def run_curl(server: ServerProcess, command: str, key: str = ADMIN_KEY) -> tuple[int, Any]:
    """Run a seed command as written, plus `-w` to learn the status code."""
    env = {
        "PATH": f"{Path(CURL).parent}:/usr/bin:/bin",
        "OPEN_SPANNER_BASE_URL": server.base_url,
        "OPEN_SPANNER_API_KEY": key,
    }
    done = subprocess.run(
        ["bash", "-c", command + " -s -w '\\n%{http_code}'"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    body, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("http"), OPENSPANNER_HTTP_MAX_BODY_BYTES=str(MAX_BODY_BYTES)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> Iterator[Client]:
    client = Client(server.address)
    yield client
    client.close()


def new_meter(server: ServerProcess) -> str:
    name = f"h_{uuid.uuid4().hex[:10]}"
    code, body = http(server, "POST", "/v1/meters", {
        "name": name,
        "aggregation": "sum",
        "dimensions": [{"name": "region", "type": "string", "required": True}],
    })
    assert code == 201, body
    return name


def event(meter: str, key: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key or uuid.uuid4().hex,
        "subject": "org_1",
        "meter": meter,
        "quantity": 2,
        "metadata": {"region": "eu"},
        **fields,
    }


def error_of(answer: tuple[int, Any]) -> tuple[int, str, str | None]:
    """(status, error.code, error.field) of an error answer in the product's body."""
    code, body = answer
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return code, body["error"]["code"], body["error"].get("field")


@pytest.mark.parametrize("seed", sorted(seed_commands()))
def test_seed_curl_commands_run_verbatim(server: ServerProcess, grpc_client: Client, seed: str) -> None:
    create_meter, record_usage = seed_commands()[seed]
    code, meter = run_curl(server, create_meter)
    assert code == 201, meter
    sent_meter = json.loads(shlex.split(create_meter)[-1])
    expected = json.loads(json.dumps(sent_meter))
    for dimension in expected["dimensions"]:
        dimension.setdefault("required", True)  # as in the product: declared means required
    assert {k: meter[k] for k in sent_meter if k != "dimensions"} == {
        k: v for k, v in expected.items() if k != "dimensions"
    }
    assert [{k: d[k] for k in ("name", "type", "required")} for d in meter["dimensions"]] == expected["dimensions"]
    uuid.UUID(meter["id"])
    assert meter["created_at"].endswith("Z")

    usage = json.loads(shlex.split(record_usage)[-1])
    code, answer = run_curl(server, record_usage)
    if not within_retention(usage, sent_meter):
        assert code == 400 and answer["error"]["field"] == "timestamp"
        return
    assert (code, answer["idempotency_key"], answer["outcome"]) == (201, usage["idempotency_key"], "accepted")
    sent = {k: usage[k] for k in ("idempotency_key", "subject", "meter", "quantity", "metadata")}
    assert {k: answer[k] for k in sent} == sent
    uuid.UUID(answer["id"])
    # A replay is 201 with the stored event.
    assert run_curl(server, record_usage) == (201, {**answer, "outcome": "duplicate"})

    # gRPC sees the same meter and the same stored event.
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=meter["id"]))
    assert (got.name, got.id, [d.name for d in got.dimensions]) == (
        sent_meter["name"], meter["id"], [d["name"] for d in meter["dimensions"]]
    )
    again = grpc_client.call(grpc_client.usage.RecordUsage, json_format.ParseDict(usage, usage_pb2.UsageEvent()))
    assert again.outcome == usage_pb2.DUPLICATE and again.event.id == answer["id"]
    now = datetime.now(UTC)
    when = datetime.fromisoformat(usage["timestamp"].replace("Z", "+00:00")) if "timestamp" in usage else now
    total = grpc_client.call(grpc_client.query.QueryUsage, query_pb2.QueryUsageRequest(
        meter=usage["meter"], start_time=_ts(when - timedelta(hours=1)), end_time=_ts(now + timedelta(hours=1))
    ))
    assert [row.value for row in total.rows] == [usage["quantity"]]


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_our_query_routes_answer_as_grpc_does(server: ServerProcess, grpc_client: Client) -> None:
    meter = f"q_{uuid.uuid4().hex[:10]}"
    code, _ = http(server, "POST", "/v1/meters", {
        "name": meter, "aggregation": "sum",
        "dimensions": [{"name": "model", "type": "string"}, {"name": "cached", "type": "boolean"}],
    })
    assert code == 201
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    start, end, base = f"{day}T00:00:00Z", f"{day + timedelta(days=2)}T00:00:00Z", f"{day}T10:00:00Z"
    events = [
        event(meter, subject=subject, quantity=quantity, timestamp=base, metadata=metadata)
        for subject, quantity, metadata in [
            ("org_1", 5, {"model": "a", "cached": True}),
            ("org_1", 7, {"model": "b", "cached": True}),
            ("org_2", 11, {"model": "a", "cached": False}),
            ("org_3", 13, {"model": "a", "cached": True}),
        ]
    ]
    code, body = http(server, "POST", "/v1/usages/bulk", events)
    assert code == 201 and body["accepted"] == 4, body
    window = f"start_time={start}&end_time={end}"
    code, answer = http(
        server, "GET",
        f"/v1/meters/{meter}/usage?{window}&window_size=day&time_zone=Europe/Berlin"
        "&subject=org_1&subject=org_2&group_by=model&filter=cached:true",
    )
    assert code == 200, answer
    over_grpc = grpc_client.call(grpc_client.query.QueryUsage, json_format.ParseDict({
        "meter": meter, "start_time": start, "end_time": end,
        "window_size": "day", "time_zone": "Europe/Berlin", "subjects": ["org_1", "org_2"], "group_by": ["model"],
        "filters": [{"dimension": "cached", "values": [True]}],
    }, query_pb2.QueryUsageRequest()))
    assert [
        (row["window_start"], row["window_end"], row["group"], row["value"], row["event_count"])
        for row in answer["rows"]
    ] == [
        (_rfc3339(r.window_start), _rfc3339(r.window_end), json_format.MessageToDict(r.group), r.value, r.event_count)
        for r in over_grpc.rows
    ]
    assert sorted((row["group"]["model"], row["value"]) for row in answer["rows"]) == [("a", 5.0), ("b", 7.0)]
    assert (answer["aggregation"], answer["time_zone"]) == ("sum", "Europe/Berlin")

    code, page = http(server, "GET", f"/v1/meters/{meter}/events?{window}&limit=2&filter=model:a")
    assert code == 200 and len(page["items"]) == 2 and page["next_cursor"], page
    code, rest = http(
        server, "GET", f"/v1/meters/{meter}/events?{window}&limit=2&filter=model:a&cursor={page['next_cursor']}"
    )
    assert code == 200 and "next_cursor" not in rest, rest
    assert sorted(e["quantity"] for e in page["items"] + rest["items"]) == [5, 11, 13]
    assert error_of(http(server, "GET", f"/v1/meters/{meter}/usage?{window}&filter=cached:yes"))[:2] == (
        400, "invalid_input"
    )


def _rfc3339(stamp: timestamp_pb2.Timestamp) -> str:
    return stamp.ToDatetime(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_seed_curl_without_a_key_is_refused(server: ServerProcess) -> None:
    create_meter = next(iter(seed_commands().values()))[0]
    assert error_of(run_curl(server, create_meter, key="not-a-key")) == (401, "unauthorized", None)


def test_meters_by_id_or_name_put_patch_and_delete(server: ServerProcess, grpc_client: Client) -> None:
    name = new_meter(server)
    code, created = http(server, "GET", f"/v1/meters/{name}")
    assert code == 200
    assert http(server, "GET", f"/v1/meters/{created['id']}") == (200, created)

    code, listed = http(server, "GET", f"/v1/meters?name={name}")
    assert (code, listed) == (200, {"items": [created]})
    code, first = http(server, "GET", "/v1/meters?limit=1")
    assert code == 200 and len(first["items"]) == 1 and first["next_cursor"], first
    code, second = http(server, "GET", f"/v1/meters?limit=1&cursor={first['next_cursor']}")
    assert code == 200 and second["items"][0]["name"] > first["items"][0]["name"]

    # PUT changes only what the body carries; PATCH is the same.
    code, updated = http(server, "PUT", f"/v1/meters/{created['id']}", {"description": "jobs"})
    assert code == 200, updated
    assert (updated["description"], updated["unit"], updated["id"]) == ("jobs", created["unit"], created["id"])
    assert updated["created_at"] == created["created_at"] and updated["updated_at"] > created["updated_at"]
    code, patched = http(server, "PATCH", f"/v1/meters/{name}", {"unit": "job"})
    assert (code, patched["unit"], patched["description"]) == (200, "job", "jobs")
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=name))
    assert (got.description, got.unit) == ("jobs", "job")

    # With events stored, a change that would break them is a conflict.
    assert http(server, "POST", "/v1/usages", event(name))[0] == 201
    refused = http(server, "PUT", f"/v1/meters/{name}", {"dimensions": [{"name": "region", "type": "number"}]})
    assert error_of(refused) == (409, "conflict", "dimensions")
    assert error_of(http(server, "PUT", f"/v1/meters/{name}", {"name": "other"})) == (400, "invalid_input", "name")

    assert error_of(http(server, "DELETE", f"/v1/meters/{created['id']}")) == (409, "conflict", "force")
    assert http(server, "DELETE", f"/v1/meters/{created['id']}?force=true") == (204, None)
    assert error_of(http(server, "GET", f"/v1/meters/{created['id']}"))[:2] == (404, "not_found")
    assert error_of(http(server, "DELETE", f"/v1/meters/{name}"))[:2] == (404, "not_found")


def test_bulk_is_a_bare_array_and_its_key_replays_the_first_answer(tmp_path: Path) -> None:
    meter = "bulk_http"
    with running_server(tmp_path) as server:
        code, _ = http(server, "POST", "/v1/meters", {"name": meter, "aggregation": "sum"})
        assert code == 201
        events = [event(meter, key=f"e{i}", quantity=i, metadata={}) for i in range(1, 6)]
        bad = event("no_such_meter", key="lost")
        header = {"Idempotency-Key": "batch-2026-q1-001"}
        code, first = http(server, "POST", "/v1/usages/bulk", [*events, bad], headers=header)
        assert code == 201, first
        assert (first["accepted"], first["duplicates"], first["failed"]) == (5, 0, 1)
        assert [e["idempotency_key"] for e in first["accepted_items"]] == [f"e{i}" for i in range(1, 6)]
        assert first["failed_items"] == [{
            "index": 5, "code": "not_found", "field": "meter",
            "message": "not found: meter: meter 'no_such_meter' does not exist",
        }]
        # The batch key replays the first answer to the same batch; another batch under it is
        # refused (tests/test_rest_refusals.py has the rule).
        assert http(server, "POST", "/v1/usages/bulk", [*events, bad], headers=header) == (201, first)
        assert error_of(http(server, "POST", "/v1/usages/bulk", events[:2], headers=header)) == (
            422, "idempotency_key_reused", "Idempotency-Key"
        )
        # Without the header, each event is answered by its own key: the stored events come back.
        code, again = http(server, "POST", "/v1/usages/bulk", [{**e, "quantity": 99} for e in events])
        assert code == 201 and (again["accepted"], again["duplicates"]) == (0, 5)
        assert again["duplicate_items"] == first["accepted_items"]
        # A body that is not an array of events is refused whole, naming the element and field.
        assert error_of(http(server, "POST", "/v1/usages/bulk", [bad, {**bad, "quantity": "x"}])) == (
            400, "invalid_input", "[1].quantity"
        )
        # Every event refused: 400, with the result and an error.
        code, body = http(server, "POST", "/v1/usages/bulk", [bad])
        assert (code, body["failed"], body["error"]["field"]) == (400, 1, "body")
        assert error_of(http(server, "POST", "/v1/usages/bulk", [])) == (400, "invalid_input", "body")
        unstored = [event(meter, key="new", metadata={})]
        code, checked = http(server, "POST", "/v1/usages/bulk?validate_only=true", unstored)
        assert (code, checked["accepted"]) == (201, 1)
    assert server.process.returncode == 0
    with storage(server) as client:
        assert stored_totals(client, meter) == (5, 15.0)


def test_every_error_answers_the_products_error_body(server: ServerProcess, grpc_client: Client) -> None:
    meter = new_meter(server)
    ingest = grpc_client.call(
        grpc_client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.INGEST, name="http")
    ).secret

    assert error_of(http(server, "POST", "/v1/usages", raw=b'{"subject": ')) == (400, "invalid_json", "body")
    assert error_of(http(server, "POST", "/v1/usages", raw=b"[1, 2]")) == (400, "invalid_input", "body")
    assert error_of(http(server, "POST", "/v1/usages", event(meter, quantity="lots"))) == (
        400, "invalid_input", "quantity"
    )
    assert error_of(http(server, "POST", "/v1/usages", event(meter, metadata={}))) == (
        400, "invalid_input", "metadata.region"
    )
    code, body = http(server, "POST", "/v1/usages", event(meter, metadata={}))
    assert body["error"]["message"].startswith("invalid input: metadata.region: ")
    assert error_of(http(server, "POST", "/v1/usages", event(meter, colour="red"))) == (
        400, "invalid_input", "colour"
    )
    assert error_of(http(server, "POST", "/v1/usages", event(meter, timestamp="yesterday"))) == (
        400, "invalid_timestamp", "timestamp"
    )
    assert error_of(http(server, "POST", "/v1/usages", event(meter, timestamp="2026-01-01T00:00:00"))) == (
        400, "invalid_timestamp", "timestamp"
    )
    assert error_of(http(server, "POST", "/v1/meters", {"name": "x", "aggregation": "sum",
                                                        "dimensions": [{"name": "a", "type": "text"}]})) == (
        400, "invalid_input", "dimensions[0].type"
    )
    assert error_of(http(server, "GET", "/v1/meters?limit=ten")) == (400, "invalid_limit", "limit")
    assert error_of(http(server, "GET", "/v1/meters?limit=0")) == (400, "invalid_limit", "limit")
    assert error_of(http(server, "POST", "/v1/usages", headers={"Content-Type": "text/plain"}, raw=b"x")) == (
        415, "unsupported_media_type", "body"
    )
    assert error_of(http(server, "POST", "/v1/usages/bulk", raw=b" " * (MAX_BODY_BYTES + 1))) == (
        413, "payload_too_large", "body"
    )
    assert error_of(http(server, "GET", "/v1/meters", key=None)) == (401, "unauthorized", None)
    assert error_of(http(server, "GET", "/v1/meters", key="osk_nope_nope")) == (401, "unauthorized", None)
    assert error_of(http(server, "POST", "/v1/meters", {"name": "x_forbidden", "aggregation": "sum"}, key=ingest)) == (
        403, "forbidden", None
    )
    assert http(server, "POST", "/v1/usages", event(meter), key=ingest)[0] == 201
    assert error_of(http(server, "GET", "/v1/meters/no_such_meter")) == (404, "not_found", "id")
    assert error_of(http(server, "POST", "/v1/usages", event("no_such_meter"))) == (404, "not_found", "meter")
    assert error_of(http(server, "POST", "/v1/meters", {"name": meter, "aggregation": "sum"})) == (
        409, "conflict", "name"
    )
    assert error_of(http(server, "GET", "/v2/nothing")) == (404, "not_found", None)
    code, headers, content = request(server, "PUT", "/v1/meters", {})
    assert (code, headers["allow"], json.loads(content)["error"]["code"]) == (405, "GET, POST", "method_not_allowed")
    assert error_of(http(server, "GET", "/v1/plans/subjects/org_1/progress")) == (404, "not_found", "subject")
    assert error_of(http(server, "POST", "/v1/entitlements/consume", {})) == (400, "invalid_input", "idempotency_key")


def test_health_and_readiness_answer_204(server: ServerProcess) -> None:
    for path in ("/health", "/ready", "/healthz", "/readyz"):
        assert request(server, "GET", path, key=None)[::2] == (204, b"")


def test_openapi_document_validates_and_describes_the_contract(server: ServerProcess) -> None:
    code, document = http(server, "GET", "/openapi.json", key=None)
    assert code == 200
    validate(document)
    served = {(verb, path) for path, operations in document["paths"].items() for verb in operations}
    assert {
        ("post", "/v1/meters"),
        ("get", "/v1/meters"),
        ("get", "/v1/meters/{id}"),
        ("put", "/v1/meters/{id}"),
        ("patch", "/v1/meters/{id}"),
        ("delete", "/v1/meters/{id}"),
        ("post", "/v1/usages"),
        ("post", "/v1/usages/bulk"),
        ("get", "/v1/meters/{id}/usage"),
        ("get", "/v1/meters/{id}/events"),
        ("get", "/health"),
        ("get", "/ready"),
    } <= served
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            assert operation.get("tags") and operation.get("summary"), (verb, path)
            # What the server answers to a refused request, not FastAPI's 422 that it never sends
            # (a reused bulk key's 422 is the server's own, in its error body).
            refused = operation["responses"].get("422")
            assert refused is None or (verb, path) == ("post", "/v1/usages/bulk"), (verb, path)
            assert refused is None or refused["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
            assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
            # /metrics is open unless OPENSPANNER_METRICS_REQUIRE_KEY (tests/integration/test_metrics.py).
            assert ("security" in operation) == (path not in ("/health", "/ready", "/metrics")), (verb, path)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "201" in document["paths"]["/v1/meters"]["post"]["responses"]
    assert "204" in document["paths"]["/v1/meters/{id}"]["delete"]["responses"]
    bulk_body = document["paths"]["/v1/usages/bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert bulk_body["type"] == "array"
    create = document["components"]["schemas"]["UsageCreateRequest"]
    assert create["required"] == ["quantity"] and create["additionalProperties"] is False
    assert create["properties"]["timestamp"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    usage = {p["name"]: p for p in document["paths"]["/v1/meters/{id}/usage"]["get"]["parameters"]}
    # Declared as the server reads them: a repeated `filter=dimension:value`, not a deepObject.
    assert usage["filter"]["in"] == "query" and usage["filter"]["schema"]["type"] == "array"
    assert "style" not in usage["filter"] or usage["filter"]["style"] == "form"
    assert usage["start_time"]["required"] is True
