"""Each kind of bad input the fuzzers found, pinned: its status, and the field its message names.

Every one of these was a 500, INTERNAL, UNKNOWN, a plain-text answer or a
total of `inf` before (tests/integration/test_fuzz_http.py and test_fuzz_grpc.py search
for more of them). Through both APIs, on real servers.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.grpc.status import STATUS_DETAILS_KEY
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.meters import MeterStore
from openspanner.storage.schema import migrate
from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage_at

NOW_S = int(time.time())


def send(
    server: ServerProcess, method: str, path: str, body: bytes | str | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        if body is not None:
            headers["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def refusal(
    server: ServerProcess, method: str, path: str, body: Any = None, raw: str | bytes | None = None
) -> dict[str, Any]:
    """The error body of an answer that must be a refusal in JSON; `body` is sent as JSON."""
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    status, headers, content = send(server, method, path, payload)
    assert 400 <= status < 500 and headers["content-type"] == "application/json", (status, content[:300])
    error: dict[str, Any] = json.loads(content)["error"]
    error["status"] = status
    return error


def field_of(server: ServerProcess, method: str, path: str, body: Any = None, raw: str | bytes | None = None) -> str:
    error = refusal(server, method, path, body, raw)
    assert error["status"] == 400 and f"{error['field']}: " in error["message"], error
    return str(error["field"])


@pytest.fixture
def meter(make_meter: Callable[..., meter_pb2.Meter]) -> str:
    return str(make_meter().name)  # region (string, required), cached (boolean), tokens.in (number)


def event(meter: str, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": uuid.uuid4().hex, "subject": "org", "meter": meter, "quantity": 1,
            "metadata": {"region": "eu"}, **fields}


def search(meter: str, **fields: Any) -> dict[str, Any]:
    return {"meter": meter, "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", **fields}


def deep(levels: int, inner: str = "1") -> str:
    return '{"a":' * levels + inner + "}" * levels


# --- HTTP ---------------------------------------------------------------------

def test_deeply_nested_json_is_refused_naming_where(shared_server: ServerProcess, meter: str) -> None:
    server = shared_server
    error = refusal(server, "POST", "/v1/usages", raw="[" * 5000 + "]" * 5000)
    assert (error["field"], error["code"]) == ("body", "invalid_input")
    assert "nested deeper than 100 levels" in error["message"]
    metadata = json.dumps(event(meter)).replace('"eu"', deep(500))
    assert field_of(server, "POST", "/v1/usages", raw=metadata) == "metadata.region"
    assert field_of(server, "POST", "/v1/usages/bulk", raw=f"[{metadata}]") == "[0].metadata.region"
    rules = {"field": "subject", "op": "eq", "value": "x"}
    for _ in range(200):
        rules = {"type": "group", "op": "and", "rules": [rules]}
    assert field_of(server, "POST", "/v1/usages/search", search(meter, filter=rules)) == "filter.rules"
    # Nested but shallow enough to read: metadata refused by kind, a filter by its own depth rule.
    assert field_of(server, "POST", "/v1/usages", raw=json.dumps(event(meter)).replace('"eu"', deep(60))) == (
        "metadata.region"
    )


def test_bodies_of_the_wrong_shape_are_refused_naming_the_body(shared_server: ServerProcess) -> None:
    for path in ("/v1/usages", "/v1/meters", "/v1/usages/search", "/v1/usages/breakdowns/search", "/v1/api-keys"):
        for raw in ("[]", "[1]", "1", "null", '"x"', "true"):
            assert field_of(shared_server, "POST", path, raw=raw) == "body", (path, raw)
    for raw in ("{}", "1", "null", '"x"'):
        assert field_of(shared_server, "POST", "/v1/usages/bulk", raw=raw) == "body", raw
    assert field_of(shared_server, "POST", "/v1/usages/bulk", raw="[1]") == "[0]"


def test_lone_surrogates_are_refused_naming_the_field(shared_server: ServerProcess, meter: str) -> None:
    server, lone = shared_server, "\ud800"
    assert field_of(server, "POST", "/v1/usages", event(meter, subject=lone)) == "subject"
    assert field_of(server, "POST", "/v1/usages", event(meter, metadata={"region": f"x{lone}"})) == "metadata.region"
    # A key holding one is no field name a JSON answer can carry: its object is named.
    error = refusal(server, "POST", "/v1/usages", event(meter, metadata={lone: "x"}))
    assert error["field"] == "metadata" and "has a key that is not valid Unicode" in error["message"]
    assert field_of(server, "POST", "/v1/usages/bulk", [event(meter), event(meter, idempotency_key=lone)]) == (
        "[1].idempotency_key"
    )
    assert field_of(server, "POST", "/v1/meters", {"name": "m_x", "aggregation": "sum", "description": lone}) == (
        "description"
    )
    assert field_of(server, "PATCH", f"/v1/meters/{meter}", {"unit": lone}) == "unit"
    assert field_of(server, "POST", "/v1/api-keys", {"name": lone, "scope": "read"}) == "name"
    condition = {"field": "subject", "op": "eq", "value": lone}
    assert field_of(server, "POST", "/v1/usages/search", search(meter, filter=condition)) == "filter.value"
    # A pair is one character, and fine.
    assert send(server, "POST", "/v1/usages", json.dumps(event(meter, subject="\U0001d11e")))[0] == 201


def test_numbers_beyond_a_float_are_refused_naming_the_field(shared_server: ServerProcess, meter: str) -> None:
    server = shared_server
    for quantity in ("1e400", "-1e400", "NaN", "Infinity", str(10**400)):
        raw = json.dumps(event(meter)).replace('"quantity": 1', f'"quantity": {quantity}')
        assert field_of(server, "POST", "/v1/usages", raw=raw) == "quantity", quantity
    for value in ("1e400", "NaN", str(10**400)):
        raw = json.dumps(event(meter, metadata={"region": "eu", "tokens.in": 0})).replace(
            '"tokens.in": 0', f'"tokens.in": {value}'
        )
        assert field_of(server, "POST", "/v1/usages", raw=raw) == "metadata.tokens.in", value
    error = refusal(server, "POST", "/v1/usages/search", raw=json.dumps(search(meter, limit=0)).replace(
        '"limit": 0', f'"limit": {10**400}'
    ))
    assert (error["field"], error["code"]) == ("limit", "invalid_limit")
    digits = json.dumps(event(meter)).replace('"quantity": 1', f'"quantity": {"9" * 5000}')
    assert field_of(server, "POST", "/v1/usages", raw=digits) == "body"


def test_bodies_that_are_not_json_text(shared_server: ServerProcess) -> None:
    error = refusal(shared_server, "POST", "/v1/usages", raw=b'\xff\xfe{"a": 1}')
    assert (error["code"], error["field"]) == ("invalid_json", "body") and "not UTF-8" in error["message"]
    error = refusal(shared_server, "POST", "/v1/usages", raw='{"a": ')
    assert (error["code"], error["field"]) == ("invalid_json", "body")


def test_quantities_are_bounded_so_that_totals_stay_finite(client: Client, shared_server: ServerProcess,
                                                          meter: str) -> None:
    server = shared_server
    for quantity in (1e15 + 1, -2e15, 1.7e308):
        raw = json.dumps(event(meter, quantity=quantity))
        error = refusal(server, "POST", "/v1/usages", raw=raw)
        assert error["field"] == "quantity" and "between -1e15 and 1e15" in error["message"], error
        with pytest.raises(grpc.RpcError) as caught:
            client.call(client.usage.RecordUsage, usage_pb2.UsageEvent(
                idempotency_key="k", subject="s", meter=meter, quantity=quantity
            ))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("quantity: must be between -1e15 and 1e15")
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_S - 60))
    for _ in range(3):
        assert send(server, "POST", "/v1/usages", json.dumps(event(meter, quantity=1e15, timestamp=at)))[0] == 201
    day = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(NOW_S - 60))
    end = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(NOW_S - 60 + 86_400))
    status, _, content = send(server, "POST", "/v1/usages/search", json.dumps(
        {"meter": meter, "from": day, "to": end, "bucket_size": "day"}
    ))
    assert status == 200 and [b["quantity"] for b in json.loads(content)] == [3e15], content


def test_a_total_beyond_a_float_is_refused_not_answered_as_infinity(tmp_path: Path) -> None:
    """Events stored before quantities were bounded can still sum past a float64."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    legacy = Meter("legacy", Aggregation.SUM, id=str(uuid.uuid4()), event_retention_days=3650,
                   dimensions=(Dimension("region", DimensionType.STRING, required=False),))
    at_us = (NOW_S - 3600) * 1_000_000
    with storage_at(tmp_path, database) as storage:
        migrate(storage)
        MeterStore(storage).save(legacy)
        EventStore(storage).insert([
            EventRow("legacy", key, "org", at_us, 1.7e308, {"region": "eu"}, 3650, at_us, at_us) for key in ("a", "b")
        ])
    with running_server(tmp_path, database) as server:
        start = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(NOW_S - 7200))
        end = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(NOW_S + 3600))
        for path, body in (
            ("/v1/usages/search", {"meter": "legacy", "from": start, "to": end, "bucket_size": "hour"}),
            ("/v1/usages/breakdowns/search", {"meter": "legacy", "from": start, "to": end, "field": "region"}),
        ):
            error = refusal(server, "POST", path, body)
            assert (error["status"], error["code"]) == (409, "conflict"), error
            assert "beyond what a 64-bit float holds" in error["message"]
        client = Client(server.address)
        request = query_pb2.QueryUsageRequest(meter="legacy")
        request.start_time.FromSeconds(NOW_S - 7200)
        request.end_time.FromSeconds(NOW_S + 3600)
        with pytest.raises(grpc.RpcError) as caught:
            client.call(client.query.QueryUsage, request)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # The events themselves are still listed.
        assert len(client.call(client.query.ListEvents, query_pb2.ListEventsRequest(meter="legacy")).events) == 2
        client.close()


