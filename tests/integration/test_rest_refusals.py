"""Two refusals of the REST API, tried as a client would, on a real server.

- A query parameter the route does not declare is refused (400 invalid_input,
  naming it) on every route of the document, before the route does anything;
  declared parameters, repeated ones among them, still work, and so do the
  dashboard's files.
- `POST /v1/usages/bulk` under a batch key: the same batch replays the first
  answer with `Idempotent-Replayed: true`; another batch is refused 422 naming
  the header and stores nothing. The rule of "the same batch" is bulk_keys.py's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from openspanner.v1 import usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server
from tests.integration.test_http import error_of
from tests.support.http_calls import http, request

START, END = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
RANGE = f"start_time={START}&end_time={END}"
# Yesterday, within any meter's retention.
DAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("rest-refusals")) as running:
        yield running


def now_timestamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


def new_meter(server: ServerProcess) -> str:
    name = f"r_{uuid.uuid4().hex[:10]}"
    code, body = http(server, "POST", "/v1/meters", {
        "name": name, "aggregation": "sum", "dimensions": [{"name": "model", "type": "string"}],
    })
    assert code == 201, body
    return name


def event(meter: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "subject": "org_1", "meter": meter, "quantity": 2,
            "metadata": {"model": "m1"}, **fields}


def stored_keys(server: ServerProcess, meter: str) -> list[str]:
    code, page = http(server, "GET", f"/v1/meters/{meter}/events?limit=1000")
    assert code == 200, page
    return sorted(item["idempotency_key"] for item in page["items"])


# --- unknown query parameters -------------------------------------------------


def test_the_issues_examples_are_refused_naming_the_parameter(server: ServerProcess) -> None:
    meter = new_meter(server)
    code, body = http(server, "POST", "/v1/usages", event(meter, "a", metadata={"model": "m2"}))
    assert code == 201, body
    # The old filter form: it answered the unfiltered total.
    refused = http(server, "GET", f"/v1/meters/{meter}/usage?{RANGE}&filter.model=m1")
    assert error_of(refused) == (400, "invalid_input", "filter.model")
    assert refused[1]["error"]["message"] == (
        f"invalid input: filter.model: is not a parameter of GET /v1/meters/{meter}/usage; it takes end_time, "
        "fill, filter, group_by, start_time, subject, time_zone, window_size"
    )
    # A misspelt subject list: it answered every subject.
    assert error_of(http(server, "GET", f"/v1/meters/{meter}/usage?{RANGE}&subjects=org_1")) == (
        400, "invalid_input", "subjects"
    )
    # gRPC's page size: it listed everything.
    assert error_of(http(server, "GET", f"/v1/meters/{meter}/events?page_size=1")) == (
        400, "invalid_input", "page_size"
    )
    # A parameter whose name has a code of its own elsewhere (invalid_limit) is still unknown here.
    assert error_of(http(server, "GET", f"/v1/meters/{meter}/usage?{RANGE}&limit=1")) == (
        400, "invalid_input", "limit"
    )
    assert error_of(http(server, "GET", "/health?verbose=1")) == (400, "invalid_input", "verbose")


def test_declared_parameters_still_answer_repeated_ones_too(server: ServerProcess) -> None:
    meter = new_meter(server)
    for key, subject in (("a", "org_1"), ("b", "org_2"), ("c", "org_3")):
        assert http(server, "POST", "/v1/usages", event(meter, key, subject=subject))[0] == 201
    now = datetime.now(UTC)
    window = f"start_time={(now - timedelta(days=1)).isoformat()}&end_time={(now + timedelta(hours=1)).isoformat()}"
    window = window.replace("+", "%2B")
    code, body = http(
        server, "GET", f"/v1/meters/{meter}/usage?{window}&subject=org_1&subject=org_2&group_by=subject"
        "&filter=model:m1&filter=model:m2&window_size=day&fill=false",
    )
    assert code == 200, body
    assert sorted((row["subject"], row["event_count"]) for row in body["rows"]) == [("org_1", 1), ("org_2", 1)]
    code, page = http(server, "GET", f"/v1/meters/{meter}/events?limit=1&subject=org_3")
    assert (code, [e["idempotency_key"] for e in page["items"]]) == (200, ["c"])
    assert http(server, "GET", "/health")[0] == 204
    assert request(server, "GET", "/metrics")[0] == 200


def test_a_refused_parameter_does_nothing(server: ServerProcess) -> None:
    """A misspelt switch is refused before the route acts: nothing is stored or deleted."""
    meter = new_meter(server)
    # `validate_only` misspelt would have stored the batch it meant to check.
    refused = http(server, "POST", "/v1/usages/bulk?validateOnly=true", [event(meter, "checked")])
    assert error_of(refused) == (400, "invalid_input", "validateOnly")
    assert http(server, "POST", "/v1/usages?dry_run=1", event(meter, "single"))[0] == 400
    assert stored_keys(server, meter) == []
    assert error_of(http(server, "DELETE", f"/v1/meters/{meter}?forse=true")) == (400, "invalid_input", "forse")
    assert http(server, "GET", f"/v1/meters/{meter}")[0] == 200


def _document_operations(server: ServerProcess) -> list[tuple[str, str]]:
    code, document = http(server, "GET", "/openapi.json", key=None)
    assert code == 200
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "plans" not in operation.get("tags", ())
    ]


def test_every_route_of_the_document_refuses_an_unknown_parameter(server: ServerProcess) -> None:
    meter = new_meter(server)
    operations = _document_operations(server)
    assert len(operations) > 20
    for method, path in operations:
        target = re.sub(r"\{[^}]+\}", meter, path) + "?not_a_parameter=1"
        status, _, content = request(server, method, target, None, ADMIN_KEY, None, None)
        assert status == 400, (method, path, status, content[:300])
        assert json.loads(content)["error"]["field"] == "not_a_parameter", (method, path, content[:300])
    # Nothing of the above acted: the meter is still there.
    assert http(server, "GET", f"/v1/meters/{meter}")[0] == 200


def test_the_dashboard_and_the_decisions_list_take_their_parameters(server: ServerProcess) -> None:
    status, headers, _ = request(server, "GET", "/?from=bookmark", None, None, None, None)
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert request(server, "GET", "/dashboard/app.js?v=1", None, None, None, None)[0] == 200
    # The product's client sends these parameters to the decisions list.
    assert http(server, "GET", "/v1/entitlements/decisions?subject=org_1&limit=5") == (200, {"items": []})



# --- bulk calls under a batch key ----------------------------------------------


def bulk(server: ServerProcess, events: list[dict[str, Any]], key: str) -> tuple[int, dict[str, str], Any]:
    status, headers, content = request(
        server, "POST", "/v1/usages/bulk", events, ADMIN_KEY, {"Idempotency-Key": key}, None
    )
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(content)


def test_the_same_batch_replays_marked_and_another_is_refused_storing_nothing(server: ServerProcess) -> None:
    meter = new_meter(server)
    key = f"batch-{uuid.uuid4().hex}"
    batch = [event(meter, "e1", timestamp=f"{DAY}T10:00:00Z"), event(meter, "e2", quantity=3)]
    status, headers, first = bulk(server, batch, key)
    assert (status, first["accepted"]) == (201, 2)
    assert "idempotent-replayed" not in headers
    # The same batch again: the first answer, said to be one.
    status, headers, again = bulk(server, batch, key)
    assert (status, headers.get("idempotent-replayed"), again) == (201, "true", first)
    # Another batch under the key: refused, naming the header, and none of its events stored.
    other = [*batch, event(meter, "e3")]
    status, headers, refused = bulk(server, other, key)
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (
        422, "idempotency_key_reused", "Idempotency-Key"
    )
    assert refused["error"]["message"] == f"Idempotency-Key: {key!r} was already used for a different batch; " \
        "use a new key"
    assert "idempotent-replayed" not in headers
    for changed in ([{**batch[0], "quantity": 9}, batch[1]], [batch[1], batch[0]], batch[:1],
                    [batch[0], {**batch[1], "subject": "org_2"}], [batch[0], {**batch[1], "metadata": {}}],
                    [batch[0], {**batch[1], "idempotency_key": "e2b"}]):
        assert bulk(server, changed, key)[0] == 422, changed
    assert stored_keys(server, meter) == ["e1", "e2"]
    # The key still holds the first answer.
    assert bulk(server, batch, key)[2] == first


def test_a_retry_built_anew_replays(server: ServerProcess) -> None:
    """An event with a key is that key: a retry stamping it anew is the same batch. An event
    without one is its content, timestamp included; the server's own keys for it do not count."""
    meter = new_meter(server)
    key = f"batch-{uuid.uuid4().hex}"
    stamped = [event(meter, "s1", timestamp=f"{DAY}T10:00:00Z")]
    status, _, first = bulk(server, stamped, key)
    assert status == 201
    status, headers, again = bulk(server, [{**stamped[0], "timestamp": f"{DAY}T10:05:00Z"}], key)
    assert (status, headers.get("idempotent-replayed"), again) == (201, "true", first)

    keyless_key = f"batch-{uuid.uuid4().hex}"
    keyless = [{k: v for k, v in event(meter, "").items() if k != "idempotency_key"} | {
        "timestamp": f"{DAY}T11:00:00Z"}]
    status, _, first = bulk(server, keyless, keyless_key)
    assert (status, first["accepted"]) == (201, 1)
    # The same instant with another offset is the same body.
    status, headers, again = bulk(server, [{**keyless[0], "timestamp": f"{DAY}T12:00:00+01:00"}], keyless_key)
    assert (status, headers.get("idempotent-replayed"), again) == (201, "true", first)
    assert bulk(server, [{**keyless[0], "timestamp": f"{DAY}T11:00:01Z"}], keyless_key)[0] == 422
    assert len(stored_keys(server, meter)) == 2


