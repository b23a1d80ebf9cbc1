"""The product's official client (`open-spanner` 0.1.13, StreamClient) over gRPC, unchanged.

Every call goes from the real client, in its own virtual environment
(tests/product_client.py), to a real server on the embedded engine; what it
stored is read back through our own QueryService over our stubs.
"""

from __future__ import annotations

import base64
import json
import textwrap
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, json_format, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from openspanner.v1 import api_key_pb2, meter_pb2, open_spanner_usage_pb2, query_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server
from tests.integration.test_seeds import grpcurl
from tests.product_client import run_product_client

# Before every script: a StreamClient on the server and key the test passes.
SETUP = """
from datetime import UTC, datetime, timedelta

import grpc
from open_spanner_client.stream import Event, RetryPolicy, StreamClient

client = StreamClient(os.environ["ADDRESS"], os.environ["API_KEY"])
meter = os.environ.get("METER", "")


def event(key, quantity=1.0, **fields):
    fields.setdefault("metadata", {"region": "eu"})
    return Event(subject=fields.pop("subject", "org_1"), meter=fields.pop("meter", meter), quantity=quantity,
                 idempotency_key=key, **fields)
"""


def run_client(server: ServerProcess, body: str, api_key: str = ADMIN_KEY, **env: str) -> Any:
    return run_product_client(SETUP + textwrap.dedent(body), ADDRESS=server.address, API_KEY=api_key, **env)


@pytest.fixture
def meter_name(make_meter: Callable[..., meter_pb2.Meter]) -> str:
    """A meter with `region` (string, required), `cached` (boolean) and `tokens.in` (number)."""
    return make_meter().name


def totals(client: Client, meter: str) -> tuple[float, int]:
    """(sum of quantity, events) the meter stores, through our own QueryUsage."""
    now = datetime.now(UTC)
    request = query_pb2.QueryUsageRequest(
        meter=meter, start_time=_timestamp(now - timedelta(days=1)), end_time=_timestamp(now + timedelta(hours=1))
    )
    rows = client.call(client.query.QueryUsage, request).rows
    return sum(row.value for row in rows), sum(row.event_count for row in rows)


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def bad_request_fields(error: dict[str, Any]) -> list[str]:
    """The fields of the google.rpc.BadRequest detail of an error the client received."""
    status = status_pb2.Status.FromString(base64.b64decode(error["status_details_b64"]))
    fields: list[str] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields.extend(violation.field for violation in bad_request.field_violations)
    return fields


def without_json_names(value: Any) -> Any:
    """A descriptor dict without `jsonName`, which protobuf 7 leaves out of CopyToProto
    and 6 puts in; it is derived from the field name and is not on the wire."""
    if isinstance(value, dict):
        return {k: without_json_names(v) for k, v in value.items() if k != "jsonName"}
    if isinstance(value, list):
        return [without_json_names(v) for v in value]
    return value


def test_the_wire_contract_is_the_clients_own() -> None:
    """Messages, field numbers and types, and the service, as compiled into the client."""
    script = """
        from google.protobuf import descriptor_pb2, json_format
        from open_spanner_client.grpc.pb.open_spanner.v1 import usage_pb2

        file = descriptor_pb2.FileDescriptorProto()
        usage_pb2.DESCRIPTOR.CopyToProto(file)
        emit({
            "package": file.package,
            "message_type": [json_format.MessageToDict(m) for m in file.message_type],
            "service": [json_format.MessageToDict(s) for s in file.service],
        })
    """
    theirs = run_product_client(textwrap.dedent(script))
    file = descriptor_pb2.FileDescriptorProto()
    open_spanner_usage_pb2.DESCRIPTOR.CopyToProto(file)
    ours: dict[str, Any] = {
        "package": file.package,
        "message_type": [json_format.MessageToDict(m) for m in file.message_type],
        "service": [json_format.MessageToDict(s) for s in file.service],
    }
    assert without_json_names(ours) == without_json_names(theirs)
    assert [m["name"] for m in ours["service"][0]["method"]] == ["CreateUsage", "CreateUsageBulk", "StreamUsage"]


