"""The HTTP/JSON API on a real server: the seeds' curl commands run verbatim,
HTTP and gRPC see one API, and every error class has its HTTP code.

The curl commands are read from the product documents themselves, kept
verbatim in tests/seed_payloads/documents, so each example is tested as it
is written.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format, timestamp_pb2
from openapi_spec_validator import validate

from openspanner.errors import Unavailable, http_status
from openspanner.http.binding import bind
from openspanner.http.dispatch import Dispatcher
from openspanner.http.routes import routes_of
from openspanner.http.server import build_app, storage_ready
from openspanner.server import MESSAGE_SERVICES
from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage, stored_totals
from tests.test_seeds import within_retention

SEED_DOCUMENTS = Path(__file__).parent / "seed_payloads" / "documents"
MAX_BODY_BYTES = 64 * 1024
CURL = shutil.which("curl") or "/usr/bin/curl"


def curl_commands(text: str) -> list[str]:
    """Each `curl ...` command of a document, continuation lines and quoted body included."""
    commands: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].lstrip().startswith("curl "):
            index += 1
            continue
        command = lines[index]
        while _incomplete(command):
            index += 1
            command += "\n" + lines[index]
        commands.append(command.strip())
        index += 1
    return commands


def _incomplete(command: str) -> bool:
    if command.rstrip().endswith("\\"):
        return True
    try:
        shlex.split(command)
    except ValueError:  # an open quote: the JSON body goes on
        return True
    return False


def seed_commands() -> dict[str, list[str]]:
    found = {p.name: curl_commands(p.read_text()) for p in sorted(SEED_DOCUMENTS.glob("*.txt"))}
    return {name: commands for name, commands in found.items() if commands}


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


def http(
    server: ServerProcess,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = ADMIN_KEY,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.base_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
    assert code == 200, body
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


def test_seed_documents_contain_the_curl_examples() -> None:
    commands = seed_commands()
    assert len(commands) >= 3
    for name, found in commands.items():
        assert [c.split('"$OPEN_SPANNER_BASE_URL', 1)[1].split('"', 1)[0] for c in found] == [
            "/v1/meters", "/v1/usages"
        ], name


@pytest.mark.parametrize("seed", sorted(seed_commands()))
def test_seed_curl_commands_run_verbatim(server: ServerProcess, grpc_client: Client, seed: str) -> None:
    create_meter, record_usage = seed_commands()[seed]
    code, meter = run_curl(server, create_meter)
    assert code == 200, meter
    sent_meter = json.loads(shlex.split(create_meter)[-1])
    expected = json.loads(json.dumps(sent_meter))
    for dimension in expected["dimensions"]:
        dimension.setdefault("required", False)  # answers show every field
    assert {k: meter[k] for k in sent_meter} == expected
    assert meter["create_time"]

    usage = json.loads(shlex.split(record_usage)[-1])
    code, answer = run_curl(server, record_usage)
    if not within_retention(usage, sent_meter):
        assert code == 400 and answer["details"][0]["field_violations"][0]["field"] == "timestamp"
        return
    assert (code, answer["idempotency_key"], answer["outcome"]) == (200, usage["idempotency_key"], "ACCEPTED")
    stored = answer["event"]
    sent = {k: usage[k] for k in ("idempotency_key", "subject", "meter", "quantity", "metadata")}
    assert {k: stored[k] for k in sent} == sent
    duplicate = {**answer, "outcome": "DUPLICATE"}
    assert run_curl(server, record_usage) == (200, duplicate)

    # gRPC sees the same meter and the same stored event.
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=sent_meter["name"]))
    over_grpc = json_format.MessageToDict(
        got, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert over_grpc == meter
    again = grpc_client.call(grpc_client.usage.RecordUsage, json_format.ParseDict(usage, usage_pb2.UsageEvent()))
    assert again.outcome == usage_pb2.DUPLICATE
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


def test_query_routes_answer_as_grpc_does(server: ServerProcess, grpc_client: Client) -> None:
    meter = f"q_{uuid.uuid4().hex[:10]}"
    code, _ = http(server, "POST", "/v1/meters", {
        "name": meter, "aggregation": "sum",
        "dimensions": [{"name": "model", "type": "string"}, {"name": "cached", "type": "boolean"}],
    })
    assert code == 200
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
    code, body = http(server, "POST", "/v1/usages/bulk", {"events": events})
    assert code == 200 and body["accepted"] == 4, body
    window = f"start_time={start}&end_time={end}"
    code, answer = http(
        server, "GET",
        f"/v1/meters/{meter}/usage?{window}&window_size=day&time_zone=Europe/Berlin"
        "&subject=org_1&subject=org_2&group_by=model&filter.cached=true",
    )
    assert code == 200, answer
    over_grpc = grpc_client.call(grpc_client.query.QueryUsage, json_format.ParseDict({
        "meter": meter, "start_time": start, "end_time": end,
        "window_size": "day", "time_zone": "Europe/Berlin", "subjects": ["org_1", "org_2"], "group_by": ["model"],
        "filters": [{"dimension": "cached", "values": [True]}],
    }, query_pb2.QueryUsageRequest()))
    assert answer == json_format.MessageToDict(
        over_grpc, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert sorted((row["group"]["model"], row["value"]) for row in answer["rows"]) == [("a", 5.0), ("b", 7.0)]

    code, page = http(server, "GET", f"/v1/meters/{meter}/events?{window}&page_size=3&filter.model=a")
    assert code == 200, page
    assert sorted(e["quantity"] for e in page["events"]) == [5, 11, 13]
    code, refused = http(server, "GET", f"/v1/meters/{meter}/usage?{window}&filter.cached=yes")
    assert (code, refused["status"]) == (400, "INVALID_ARGUMENT"), refused


def test_seed_curl_without_a_key_is_refused(server: ServerProcess) -> None:
    create_meter = next(iter(seed_commands().values()))[0]
    code, body = run_curl(server, create_meter, key="not-a-key")
    assert code == 401 and body["status"] == "UNAUTHENTICATED"


def test_meter_created_over_http_is_read_over_grpc_and_back(server: ServerProcess, grpc_client: Client) -> None:
    over_http = new_meter(server)
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=over_http))
    assert got.name == over_http and got.aggregation == meter_pb2.sum

    over_grpc = f"g_{uuid.uuid4().hex[:10]}"
    grpc_client.call(grpc_client.meters.CreateMeter, meter_pb2.Meter(name=over_grpc, aggregation=meter_pb2.count))
    code, body = http(server, "GET", f"/v1/meters/{over_grpc}")
    assert code == 200 and body["name"] == over_grpc and body["aggregation"] == "count"

    code, listed = http(server, "GET", "/v1/meters?page_size=1000")
    assert code == 200 and {over_http, over_grpc} <= {m["name"] for m in listed["meters"]}

    code, updated = http(
        server, "PATCH", f"/v1/meters/{over_grpc}?update_mask=description", {"description": "jobs", "unit": "x"}
    )
    assert code == 200 and (updated["description"], updated["unit"]) == ("jobs", "")
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=over_grpc))
    assert got.description == "jobs"

    code, deleted = http(server, "DELETE", f"/v1/meters/{over_grpc}")
    assert (code, deleted) == (200, {"deleted_events": "0"})
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=over_grpc))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_delete_with_events_needs_force(server: ServerProcess) -> None:
    meter = new_meter(server)
    assert http(server, "POST", "/v1/usages", event(meter))[0] == 200
    code, body = http(server, "DELETE", f"/v1/meters/{meter}")
    assert (code, body["status"]) == (400, "FAILED_PRECONDITION")
    assert body["details"][0]["field_violations"][0]["field"] == "force"
    code, body = http(server, "DELETE", f"/v1/meters/{meter}?force=true")
    assert (code, body) == (200, {"deleted_events": "1"})


def test_bulk_retries_with_the_same_idempotency_key_store_nothing_twice(tmp_path: Path) -> None:
    meter = "bulk_http"
    with running_server(tmp_path) as server:
        code, _ = http(server, "POST", "/v1/meters", {"name": meter, "aggregation": "sum"})
        assert code == 200
        events = [event(meter, key=f"e{i}", quantity=i, metadata={}) for i in range(1, 6)]
        header = {"Idempotency-Key": "batch-2026-q1-001"}
        first = http(server, "POST", "/v1/usages/bulk", {"events": events}, headers=header)
        assert first[0] == 200 and first[1]["accepted"] == 5
        assert http(server, "POST", "/v1/usages/bulk", {"events": events}, headers=header) == first
        # The header is the batch key: a different batch under it is refused.
        code, body = http(server, "POST", "/v1/usages/bulk", {"events": events[:2]}, headers=header)
        assert code == 400 and body["status"] == "INVALID_ARGUMENT", body
        # Without the header the events are still answered by their own keys.
        code, body = http(server, "POST", "/v1/usages/bulk", {"events": events})
        assert code == 200 and (body["accepted"], body["duplicates"]) == (0, 5)
        code, body = http(
            server, "POST", "/v1/usages/bulk", {"idempotency_key": "other", "events": events}, headers=header
        )
        assert code == 400 and body["details"][0]["field_violations"][0]["field"] == "idempotency_key"
    assert server.process.returncode == 0
    with storage(server) as client:
        assert stored_totals(client, meter) == (5, 15.0)


def test_error_classes(server: ServerProcess, grpc_client: Client) -> None:
    meter = new_meter(server)
    ingest = grpc_client.call(
        grpc_client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.INGEST, name="http")
    ).secret

    def check(answer: tuple[int, Any], code: int, status: str, field: str | None = None) -> None:
        got_code, body = answer
        assert (got_code, body["code"], body["status"]) == (code, code, status), body
        assert isinstance(body["message"], str) and body["message"]
        if field is not None:
            assert body["message"].startswith(field + ":"), body
            assert body["details"][0]["field_violations"][0]["field"] == field

    check(http(server, "POST", "/v1/usages", raw=b'{"subject": '), 400, "INVALID_ARGUMENT", "body")
    check(http(server, "POST", "/v1/usages", raw=b"[1, 2]"), 400, "INVALID_ARGUMENT", "body")
    check(http(server, "POST", "/v1/usages", event(meter, quantity="lots")), 400, "INVALID_ARGUMENT", "quantity")
    check(http(server, "POST", "/v1/usages", event(meter, metadata={})), 400, "INVALID_ARGUMENT", "metadata.region")
    check(http(server, "POST", "/v1/usages", event(meter, colour="red")), 400, "INVALID_ARGUMENT", "colour")
    check(http(server, "GET", "/v1/meters?page_size=ten"), 400, "INVALID_ARGUMENT", "page_size")
    check(http(server, "GET", "/v1/meters?colour=red"), 400, "INVALID_ARGUMENT", "colour")
    check(
        http(server, "POST", "/v1/usages", headers={"Content-Type": "text/plain"}, raw=b"x"),
        415, "INVALID_ARGUMENT", "body",
    )
    check(http(server, "POST", "/v1/usages/bulk", raw=b" " * (MAX_BODY_BYTES + 1)), 413, "RESOURCE_EXHAUSTED", "body")
    check(http(server, "GET", "/v1/meters", key=None), 401, "UNAUTHENTICATED")
    check(http(server, "GET", "/v1/meters", key="osk_nope_nope"), 401, "UNAUTHENTICATED")
    check(http(server, "POST", "/v1/meters", {"name": "x_forbidden", "aggregation": "sum"}, key=ingest),
          403, "PERMISSION_DENIED")
    assert http(server, "POST", "/v1/usages", event(meter), key=ingest)[0] == 200
    check(http(server, "GET", "/v1/meters/no_such_meter"), 404, "NOT_FOUND")
    check(http(server, "POST", "/v1/usages", event("no_such_meter")), 404, "NOT_FOUND", "meter")
    check(http(server, "POST", "/v1/meters", {"name": meter, "aggregation": "sum"}), 409, "ALREADY_EXISTS", "name")
    check(http(server, "GET", "/v2/nothing"), 404, "NOT_FOUND")
    check(http(server, "PUT", "/v1/meters", {}), 405, "UNIMPLEMENTED")


def test_grpc_codes_map_to_the_google_rpc_http_codes() -> None:
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 400,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.INTERNAL: 500,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNIMPLEMENTED: 501,
    }
    assert {code: http_status(code) for code in expected} == expected


def test_health_and_readiness(server: ServerProcess) -> None:
    assert http(server, "GET", "/healthz", key=None) == (200, {"status": "ok"})
    assert http(server, "GET", "/readyz", key=None) == (200, {"status": "ok"})


def test_openapi_document_validates_and_lists_every_route(server: ServerProcess) -> None:
    code, document = http(server, "GET", "/openapi.json", key=None)
    assert code == 200
    validate(document)
    served = {(verb, path) for path, operations in document["paths"].items() for verb in operations}
    assert served == {
        ("post", "/v1/meters"),
        ("get", "/v1/meters"),
        ("get", "/v1/meters/{name}"),
        ("patch", "/v1/meters/{name}"),
        ("delete", "/v1/meters/{name}"),
        ("post", "/v1/usages"),
        ("post", "/v1/usages/bulk"),
        ("get", "/v1/meters/{meter}/usage"),
        ("get", "/v1/meters/{meter}/events"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
    }
    usage_event = document["components"]["schemas"]["openspanner_v1_UsageEvent"]["properties"]
    assert usage_event["timestamp"] == {"type": "string", "format": "date-time"}
    delete = document["paths"]["/v1/meters/{name}"]["delete"]
    assert {p["name"] for p in delete["parameters"]} == {"name", "force"}


def test_binding_reads_path_query_and_body() -> None:
    routes = {r.grpc_path: r for r in routes_of(MESSAGE_SERVICES)}
    update = bind(
        routes["/openspanner.v1.MeterService/UpdateMeter"],
        {"meter.name": "jobs"}, {"update_mask": ["description,unit"]}, {"description": "d"}, {},
    )
    assert json_format.MessageToDict(update, preserving_proto_field_name=True) == {
        "meter": {"name": "jobs", "description": "d"}, "update_mask": "description,unit"
    }
    delete = bind(routes["/openspanner.v1.MeterService/DeleteMeter"], {"name": "m"}, {"force": ["true"]}, {}, {})
    assert delete.force is True  # type: ignore[attr-defined]
    bulk = bind(routes["/openspanner.v1.UsageService/RecordUsages"], {}, {}, {"events": []}, {"Idempotency-Key": "k"})
    assert bulk.idempotency_key == "k"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "failure",
    [Unavailable("storage is unavailable, retry later"), ConnectionRefusedError(111, "Connection refused")],
)
def test_readiness_answers_503_naming_storage_when_storage_is_unreachable(failure: Exception) -> None:
    """What /readyz answers when the server's `SELECT 1` fails: the typed error the
    storage layer raises for an unreachable ClickHouse, or any other exception."""

    async def failing_check() -> None:
        raise failure

    app = build_app([], Dispatcher([], {}, allow_every_key), MAX_BODY_BYTES, lambda: storage_ready(failing_check))
    status, _, body = get_from_app(app, "/readyz")
    assert status == 503
    assert body["status"] == "UNAVAILABLE" and "storage" in body["message"]


async def allow_every_key(method: str, authorization: str | None) -> None:
    """For apps built without a key store: lets every call through."""


def get_from_app(
    app: web.Application, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """GET `path` from `app` served on a real socket: status, headers, JSON body."""

    async def get() -> tuple[int, dict[str, str], Any]:
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path, headers=headers)
            return response.status, dict(response.headers), await response.json()

    return asyncio.run(get())
