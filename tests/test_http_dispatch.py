"""HTTP calls the servicers in process: the answers stay gRPC's, the gRPC hop is gone.

Parity is checked call by call against a real server over both transports;
what the real servicers cannot produce on demand (a RetryInfo detail, an
unexpected exception) is produced by a stand-in servicer behind the real HTTP
app, wrapped in the real `@rpc`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from openspanner.errors import STATUS_DETAILS_KEY, http_status
from openspanner.http.dispatch import Dispatcher
from openspanner.http.routes import routes_of
from openspanner.http.server import build_app
from openspanner.server import MESSAGE_SERVICES
from openspanner.services._rpc import rpc
from openspanner.v1 import api_key_pb2, meter_pb2, usage_pb2
from tests.harness import Client, ServerProcess, start_server, storage, stored_totals
from tests.test_http import MAX_BODY_BYTES, allow_every_key, event, get_from_app, http, new_meter
from tests.test_http import grpc_client as grpc_client
from tests.test_http import server as server

# HTTP code, status name, message, field named by a BadRequest detail.
Answer = tuple[int, str, str, str | None]
REFUSED_KEY = "osk_000000000000_wrong"


@pytest.fixture(scope="module")
def meter(server: ServerProcess) -> str:
    return new_meter(server)


@pytest.fixture(scope="module")
def keys(grpc_client: Client) -> dict[str, str]:
    def create(scope: api_key_pb2.Scope) -> str:
        request = api_key_pb2.CreateApiKeyRequest(scope=scope, name="parity")
        return str(grpc_client.call(grpc_client.keys.CreateApiKey, request).secret)

    return {"admin": str(grpc_client.api_key), "read": create(api_key_pb2.READ),
            "ingest": create(api_key_pb2.INGEST), "refused": REFUSED_KEY, "none": ""}


def field_of(details: list[Any]) -> str | None:
    for detail in details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return str(bad_request.field_violations[0].field)
    return None


def grpc_answer(error: grpc.RpcError) -> Answer:
    """What a gRPC client reads of an error, in the HTTP API's terms."""
    status = status_pb2.Status()
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status.ParseFromString(value)
    return http_status(error.code()), error.code().name, error.details(), field_of(list(status.details))


def http_answer(code: int, body: dict[str, Any]) -> Answer:
    violations = [v for d in body["details"] for v in d.get("field_violations", [])]
    return code, body["status"], body["message"], violations[0]["field"] if violations else None


