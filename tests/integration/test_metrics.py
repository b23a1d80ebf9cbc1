"""/metrics, the access log and the Grafana dashboard, on real servers of their own.

Each server here is this module's alone, so its counters start at zero and
the counts asserted are exactly what the test sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from openspanner.client import StreamClient
from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server
from tests.support.http_calls import http, request
from tests.support.paths import ROOT

DASHBOARD = ROOT / "docs" / "grafana" / "openspanner.json"
RECORD_USAGE = "/openspanner.v1.UsageService/RecordUsage"
STREAM_USAGE = "/openspanner.v1.UsageService/StreamUsage"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("metrics")) as running:
        yield running


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose /metrics needs a read key."""
    with running_server(tmp_path_factory.mktemp("metrics-keyed"), OPENSPANNER_METRICS_REQUIRE_KEY="true") as running:
        yield running


def scrape(server: ServerProcess, key: str | None = None) -> tuple[str, str]:
    code, headers, body = request(server, "GET", "/metrics", key=key)
    assert code == 200, body
    return headers["content-type"], body.decode()


def samples(server: ServerProcess) -> Samples:
    """Every sample of a scrape, as prometheus_client's parser reads it, by name and labels."""
    _, text = scrape(server)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def create_meter(client: Client, name: str) -> None:
    client.call(client.meters.CreateMeter, meter_pb2.Meter(
        name=name, aggregation=meter_pb2.sum,
        dimensions=[meter_pb2.Dimension(name="model", type=meter_pb2.string, required=True)],
    ))


def event(meter: str, key: str, **metadata: str) -> usage_pb2.UsageEvent:
    message = usage_pb2.UsageEvent(idempotency_key=key, subject="org_1", meter=meter, quantity=1)
    message.metadata.update(metadata if metadata else {"model": "gpt-4.1"})
    return message


def wait_for(found: Callable[[], Any], what: str) -> Any:
    """What `found` returns once truthy: the server writes a call's log line, or ends a stream,
    just after the client hears the answer."""
    for _ in range(100):
        result = found()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_metrics_count_each_write_path_by_meter_path_and_outcome(server: ServerProcess) -> None:
    client = Client(server.address)
    meter = f"tokens_{uuid.uuid4().hex[:8]}"
    create_meter(client, meter)
    content_type, text = scrape(server)
    assert content_type.startswith("text/plain") and "version=" in content_type
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"openspanner_events", "openspanner_pending_events", "openspanner_open_streams"} <= names
    before = samples(server)
    assert value(before, "openspanner_open_streams", type="usage") == 0
    assert ("openspanner_pending_events", frozenset()) in before

    for i in range(3):  # N = 3 accepted, one call each
        client.call(client.usage.RecordUsage, event(meter, f"u{i}"))
    unknown_meter = f"nope_{uuid.uuid4().hex[:6]}"
    with pytest.raises(grpc.RpcError) as unknown:
        client.call(client.usage.RecordUsage, event(unknown_meter, "x"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    bulk = [event(meter, f"b{i}") for i in range(3)] + [event(meter, "u0"), event(meter, "bad", region="eu")]
    answer = client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=bulk))
    assert (answer.accepted, answer.duplicates, answer.rejected) == (3, 1, 1)

    async def stream() -> tuple[Samples, Samples]:
        start = usage_pb2.StreamUsageStart(meters=[meter])
        async with StreamClient(server.address, ADMIN_KEY, start, batch_size=5) as opened:
            for i in range(4):
                await opened.send(event(meter, f"s{i}"))
            await opened.send(event(meter, "s-bad", model="x", colour="red"))
            await opened.flush(timeout=30)
            during = await asyncio.to_thread(samples, server)
        after = await asyncio.to_thread(wait_for, closed, "the stream counted closed")
        return during, after

    def stream_calls(found: Samples) -> float:
        return sum(v for (name, labels), v in found.items()
                   if name == "openspanner_requests_total" and ("method", STREAM_USAGE) in labels)

    def closed() -> Samples | None:
        """Both counts of the stream's end: the gauge drops as the session ends, and the
        access log counts the call a moment later, once grpc has the handler's answer."""
        found = samples(server)
        gone = value(found, "openspanner_open_streams", type="usage") == 0
        return found if gone and stream_calls(found) > stream_calls(before) else None

    during, after = asyncio.run(stream())
    client.close()
    assert value(during, "openspanner_open_streams", type="usage") == 1
    assert value(after, "openspanner_open_streams", type="usage") == 0

    def events(path: str, outcome: str, of: str = meter) -> float:
        return value(after, "openspanner_events_total", meter=of, path=path, outcome=outcome)

    assert (events("unary", "accepted"), events("unary", "duplicate"), events("unary", "rejected")) == (3, 0, 0)
    assert events("unary", "rejected", of="unknown") == 1  # never the name the client sent
    assert (events("bulk", "accepted"), events("bulk", "duplicate"), events("bulk", "rejected")) == (3, 1, 1)
    assert (events("stream:usage", "accepted"), events("stream:usage", "rejected")) == (4, 1)
    assert unknown_meter not in scrape(server)[1]

    def rejections(field: str, code: str, of: str = meter) -> float:
        return value(after, "openspanner_rejections_total", meter=of, field=field, code=code)

    assert rejections("metadata.*", "invalid_argument") == 2  # region (bulk) and colour (stream): not declared
    assert rejections("meter", "not_found", of="unknown") == 1

    def acks(found: Samples, path: str) -> float:
        return value(found, "openspanner_ack_seconds_count", path=path)

    assert (acks(after, "unary") - acks(before, "unary"), acks(after, "bulk") - acks(before, "bulk")) == (4, 1)
    assert acks(after, "stream:usage") >= 1 and value(after, "openspanner_ack_seconds_sum", path="unary") > 0

    def grown(name: str, **labels: str) -> float:
        return value(after, name, transport="grpc", **labels) - value(before, name, transport="grpc", **labels)

    assert grown("openspanner_requests_total", method=RECORD_USAGE, status="OK") == 3
    assert grown("openspanner_requests_total", method=RECORD_USAGE, status="NOT_FOUND") == 1
    assert grown("openspanner_request_seconds_count", method=RECORD_USAGE) == 4
    # StreamClient ends its stream by cancelling it once everything is acknowledged. The call is
    # counted once: CANCELLED, or OK when the server had read the end of the requests and sent its
    # status before the cancel reached it (then the RPC had already ended well, and grpc says so).
    ends = {status: grown("openspanner_requests_total", method=STREAM_USAGE, status=status)
            for status in ("CANCELLED", "OK", "UNKNOWN", "UNAVAILABLE")}
    assert sum(ends.values()) == 1 and ends["CANCELLED"] + ends["OK"] == 1, ends