def raw_http(server: ServerProcess, data: bytes) -> tuple[bytes, bytes]:
    """Head and body of the answer to bytes sent as they are."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_requests_http_cannot_parse_get_the_json_error_body(shared_server: ServerProcess) -> None:
    for data in (
        b"GARBAGE\r\n\r\n",
        b"GET /v1/meters?name=\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/meters HTTP/1.1\r\nHost: x\r\nX-Key: a\x7fb\r\n\r\n",
        b"POST /v1/usages HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    ):
        head, body = raw_http(shared_server, data)
        assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower(), head
        assert json.loads(body)["error"]["code"] == "invalid_input", body


def test_every_error_path_answers_the_json_body(shared_server: ServerProcess) -> None:
    server = shared_server
    assert refusal(server, "GET", "/nothing/here")["code"] == "not_found"
    assert refusal(server, "GET", "/dashboard/missing.js")["code"] == "not_found"
    # Percent-encoding that decodes to nothing valid, or to a NUL, is a name like any other.
    assert refusal(server, "GET", "/v1/meters/%ED%A0%80")["code"] == "not_found"
    assert refusal(server, "GET", "/v1/meters/%ZZ")["code"] == "not_found"
    assert send(server, "GET", "/v1/meters?name=%00&cursor=%ff")[0] == 200
    for method, path, allow in (
        ("POST", "/dashboard/any.js", "GET, HEAD"),
        ("POST", "/", "GET"),
        ("DELETE", "/v1/usages", "POST"),
        ("TRACE", "/v1/plans/a", "DELETE, GET, PUT"),
        ("PUT", "/v1/meters", "GET, POST"),
    ):
        status, headers, content = send(server, method, path)
        assert (status, headers.get("allow")) == (405, allow), (method, path, headers)
        assert headers["content-type"] == "application/json"
        assert json.loads(content)["error"]["code"] == "method_not_allowed"
    status, headers, content = send(server, "POST", "/v1/usages", '{"a": 1}', content_type="text/plain")
    assert (status, json.loads(content)["error"]["code"]) == (415, "unsupported_media_type")


def test_made_up_cursors_are_refused_naming_the_cursor(shared_server: ServerProcess, meter: str) -> None:
    for cursor in ("not-a-token", base64.urlsafe_b64encode(("[" * 3000).encode()).decode(),
                   base64.urlsafe_b64encode(b'{"a": 1e999, "t": 1, "k": "k", "f": "x"}').decode()):
        error = refusal(shared_server, "GET", f"/v1/meters/{meter}/events?cursor={cursor}")
        assert (error["field"], error["code"]) == ("cursor", "invalid_cursor"), error


# --- gRPC ---------------------------------------------------------------------

def bad_request_field(error: grpc.RpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            for detail in status_pb2.Status.FromString(value).details:
                violations = error_details_pb2.BadRequest()
                if detail.Unpack(violations):
                    return str(violations.field_violations[0].field)
    return ""


def invalid(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (caught.value.code(), caught.value.details())
    return caught.value


def raw_call(client: Client, path: str, data: bytes) -> Any:
    return client.channel.unary_unary(path)(data, metadata=client.metadata, timeout=30)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A field of wire type 2, as protobuf writes it (tag, varint length, bytes)."""
    encoded, size = bytearray([number << 3 | 2]), len(payload)
    while True:
        encoded.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            return bytes(encoded) + payload