# name: (key, HTTP verb and path, gRPC stub.method, its request for the test's meter).
# A POST sends the gRPC request as its JSON body; "{meter}" in a path is the meter.
CASES: dict[str, tuple[str, str, str, Callable[[str], Any]]] = {
    "refused key": ("refused", "GET /v1/meters/{meter}", "meters.GetMeter",
                    lambda m: meter_pb2.GetMeterRequest(name=m)),
    "no key": ("none", "POST /v1/usages", "usage.RecordUsage", lambda m: usage_pb2.UsageEvent()),
    "read key records usage": ("read", "POST /v1/usages", "usage.RecordUsage",
                               lambda m: json_format.ParseDict(event(m), usage_pb2.UsageEvent())),
    "ingest key lists meters": ("ingest", "GET /v1/meters", "meters.ListMeters",
                                lambda m: meter_pb2.ListMetersRequest()),
    "missing dimension": ("ingest", "POST /v1/usages", "usage.RecordUsage",
                          lambda m: json_format.ParseDict(event(m, metadata={}), usage_pb2.UsageEvent())),
    "bad meter name": ("admin", "POST /v1/meters", "meters.CreateMeter",
                       lambda m: meter_pb2.Meter(name="Not A Name!", aggregation=meter_pb2.sum)),
    "unknown meter": ("read", "GET /v1/meters/no_such_meter", "meters.GetMeter",
                      lambda m: meter_pb2.GetMeterRequest(name="no_such_meter")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_http_and_grpc_refuse_alike(
    server: ServerProcess, grpc_client: Client, keys: dict[str, str], meter: str, case: str
) -> None:
    key, route, method_name, make_request = CASES[case]
    request = make_request(meter)
    stub, method = method_name.split(".")
    caller = grpc_client.with_key(keys[key] or None)
    with pytest.raises(grpc.RpcError) as refused:
        caller.call(getattr(getattr(caller, stub), method), request)
    verb, path = route.split(" ")
    body = json_format.MessageToDict(request, preserving_proto_field_name=True) if verb == "POST" else None
    code, answer = http(server, verb, path.format(meter=meter), body, key=keys[key] or None)
    assert http_answer(code, answer) == grpc_answer(refused.value)


def test_refusals_name_what_is_wrong(server: ServerProcess, keys: dict[str, str], meter: str) -> None:
    """The answers the parity test holds equal are the ones meant: the scope, the field."""
    code, body = http(server, "POST", "/v1/usages", event(meter), key=keys["read"])
    assert http_answer(code, body) == (
        403, "PERMISSION_DENIED",
        "this api key has scope read; /openspanner.v1.UsageService/RecordUsage needs ingest", None,
    )
    code, status, _, field = http_answer(*http(server, "POST", "/v1/usages", event(meter, metadata={})))
    assert (code, status, field) == (400, "INVALID_ARGUMENT", "metadata.region")
    code, body = http(server, "GET", f"/v1/meters/{meter}", key=REFUSED_KEY)
    assert http_answer(code, body) == (401, "UNAUTHENTICATED", "unknown api key", None)


def test_http_and_grpc_answer_alike(server: ServerProcess, grpc_client: Client, meter: str) -> None:
    got = grpc_client.call(grpc_client.meters.GetMeter, meter_pb2.GetMeterRequest(name=meter))
    assert http(server, "GET", f"/v1/meters/{meter}") == (200, json_format.MessageToDict(
        got, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    ))
    sent = event(meter)
    over_http = http(server, "POST", "/v1/usages", sent)
    again = grpc_client.call(grpc_client.usage.RecordUsage, json_format.ParseDict(sent, usage_pb2.UsageEvent()))
    code, answer = over_http
    assert (code, answer["idempotency_key"], answer["outcome"]) == (200, sent["idempotency_key"], "ACCEPTED")
    assert again.outcome == usage_pb2.DUPLICATE
    assert answer["event"] == json_format.MessageToDict(again.event, preserving_proto_field_name=True)


def test_a_body_at_the_limit_is_served(server: ServerProcess, meter: str) -> None:
    """Bodies are bounded by OPENSPANNER_HTTP_MAX_BODY_BYTES alone (test_http: one byte over is 413)."""
    raw = json.dumps({"events": [event(meter)]}).encode()
    raw = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(raw) == MAX_BODY_BYTES
    code, body = http(server, "POST", "/v1/usages/bulk", raw=raw)
    assert (code, body["accepted"]) == (200, 1), body


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on: its socket descriptors, looked up in the kernel's tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        for line in path.read_text().splitlines()[1:] if path.exists() else ():
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the process's sockets from /proc")
def test_the_server_listens_on_its_grpc_and_http_ports_only(server: ServerProcess) -> None:
    assert listening_ports(server.process.pid) == {server.port, server.http_port}


def test_sigterm_lets_an_http_request_in_flight_finish(tmp_path: Path) -> None:
    """HTTP stops before the pipeline drains: a bulk request being handled is still stored."""
    server = start_server(tmp_path)
    assert http(server, "POST", "/v1/meters", {"name": "jobs", "aggregation": "sum"})[0] == 200
    events = [event("jobs", key=f"k{i}", quantity=1, metadata={}) for i in range(20_000)]
    raw = json.dumps({"events": events}).encode()
    answers: list[tuple[int, Any]] = []
    sender = threading.Thread(target=lambda: answers.append(http(server, "POST", "/v1/usages/bulk", raw=raw)))
    sender.start()
    time.sleep(0.3)  # the request is being handled when the signal arrives
    assert server.stop(signal.SIGTERM) == 0
    sender.join(60)
    assert answers and answers[0][0] == 200 and answers[0][1]["accepted"] == 20_000, answers
    with storage(server) as client:
        assert stored_totals(client, "jobs") == (20_000, 20_000.0)


class StandInMeters:
    """A MeterService whose GetMeter runs `answer` inside the real `@rpc`, as the servicers' methods do."""

    def __init__(self, answer: Callable[[Any], Awaitable[Any]]) -> None:
        self._answer = answer

    @rpc
    async def GetMeter(self, request: Any, context: Any) -> Any:
        return await self._answer(context)


def get_meter_from(answer: Callable[[Any], Awaitable[Any]]) -> tuple[int, dict[str, str], Any]:
    """GET /v1/meters/x from the real HTTP app in front of a stand-in GetMeter."""
    routes = [r for r in routes_of(MESSAGE_SERVICES) if r.grpc_path == "/openspanner.v1.MeterService/GetMeter"]
    service = routes[0].method.containing_service
    dispatcher = Dispatcher(routes, {service: StandInMeters(answer)}, allow_every_key)
    app = build_app(routes, dispatcher, MAX_BODY_BYTES, always_ready)
    return get_from_app(app, "/v1/meters/x")


async def always_ready() -> None:
    """/readyz is not asked here."""


def status_with_retry(code: grpc.StatusCode, delay: duration_pb2.Duration) -> status_pb2.Status:
    """A rich status whose RetryInfo is not its first detail."""
    status = status_pb2.Status(code=code.value[0], message="events: too many waiting, retry later")
    violation = error_details_pb2.BadRequest.FieldViolation(field="events", description="too many waiting")
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


@pytest.mark.parametrize(
    ("code", "delay", "retry_after"),
    [
        (grpc.StatusCode.UNAVAILABLE, duration_pb2.Duration(seconds=1, nanos=500_000_000), "2"),
        (grpc.StatusCode.UNAVAILABLE, duration_pb2.Duration(seconds=3), "3"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, duration_pb2.Duration(nanos=200_000_000), "1"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, duration_pb2.Duration(), "1"),
    ],
)
def test_retry_info_becomes_retry_after_in_whole_seconds(
    code: grpc.StatusCode, delay: duration_pb2.Duration, retry_after: str
) -> None:
    status = status_with_retry(code, delay)

    async def abort(context: Any) -> None:
        # As `@rpc` sends an error with a rich status.
        trailer = ((STATUS_DETAILS_KEY, status.SerializeToString()),)
        await context.abort(code, status.message, trailing_metadata=trailer)

    http_code, headers, body = get_meter_from(abort)
    assert (http_code, headers.get("Retry-After")) == (http_status(code), retry_after)
    assert (body["status"], body["message"]) == (code.name, status.message)
    assert body["details"] == [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in status.details]


def test_unexpected_servicer_error_is_internal_without_its_text() -> None:
    async def fail(context: Any) -> None:
        raise RuntimeError("secret table name")

    http_code, headers, body = get_meter_from(fail)
    assert (http_code, body) == (500, {"code": 500, "status": "INTERNAL", "message": "internal error", "details": []})
    assert "Retry-After" not in headers


def test_a_route_without_a_servicer_fails_the_start() -> None:
    with pytest.raises(ValueError, match=r"no servicer for openspanner\.v1\.MeterService"):
        Dispatcher(routes_of(MESSAGE_SERVICES), {}, allow_every_key)