def test_query_latency_is_counted_per_query_kind(server: ServerProcess) -> None:
    client = Client(server.address)
    meter = f"queried_{uuid.uuid4().hex[:8]}"
    create_meter(client, meter)
    client.call(client.usage.RecordUsage, event(meter, "q0"))
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=2)).isoformat(), (now + timedelta(hours=1)).isoformat()

    def usage_count() -> float:
        return value(samples(server), "openspanner_query_seconds_count", query="usage")

    before = usage_count()
    client.call(client.query.QueryUsage, json_format.ParseDict(
        {"meter": meter, "start_time": start, "end_time": end, "window_size": "hour"}, query_pb2.QueryUsageRequest()
    ))
    client.close()
    assert usage_count() == before + 1
    code, buckets = http(server, "POST", "/v1/usages/search", {
        "meter": meter, "from": start, "to": end, "bucket_size": "hour",
    })
    assert code == 200 and sum(b["quantity"] for b in buckets) == 1, buckets
    after = samples(server)
    assert value(after, "openspanner_query_seconds_count", query="usage") == before + 2
    search = "POST /v1/usages/search"
    assert value(after, "openspanner_requests_total", transport="http", method=search, status="200") == 1
    assert value(after, "openspanner_request_seconds_count", transport="http", method=search) == 1


def access_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [e for e in server.log_events() if e.get("logger") == "openspanner.access"]