def with_nested_metadata(event: usage_pb2.UsageEvent, levels: int) -> bytes:
    """The event's bytes with a metadata Struct (field 6) nested `levels` deep, which protobuf
    writes but will not read back, so it is appended by hand."""
    root = struct_pb2.Struct()
    inner = root
    for _ in range(levels):
        inner = inner.fields["region"].struct_value
    return event.SerializeToString() + length_delimited(6, root.SerializeToString())


def test_undecodable_requests_are_invalid_arguments(client: Client, meter: str) -> None:
    refused = invalid(lambda: raw_call(client, "/openspanner.v1.UsageService/RecordUsage", b"\xff\xff\xff"))
    assert refused.details() == "the request is not a valid openspanner.v1.UsageEvent: its bytes are malformed"
    nested = with_nested_metadata(usage_pb2.UsageEvent(idempotency_key="k", subject="s", meter=meter, quantity=1), 200)
    refused = invalid(lambda: raw_call(client, "/openspanner.v1.UsageService/RecordUsage", nested))
    assert bad_request_field(refused) == "metadata" and "nested deeper than protobuf's 100 levels" in refused.details()
    # RecordUsagesRequest: events is field 2.
    bulk = usage_pb2.RecordUsagesRequest(events=[usage_pb2.UsageEvent(meter=meter)]).SerializeToString()
    bulk += length_delimited(2, nested)
    refused = invalid(lambda: raw_call(client, "/openspanner.v1.UsageService/RecordUsages", bulk))
    assert bad_request_field(refused) == "events[1].metadata"
    # A string that is not UTF-8, written by hand: field 2 (subject), 2 bytes.
    refused = invalid(lambda: raw_call(client, "/openspanner.v1.UsageService/RecordUsage", b"\x12\x02\xc3\x28"))
    assert bad_request_field(refused) == "subject"
    # Services without @rpc too.
    invalid(lambda: raw_call(client, "/grpc.health.v1.Health/Check", b"\xff"))