def test_an_all_refused_batch_replays_its_answer_marked(server: ServerProcess) -> None:
    key = f"batch-{uuid.uuid4().hex}"
    batch = [event("no_such_meter", "x")]
    status, headers, first = bulk(server, batch, key)
    assert (status, first["failed"], "idempotent-replayed" in headers) == (400, 1, False)
    status, headers, again = bulk(server, batch, key)
    assert (status, headers.get("idempotent-replayed"), again) == (400, "true", first)


def test_grpc_record_usages_still_refuses_and_the_products_grpc_still_replays(server: ServerProcess) -> None:
    meter = new_meter(server)
    client = Client(server.address)
    try:
        key = f"batch-{uuid.uuid4().hex}"
        message = usage_pb2.UsageEvent(idempotency_key="g1", subject="org_1", meter=meter, quantity=1,
                                       timestamp=now_timestamp())
        message.metadata.update({"model": "m1"})
        client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(idempotency_key=key, events=[message]))
        other = usage_pb2.UsageEvent(idempotency_key="g2", subject="org_1", meter=meter, quantity=1)
        other.metadata.update({"model": "m1"})
        with pytest.raises(grpc.RpcError) as refused:
            client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(idempotency_key=key, events=[other]))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "already used for a different batch" in (refused.value.details() or "")
    finally:
        client.close()
    assert stored_keys(server, meter) == ["g1"]



def test_a_first_answer_kept_before_rest_had_its_fingerprint_replays(server: ServerProcess) -> None:
    """Answers kept by the previous version (a digest of the request message, as gRPC keeps) cannot
    be compared with REST's fingerprint: a retry across an upgrade replays, as it did then."""
    meter = new_meter(server)
    key = f"batch-{uuid.uuid4().hex}"
    message = usage_pb2.UsageEvent(idempotency_key="old1", subject="org_1", meter=meter, quantity=1)
    message.metadata.update({"model": "m1"})
    client = Client(server.address)
    try:
        client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(idempotency_key=key, events=[message]))
    finally:
        client.close()
    status, headers, answer = bulk(server, [event(meter, "old1", quantity=1)], key)
    assert (status, headers.get("idempotent-replayed"), answer["accepted"]) == (201, "true", 1)
    assert stored_keys(server, meter) == ["old1"]