def test_reflection_and_health_serve_it_so_grpcurl_can_call_it(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    listed = grpcurl(shared_server.address, "list")
    assert "open_spanner.v1.UsageService" in listed.stdout.split(), listed.stderr
    health = health_pb2_grpc.HealthStub(client.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service="open_spanner.v1.UsageService"))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    request = {"event": {"idempotencyKey": "by-grpcurl", "subject": "org_1", "meter": meter_name, "quantity": 2,
                         "metadata": {"region": "eu"}}}
    called = grpcurl(shared_server.address, "-d", json.dumps(request), "open_spanner.v1.UsageService/CreateUsage")
    assert called.returncode == 0, called.stderr
    event = json.loads(called.stdout)["event"]
    assert (event["idempotency_key"], event["quantity"], event["metadata"]) == ("by-grpcurl", 2, {"region": "eu"})
    assert totals(client, meter_name) == (2.0, 1)


def test_track_stores_the_event_and_a_replay_with_a_new_timestamp_answers_the_original(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    answers = run_client(shared_server, """
        key = "chatcmpl_1"
        first = client.track(event(key, 5, timestamp=datetime.now(UTC) - timedelta(minutes=1),
                                   metadata={"region": "eu", "cached": True, "tokens.in": 12.5}))
        # What the client does on a retry of its own: rebuilt, so stamped anew.
        again = client.track(event(key, 7, metadata={"region": "us"}))
        emit({"first": first, "again": again})
    """, METER=meter_name)
    first = answers["first"]
    assert first["idempotency_key"] == "chatcmpl_1"
    assert (first["subject"], first["meter"], first["quantity"]) == ("org_1", meter_name, 5.0)
    assert first["metadata"] == {"region": "eu", "cached": True, "tokens.in": 12.5}
    assert uuid.UUID(first["id"])
    assert datetime.fromisoformat(first["received_at"]) > datetime.fromisoformat(first["timestamp"])
    assert answers["again"] == first, "a reused key answers the event stored first"
    assert totals(client, meter_name) == (5.0, 1)


def test_a_refused_event_names_the_field_in_status_and_trailer(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    errors = run_client(shared_server, """
        errors = {}
        for name, sent in (("unknown_meter", event("k1", meter="no_such_meter")),
                           ("missing_dimension", event("k2", metadata={"cached": False})),
                           ("no_key", event("", meter="no_such_meter"))):
            try:
                client.track(sent)
            except grpc.RpcError as error:
                errors[name] = rpc_error(error)
        emit(errors)
    """, METER=meter_name)
    unknown, missing = errors["unknown_meter"], errors["missing_dimension"]
    assert (unknown["code"], unknown["details"]) == ("NOT_FOUND", "meter: meter 'no_such_meter' does not exist")
    assert bad_request_fields(unknown) == ["meter"]
    assert (missing["code"], missing["details"]) == (
        "INVALID_ARGUMENT", f"metadata.region: is required by meter '{meter_name}'"
    )
    assert bad_request_fields(missing) == ["metadata.region"]
    assert errors["no_key"]["code"] == "NOT_FOUND"
    assert totals(client, meter_name) == (0, 0)


def test_an_event_without_a_key_is_stored_under_a_new_key_as_in_the_product(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    """The client's default key is empty; the product stores such an event, each send anew."""
    answers = run_client(shared_server, """
        emit([client.track(event("", 2)), client.track(event("", 2))])
    """, METER=meter_name)
    keys = [answer["idempotency_key"] for answer in answers]
    assert all(key.startswith("generated:") for key in keys) and keys[0] != keys[1]
    assert totals(client, meter_name) == (4.0, 2)


def test_track_bulk_answers_accepted_duplicates_and_failures_with_the_products_codes(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    answers = run_client(shared_server, """
        stored = client.track(event("c", 3))
        batch = [
            event("a", 1),
            event("b", 2, metadata={"region": "us", "cached": False}),
            event("c", 30),
            event("d", metadata={"cached": True}),
            event("e", meter="no_such_meter"),
            event("f", timestamp=datetime.now(UTC) + timedelta(hours=1)),
        ]
        first = client.track_bulk("batch-1", batch)
        # The same batch key with another body: the product replays the first answer.
        replayed = client.track_bulk("batch-1", [event("g", 100)])
        emit({"stored": stored, "first": first, "replayed": replayed})
    """, METER=meter_name)
    first = answers["first"]
    assert (first["accepted_count"], first["duplicate_count"], first["failed_count"]) == (2, 1, 3)
    assert [(e["idempotency_key"], e["quantity"]) for e in first["accepted"]] == [("a", 1.0), ("b", 2.0)]
    assert first["accepted"][1]["metadata"] == {"region": "us", "cached": False}
    assert all(e["received_at"] and uuid.UUID(e["id"]) for e in first["accepted"])
    assert first["duplicates"] == [answers["stored"]], "a duplicate is answered with the event stored first"
    assert first["failed"] == [
        {"index": 3, "code": "invalid_input",
         "message": f"invalid input: metadata.region: is required by meter '{meter_name}'"},
        {"index": 4, "code": "not_found", "message": "not found: meter: meter 'no_such_meter' does not exist"},
        {"index": 5, "code": "invalid_timestamp",
         "message": "invalid input: timestamp: is more than 5 minutes in the future"},
    ]
    assert answers["replayed"] == first
    assert totals(client, meter_name) == (6.0, 3), "the replayed call stored nothing"


def test_stream_records_everything_sent_as_one_bulk_call_keyed_by_metadata(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    answers = run_client(shared_server, """
        stream = client.stream("stream-1")
        for i in range(20):
            stream.track(event(f"s{i}", i))
        stream.track(event("bad", metadata={}))
        first = stream.close()
        again = client.stream("stream-1")
        again.track(event("other", 1000))
        replayed = again.close()
        unkeyed = client.stream("")
        unkeyed.track(event("s0", 99))
        unkeyed.track(event("u1", 1))
        emit({"first": first, "replayed": replayed, "unkeyed": unkeyed.close()})
    """, METER=meter_name)
    first = answers["first"]
    assert (first["accepted_count"], first["duplicate_count"], first["failed_count"]) == (20, 0, 1)
    assert [e["idempotency_key"] for e in first["accepted"]] == [f"s{i}" for i in range(20)]
    assert first["failed"] == [
        {"index": 20, "code": "invalid_input",
         "message": f"invalid input: metadata.region: is required by meter '{meter_name}'"},
    ]
    assert answers["replayed"] == first, "the stream's batch key replays its first answer"
    unkeyed = answers["unkeyed"]
    assert (unkeyed["accepted_count"], unkeyed["duplicate_count"]) == (1, 1)
    assert unkeyed["duplicates"] == [first["accepted"][0]]
    assert totals(client, meter_name) == (sum(range(20)) + 1.0, 21)


def test_more_than_1000_events_are_refused_naming_the_field(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    answers = run_client(shared_server, """
        answers = {}
        stream = client.stream("too-many")
        for i in range(1001):
            stream.track(event(f"over{i}"))
        try:
            stream.close()
        except grpc.RpcError as error:
            answers["stream"] = rpc_error(error)
        try:
            client.track_bulk("too-many-bulk", [event(f"over{i}") for i in range(1001)])
        except grpc.RpcError as error:
            answers["bulk"] = rpc_error(error)
        stream = client.stream("just-enough")
        for i in range(1000):
            stream.track(event(f"ok{i}"))
        answers["limit"] = stream.close().accepted_count
        emit(answers)
    """, METER=meter_name)
    assert (answers["stream"]["code"], answers["stream"]["details"]) == (
        "INVALID_ARGUMENT", "events: at most 1000 per stream; this stream sent more"
    )
    assert bad_request_fields(answers["stream"]) == ["events"]
    assert (answers["bulk"]["code"], answers["bulk"]["details"]) == (
        "INVALID_ARGUMENT", "events: at most 1000 per call, got 1001"
    )
    assert answers["limit"] == 1000
    assert totals(client, meter_name) == (1000.0, 1000), "nothing of the refused calls was stored"


def test_the_service_needs_an_ingest_key(shared_server: ServerProcess, client: Client, meter_name: str) -> None:
    keys = {
        scope: client.call(client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=value, name=scope)).secret
        for scope, value in (("ingest", api_key_pb2.INGEST), ("read", api_key_pb2.READ))
    }
    script = """
        try:
            emit(client.track(event(os.environ["KEY"])).idempotency_key)
        except grpc.RpcError as error:
            emit(error.code().name)
    """
    assert run_client(shared_server, script, api_key=keys["ingest"], METER=meter_name, KEY="i") == "i"
    assert run_client(shared_server, script, api_key=keys["read"], METER=meter_name, KEY="r") == "PERMISSION_DENIED"
    assert run_client(shared_server, script, api_key="osk_nope_nope", METER=meter_name, KEY="n") == "UNAUTHENTICATED"
    assert totals(client, meter_name) == (1.0, 1)


def test_a_full_server_answers_with_a_retry_delay_the_clients_retry_policy_waits(tmp_path: Path) -> None:
    """A long linger holds a bulk call's events pending, so the server is full while it waits."""
    with running_server(
        tmp_path, OPENSPANNER_MAX_PENDING_EVENTS="10", OPENSPANNER_BATCH_LINGER_MS="6000"
    ) as server:
        client = Client(server.address)
        meter = client.call(client.meters.CreateMeter, json_format.ParseDict(
            {"name": "api_requests", "aggregation": "sum",
             "dimensions": [{"name": "region", "type": "string", "required": True}]},
            meter_pb2.Meter(),
        )).name
        answers = run_client(server, """
            import threading
            import time

            # Written at once (the writer is idle); the next write waits for the linger.
            client.track(event("first"))
            held = {}
            holder = threading.Thread(
                target=lambda: held.update(answer=client.track_bulk("", [event(f"held{i}") for i in range(10)]))
            )
            holder.start()
            time.sleep(0.5)
            refused = {}
            stream = client.stream("")
            stream.track(event("refused-stream"))
            for name, call in (("track", lambda: client.track(event("refused"))),
                               ("track_bulk", lambda: client.track_bulk("", [event("refused-bulk")])),
                               ("stream", stream.close)):
                try:
                    call()
                except grpc.RpcError as error:
                    refused[name] = rpc_error(error)
            retries = []
            patient = StreamClient(os.environ["ADDRESS"], os.environ["API_KEY"], retry_policy=RetryPolicy(
                max_attempts=200, on_retry=lambda r: retries.append({"delay": r.delay_seconds, **rpc_error(r.error)})
            ))
            recorded = patient.track(event("refused"))
            holder.join()
            emit({"refused": refused, "retries": retries, "recorded": recorded, "held": held["answer"]})
        """, METER=meter)
        assert set(answers["refused"]) == {"track", "track_bulk", "stream"}
        for error in answers["refused"].values():
            assert error["code"] == "RESOURCE_EXHAUSTED"
            assert "max_pending_events" in error["details"]
            assert 0 < error["retry_delay_seconds"] <= 10, "the client reads google.rpc.RetryInfo from the trailer"
        retries = answers["retries"]
        assert retries, "the first retried call was refused too"
        for retry in retries:
            assert retry["code"] == "RESOURCE_EXHAUSTED"
            assert retry["delay"] == retry["retry_delay_seconds"], "the policy waited the server's delay"
        assert answers["recorded"]["idempotency_key"] == "refused"
        assert answers["held"]["accepted_count"] == 10
        assert totals(client, meter) == (12.0, 12), "refused calls stored nothing"
        client.close()
