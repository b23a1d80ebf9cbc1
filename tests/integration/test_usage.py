"""RecordUsage and RecordUsages through gRPC: every validation rule, and bulk outcomes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from openspanner.v1 import meter_pb2, query_pb2, usage_pb2
from tests.harness import Client


def event(meter_name: str, **fields: Any) -> usage_pb2.UsageEvent:
    payload: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "subject": "org_123",
        "meter": meter_name,
        "quantity": 3,
        "metadata": {"region": "eu-west"},
    }
    payload.update(fields)
    if isinstance(payload.get("timestamp"), FromNow):
        payload["timestamp"] = payload["timestamp"].rfc3339()
    return json_format.ParseDict(payload, usage_pb2.UsageEvent())


@pytest.fixture
def meter_name(make_meter: Callable[..., meter_pb2.Meter]) -> str:
    return make_meter(event_retention_days=30).name


def refusal(client: Client, request: usage_pb2.UsageEvent) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.usage.RecordUsage, request)
    return caught.value


def test_valid_event_is_accepted_once(client: Client, meter_name: str) -> None:
    request = event(meter_name, metadata={"region": "eu", "cached": True, "tokens.in": 12.5})
    assert client.call(client.usage.RecordUsage, request).outcome == usage_pb2.ACCEPTED
    again = client.call(client.usage.RecordUsage, request)
    assert (again.outcome, again.idempotency_key) == (usage_pb2.DUPLICATE, request.idempotency_key)


def test_same_key_on_another_meter_is_a_different_event(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    first, second = make_meter().name, make_meter().name
    for name in (first, second):
        answer = client.call(client.usage.RecordUsage, event(name, idempotency_key="shared"))
        assert answer.outcome == usage_pb2.ACCEPTED


def test_unknown_meter_is_not_found_naming_it(client: Client) -> None:
    error = refusal(client, event("no_such_meter"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "meter: meter 'no_such_meter' does not exist"


@dataclass(frozen=True)
class FromNow:
    """A timestamp relative to when the event is built, not when tests are collected."""

    offset_seconds: float

    def rfc3339(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.offset_seconds))


@pytest.mark.parametrize(
    ("fields", "field_name", "rule"),
    [
        ({"meter": ""}, "meter", "is required"),
        ({"subject": ""}, "subject", "is required"),
        ({"subject": "s" * 257}, "subject", "at most 256 characters"),
        ({"idempotency_key": ""}, "idempotency_key", "is required"),
        ({"idempotency_key": "k" * 257}, "idempotency_key", "at most 256 characters"),
        ({"idempotency_key": "a\x00b"}, "idempotency_key", "control characters, found U+0000 at position 1"),
        ({"subject": "org\n1"}, "subject", "control characters, found U+000A at position 3"),
        ({"subject": "\x1b[31morg"}, "subject", "found U+001B"),
        ({"quantity": "NaN"}, "quantity", "finite"),
        ({"quantity": "Infinity"}, "quantity", "finite"),
        ({"quantity": "-Infinity"}, "quantity", "finite"),
        ({"timestamp": FromNow(6 * 60)}, "timestamp", "more than 5 minutes in the future"),
        ({"timestamp": FromNow(-31 * 86400)}, "timestamp", "event_retention_days: 30"),
        ({"metadata": {"region": "eu", "plan": "pro"}}, "metadata.plan", "is not a dimension"),
        ({"metadata": {}}, "metadata.region", "is required by meter"),
        ({"metadata": {"region": None}}, "metadata.region", "is required by meter"),
        ({"metadata": {"region": 5}}, "metadata.region", "must be a string, got the number 5"),
        ({"metadata": {"region": "eu", "cached": "yes"}}, "metadata.cached", "must be a boolean, got a string"),
        ({"metadata": {"region": "eu", "tokens.in": True}}, "metadata.tokens.in", "must be a number, got a boolean"),
        ({"metadata": {"region": {"a": 1}}}, "metadata.region", "got an object"),
        ({"metadata": {"region": ["a"]}}, "metadata.region", "got a list"),
        ({"metadata": {"region": "x" * 1025}}, "metadata.region", "at most 1024 bytes"),
        ({"metadata": {"region": "é" * 513}}, "metadata.region", "at most 1024 bytes"),
    ],
)
def test_invalid_events_are_refused_naming_field_and_rule(
    client: Client, meter_name: str, fields: dict[str, Any], field_name: str, rule: str
) -> None:
    error = refusal(client, event(meter_name, **fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field_name}: "), error.details()
    assert rule in error.details()


def test_boundary_values_are_accepted(client: Client, meter_name: str) -> None:
    accepted = [
        event(meter_name, subject="s" * 256, idempotency_key="k" * 256),
        event(meter_name, quantity=0),
        event(meter_name, quantity=-2.5),
        event(meter_name, timestamp=FromNow(4 * 60)),
        event(meter_name, timestamp=FromNow(-29 * 86400)),
        event(meter_name, metadata={"region": "x" * 1024, "cached": None}),
    ]
    for request in accepted:
        assert client.call(client.usage.RecordUsage, request).outcome == usage_pb2.ACCEPTED


def test_bulk_answers_each_event_and_keeps_the_good_ones(client: Client, meter_name: str) -> None:
    events = [
        event(meter_name, idempotency_key="a"),
        event(meter_name, idempotency_key="b", metadata={}),
        event(meter_name, idempotency_key="a"),
        event("missing_meter", idempotency_key="c"),
        event(meter_name, idempotency_key="d", quantity="NaN"),
        event(meter_name, idempotency_key="e"),
    ]
    response = client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=events))
    outcomes = [(r.index, r.idempotency_key, usage_pb2.Outcome.Name(r.outcome)) for r in response.results]
    assert outcomes == [
        (0, "a", "ACCEPTED"),
        (1, "b", "REJECTED"),
        (2, "a", "DUPLICATE"),
        (3, "c", "REJECTED"),
        (4, "d", "REJECTED"),
        (5, "e", "ACCEPTED"),
    ]
    rejections = {r.idempotency_key: r.rejection for r in response.results if r.outcome == usage_pb2.REJECTED}
    assert (rejections["b"].code, rejections["b"].field) == ("INVALID_ARGUMENT", "metadata.region")
    assert (rejections["c"].code, rejections["c"].field) == ("NOT_FOUND", "meter")
    assert (rejections["d"].field, "finite" in rejections["d"].message) == ("quantity", True)
    assert (response.accepted, response.duplicates, response.rejected) == (2, 1, 3)


def test_bulk_over_the_limit_is_refused(client: Client, meter_name: str) -> None:
    request = usage_pb2.RecordUsagesRequest(events=[event(meter_name) for _ in range(50_001)])
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.usage.RecordUsages, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "events: at most 50000 per call, got 50001"


def test_repeated_bulk_key_returns_first_answer_and_stores_nothing_new(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    meter_name = make_meter().name
    events = [event(meter_name, idempotency_key=f"k{i}") for i in range(5)]
    events.append(event("created_later_" + meter_name, idempotency_key="late"))
    request = usage_pb2.RecordUsagesRequest(idempotency_key=f"batch-{uuid.uuid4()}", events=events)
    first = client.call(client.usage.RecordUsages, request)
    assert (first.accepted, first.rejected) == (5, 1)

    # Even once the missing meter exists, the repeated call changes nothing.
    make_meter(name="created_later_" + meter_name)
    again = client.call(client.usage.RecordUsages, request)
    assert again == first

    other = usage_pb2.RecordUsagesRequest(idempotency_key=request.idempotency_key, events=events[:2])
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.usage.RecordUsages, other)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("idempotency_key: ")
    assert "different batch" in caught.value.details()


def test_bulk_backfill_spanning_ten_years_of_months_is_stored(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    # Events are partitioned by month; one call of history touches ~120 of them.
    meter_name = make_meter(event_retention_days=3650).name
    events = [
        event(meter_name, idempotency_key=f"h{day}", timestamp=FromNow(-day * 86400))
        for day in range(0, 3640, 15)
    ]
    request = usage_pb2.RecordUsagesRequest(events=events)
    first = client.call(client.usage.RecordUsages, request)
    assert (first.accepted, first.rejected) == (len(events), 0)
    again = client.call(client.usage.RecordUsages, request)
    assert again.duplicates == len(events)


def test_bulk_events_sharing_metadata_are_each_judged_against_their_own_meter(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    """A batch's metadata is checked once per distinct value and meter; every event still gets its own answer."""
    first = make_meter().name
    second = make_meter(dimensions=[{"name": "region", "type": "number"}]).name
    shared = {"region": "eu"}
    events = [
        event(first, metadata=shared), event(first, metadata={"region": 5}), event(second, metadata=shared),
        event(first, metadata=shared), event(first, metadata={"region": 5}), event(second, metadata={"region": 5}),
    ]
    answer = client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=events))
    outcomes = [r.outcome for r in answer.results]
    assert outcomes == [usage_pb2.ACCEPTED, usage_pb2.REJECTED, usage_pb2.REJECTED,
                        usage_pb2.ACCEPTED, usage_pb2.REJECTED, usage_pb2.ACCEPTED]
    rejections = [(r.index, r.rejection.field, r.rejection.message) for r in answer.results if r.rejection.field]
    assert rejections == [
        (1, "metadata.region", "must be a string, got the number 5.0"),
        (2, "metadata.region", "must be a number, got a string"),
        (4, "metadata.region", "must be a string, got the number 5.0"),
    ]


def test_a_timestamp_with_impossible_nanos_is_refused_alone(client: Client, meter_name: str) -> None:
    """gRPC's binary encoding carries any int32 in nanos; read as is it would move the instant."""
    bad = event(meter_name)
    bad.timestamp.seconds = int(time.time()) - 60
    bad.timestamp.nanos = 1_000_000_000
    error = refusal(client, bad)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "timestamp: nanos must be between 0 and 999,999,999, got 1,000,000,000"
    good = event(meter_name)
    answer = client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=[bad, good]))
    assert [r.outcome for r in answer.results] == [usage_pb2.REJECTED, usage_pb2.ACCEPTED]
    assert answer.results[0].rejection.field == "timestamp"
    query = query_pb2.QueryUsageRequest(meter=meter_name)
    query.start_time.seconds, query.start_time.nanos = 0, -1
    query.end_time.seconds = int(time.time())
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.query.QueryUsage, query)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("start_time: nanos must be between")