def test_an_undecodable_stream_message_ends_the_stream_as_invalid(client: Client, meter: str) -> None:
    start = usage_pb2.StreamUsageRequest(start=usage_pb2.StreamUsageStart(meters=[meter])).SerializeToString()
    stream = client.channel.stream_stream("/openspanner.v1.UsageService/StreamUsage")
    with pytest.raises(grpc.RpcError) as caught:
        list(stream(iter([start, b"\xff\xff"]), metadata=client.metadata, timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("the request is not a valid openspanner.v1.StreamUsageRequest")


def test_unknown_enum_numbers_are_refused_naming_the_field(client: Client) -> None:
    refused = invalid(lambda: client.call(client.meters.CreateMeter, meter_pb2.Meter(name="m_enum", aggregation=99)))
    assert bad_request_field(refused) == "aggregation" and "unknown value 99" in refused.details()
    definition = meter_pb2.Meter(name="m_enum", aggregation=meter_pb2.sum,
                                 dimensions=[meter_pb2.Dimension(name="d", type=7)])
    assert bad_request_field(invalid(lambda: client.call(client.meters.CreateMeter, definition))) == (
        "dimensions[0].type"
    )
    refused = invalid(lambda: client.call(client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=9)))
    assert bad_request_field(refused) == "scope"


def token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_made_up_page_tokens_are_refused_naming_the_token(client: Client, meter: str) -> None:
    for key in ("a", "b", "c"):
        client.call(client.usage.RecordUsage, usage_pb2.UsageEvent(
            idempotency_key=key, subject="s", meter=meter, quantity=1,
            metadata=struct_pb2.Struct(fields={"region": struct_pb2.Value(string_value="eu")}),
        ))
    real = client.call(client.query.ListEvents, query_pb2.ListEventsRequest(meter=meter, page_size=1)).next_page_token
    payload = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    for made_up in (
        base64.urlsafe_b64encode(("[" * 3000).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(payload).replace(str(payload["a"]), "1e999").encode()).decode(),
        token({**payload, "t": 10**30}),  # the listing's own fingerprint: it got as far as storage
        token({**payload, "k": "\ud800"}),
        token([payload]),
    ):
        refused = invalid(lambda t=made_up: client.call(
            client.query.ListEvents, query_pb2.ListEventsRequest(meter=meter, page_size=1, page_token=t)
        ))
        assert refused.details() == "page_token: is not a page token of ListEvents", made_up
    assert client.call(client.query.ListEvents, query_pb2.ListEventsRequest(meter=meter, page_size=1,
                                                                            page_token=real)).events