def test_one_access_line_per_call_naming_the_key_never_its_secret(keyed_server: ServerProcess) -> None:
    server = keyed_server
    admin = Client(server.address)
    meter = f"logged_{uuid.uuid4().hex[:8]}"
    create_meter(admin, meter)
    created = admin.call(admin.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.INGEST, name="l"))
    secret, key_id = created.secret, created.api_key.id
    ingest = admin.with_key(secret)
    ingest.call(ingest.usage.RecordUsage, event(meter, "a0"))

    # A stream the client half-closes, so it ends OK once its acks are read.
    messages = [
        usage_pb2.StreamUsageRequest(start=usage_pb2.StreamUsageStart(meters=[meter])),
        usage_pb2.StreamUsageRequest(batch=usage_pb2.UsageEventBatch(first_sequence=1, events=[event(meter, "a1")])),
    ]
    acks = list(ingest.usage.StreamUsage(iter(messages), metadata=ingest.metadata, timeout=60))
    assert [a.acks[0].outcome for a in acks if a.acks] == [usage_pb2.ACCEPTED]
    code, _ = http(server, "POST", "/v1/usages", {
        "idempotency_key": "a2", "subject": "org_1", "meter": meter, "quantity": 1, "metadata": {"model": "m"},
    }, key=secret)
    assert code == 201
    wrong = f"osk_{key_id}_not-the-secret"
    with pytest.raises(grpc.RpcError) as refused:
        admin.with_key(wrong).call(admin.usage.RecordUsage, event(meter, "a3"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    admin.close()

    def ours() -> list[dict[str, Any]]:
        lines = access_lines(server)
        expected = (
            any(e["event"] == "grpc stream ended" and e["key_id"] == key_id for e in lines),
            any(e.get("route") == "/v1/usages" for e in lines),
            any(e["event"] == "grpc call" and e.get("status") == "UNAUTHENTICATED" for e in lines),
        )
        return lines if all(expected) else []

    lines = wait_for(ours, "the access lines of every call")
    for line in lines:
        if line["event"] != "grpc stream started":
            assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
            assert isinstance(line["status"], str if line["event"].startswith("grpc") else int)
        assert line["level"] in ("info", "debug")

    def calls(event_name: str, method: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e for e in lines
            if e["event"] == event_name and e["method"] == method and all(e.get(k) == v for k, v in fields.items())
        ]

    assert len(calls("grpc call", RECORD_USAGE, key_id=key_id)) == 1
    assert len(calls("grpc call", RECORD_USAGE, key_id=key_id, status="OK")) == 1
    (started,) = calls("grpc stream started", STREAM_USAGE)
    assert started["key_id"] == key_id and "status" not in started
    (ended,) = calls("grpc stream ended", STREAM_USAGE)
    assert (ended["key_id"], ended["status"]) == (key_id, "OK")
    assert ended["duration_ms"] > 0
    (rest,) = calls("http request", "POST", route="/v1/usages")
    assert (rest["status"], rest["key_id"], rest["path"]) == (201, key_id, "/v1/usages")
    (bad,) = calls("grpc call", RECORD_USAGE, status="UNAUTHENTICATED")
    assert bad["key_id"] is None
    create = calls("grpc call", "/openspanner.v1.MeterService/CreateMeter")
    assert [(e["key_id"], e["status"]) for e in create] == [("admin", "OK")]
    everything = "\n".join(server.log_lines)
    assert secret.split("_", 2)[2] not in everything and ADMIN_KEY not in everything
    assert "not-the-secret" not in everything


def test_health_checks_are_logged_at_debug_and_http_refusals_at_info(keyed_server: ServerProcess) -> None:
    assert request(keyed_server, "GET", "/health", key=None)[0] == 204
    assert request(keyed_server, "GET", "/v1/meters", key="osk_nope_nope")[0] == 401
    with grpc.insecure_channel(keyed_server.address) as channel:
        checked = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    check = "/grpc.health.v1.Health/Check"

    def lines() -> list[dict[str, Any]]:
        found = [e for e in access_lines(keyed_server) if e.get("path") in ("/health", "/v1/meters")]
        grpc_check = [e for e in access_lines(keyed_server) if e["method"] == check]
        return found + grpc_check if len({e["path"] for e in found}) == 2 and grpc_check else []

    found = wait_for(lines, "the health and refused lines")
    (grpc_check,) = [e for e in found if e["method"] == check]
    assert (grpc_check["level"], grpc_check["status"], grpc_check["key_id"]) == ("debug", "OK", None)
    by_path = {e["path"]: e for e in found if "path" in e}
    assert (by_path["/health"]["level"], by_path["/health"]["status"], by_path["/health"]["key_id"]) == (
        "debug", 204, None
    )
    assert (by_path["/v1/meters"]["level"], by_path["/v1/meters"]["status"]) == ("info", 401)
    assert by_path["/v1/meters"]["key_id"] is None and by_path["/v1/meters"]["route"] == "/v1/meters"


def test_metrics_need_a_read_key_when_the_server_requires_one(keyed_server: ServerProcess) -> None:
    assert request(keyed_server, "GET", "/metrics", key=None)[0] == 401
    admin = Client(keyed_server.address)
    ingest = admin.call(admin.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.INGEST, name="i"))
    read = admin.call(admin.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.READ, name="r"))
    admin.close()
    assert request(keyed_server, "GET", "/metrics", key=ingest.secret)[0] == 403
    _, text = scrape(keyed_server, key=read.secret)
    assert any(f.name == "openspanner_requests" for f in text_string_to_metric_families(text))
    code, document = http(keyed_server, "GET", "/openapi.json", key=None)
    assert code == 200 and document["paths"]["/metrics"]["get"]["security"] == [{"bearer": []}]


def test_metrics_are_open_and_documented_as_such_by_default(server: ServerProcess) -> None:
    assert request(server, "GET", "/metrics", key=None)[0] == 200
    assert request(server, "GET", "/metrics", key="osk_nope_nope")[0] == 200  # no key is checked
    code, document = http(server, "GET", "/openapi.json", key=None)
    assert code == 200
    assert "security" not in document["paths"]["/metrics"]["get"]
    assert document["paths"]["/v1/meters"]["get"]["security"] == [{"bearer": []}]


# -- the Grafana dashboard -------------------------------------------------

_METRIC = re.compile(r"\bopenspanner_[a-z_]+\b")


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and variable queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def exposed_names(text: str) -> set[str]:
    """The sample names each family of a scrape has, whether or not it has samples yet."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "gauge": ("",)}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in suffixes.get(family.type, ("",))
    }


def test_the_dashboard_queries_only_series_the_server_exposes(server: ServerProcess) -> None:
    queries = dashboard_queries()
    used = {name for query in queries for name in _METRIC.findall(query)}
    assert len(used) >= 12, used
    _, text = scrape(server)
    assert used <= exposed_names(text), used - exposed_names(text)
    # Every panel reads the chosen data source and the chosen servers.
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            assert all('instance=~"$instance"' in t["expr"] for t in panel["targets"]), panel["title"]
