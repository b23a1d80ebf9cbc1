"""QueryService through gRPC on a real server: every aggregation, windows, time zones, groups, filters, paging."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from openspanner.v1 import api_key_pb2, meter_pb2, query_pb2, usage_pb2
from tests.harness import Client, ServerProcess, running_server, storage
from tests.integration.test_seeds import grpcurl
from tests.support.paths import ROOT, seed_json

DAY = 86_400


def record(client: Client, meter: str, *events: dict[str, Any]) -> usage_pb2.RecordUsagesResponse:
    payload = [{"meter": meter, "subject": "org_1", "metadata": {"region": "eu"}, **e} for e in events]
    request = json_format.ParseDict({"events": payload}, usage_pb2.RecordUsagesRequest())
    return record_request(client, request)


def record_request(client: Client, request: usage_pb2.RecordUsagesRequest) -> usage_pb2.RecordUsagesResponse:
    """RecordUsages, all events accepted or duplicate."""
    response = client.call(client.usage.RecordUsages, request)
    assert response.rejected == 0, response
    return response


def query(client: Client, meter: str, **fields: Any) -> query_pb2.QueryUsageResponse:
    request = json_format.ParseDict({"meter": meter, **fields}, query_pb2.QueryUsageRequest())
    return client.call(client.query.QueryUsage, request)


Row = tuple[str, str, str, dict[str, Any], float | None, int]


def rows(response: query_pb2.QueryUsageResponse) -> list[Row]:
    """(window_start, window_end, subject, group, value or None, events) of each row."""
    return [
        (
            r.window_start.ToJsonString(),
            r.window_end.ToJsonString(),
            r.subject,
            json_format.MessageToDict(r.group),
            r.value if r.HasField("value") else None,
            r.event_count,
        )
        for r in response.rows
    ]


def values(response: query_pb2.QueryUsageResponse) -> list[float | None]:
    return [row[4] for row in rows(response)]


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


@pytest.fixture
def new_meter(make_meter: Callable[..., meter_pb2.Meter]) -> Callable[[str], str]:
    def create(aggregation: str = "sum") -> str:
        return str(make_meter(aggregation=aggregation, event_retention_days=3650).name)

    return create


# Two ties: "a" and "b" share the earliest timestamp, "d" and "z" the latest.
# Their subjects put them in storage in the opposite order of the tie rule,
# so a rule that leaned on storage order would fail. "c" is sent again with
# another quantity and must not count; "f" and "e" lie just outside the
# range [2026-03-02, 2026-03-05).
TIE_EVENTS = [
    {"idempotency_key": "f", "timestamp": "2026-03-01T23:59:59.999999Z", "quantity": 100},
    {"idempotency_key": "b", "timestamp": "2026-03-02T10:00:00Z", "quantity": 5, "subject": "s_a"},
    {"idempotency_key": "a", "timestamp": "2026-03-02T10:00:00Z", "quantity": 2, "subject": "s_z"},
    {"idempotency_key": "c", "timestamp": "2026-03-03T12:30:00Z", "quantity": 7},
    {"idempotency_key": "z", "timestamp": "2026-03-04T23:59:59.999999Z", "quantity": 9, "subject": "s_z"},
    {"idempotency_key": "d", "timestamp": "2026-03-04T23:59:59.999999Z", "quantity": 1, "subject": "s_a"},
    {"idempotency_key": "e", "timestamp": "2026-03-05T00:00:00Z", "quantity": 100},
]
RANGE = {"start_time": "2026-03-02T00:00:00Z", "end_time": "2026-03-05T00:00:00Z"}
TOTALS = {"sum": 24, "count": 5, "avg": 4.8, "min": 1, "max": 9, "first": 2, "last": 9, "rate": 24 / (3 * DAY)}
DAILY = {
    "sum": [7, 7, 10],
    "count": [2, 1, 2],
    "avg": [3.5, 7, 5],
    "min": [2, 7, 1],
    "max": [5, 7, 9],
    "first": [2, 7, 1],
    "last": [5, 7, 9],
    "rate": [7 / DAY, 7 / DAY, 10 / DAY],
}


@pytest.mark.parametrize("aggregation", list(TOTALS))
def test_each_aggregation_over_the_range_and_per_day(
    client: Client, new_meter: Callable[[str], str], aggregation: str
) -> None:
    meter = new_meter(aggregation)
    record(client, meter, *TIE_EVENTS)
    resent = record(client, meter, {"idempotency_key": "c", "timestamp": "2026-03-03T12:30:00Z", "quantity": 70})
    assert resent.duplicates == 1

    total = query(client, meter, **RANGE)
    assert total.aggregation == aggregation
    expected = pytest.approx(TOTALS[aggregation])
    assert rows(total) == [("2026-03-02T00:00:00Z", "2026-03-05T00:00:00Z", "", {}, expected, 5)]

    daily = query(client, meter, window_size="day", **RANGE)
    assert [r[:2] for r in rows(daily)] == [
        ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"),
        ("2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"),
        ("2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"),
    ]
    assert values(daily) == pytest.approx(DAILY[aggregation])
    assert [r[5] for r in rows(daily)] == [2, 1, 2]


def test_day_windows_follow_the_time_zone_across_dst(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("rate")
    record(
        client, meter,
        {"idempotency_key": "1", "timestamp": "2026-03-07T12:00:00Z", "quantity": 1},
        {"idempotency_key": "2", "timestamp": "2026-03-08T12:00:00Z", "quantity": 2},
        # 23:59:59 on March 8 in New York (EDT since 2am), still March 8.
        {"idempotency_key": "3", "timestamp": "2026-03-09T03:59:59Z", "quantity": 4},
        {"idempotency_key": "4", "timestamp": "2026-03-09T04:00:00Z", "quantity": 8},
    )
    answer = query(
        client, meter, window_size="day", time_zone="America/New_York",
        start_time="2026-03-07T05:00:00Z", end_time="2026-03-10T04:00:00Z",
    )
    assert answer.time_zone == "America/New_York"
    assert [(r[0], r[1], r[5]) for r in rows(answer)] == [
        ("2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z", 1),
        ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 2),  # 23 hours
        ("2026-03-09T04:00:00Z", "2026-03-10T04:00:00Z", 1),
    ]
    assert values(answer) == pytest.approx([1 / DAY, 6 / (23 * 3600), 8 / DAY])


def test_hour_windows_keep_the_repeated_hour_of_fall_back_apart(
    client: Client, new_meter: Callable[[str], str]
) -> None:
    meter = new_meter("sum")
    record(
        client, meter,
        {"idempotency_key": "edt", "timestamp": "2026-11-01T05:30:00Z", "quantity": 1},  # 01:30 EDT
        {"idempotency_key": "est", "timestamp": "2026-11-01T06:30:00Z", "quantity": 2},  # 01:30 EST
    )
    hourly = query(
        client, meter, window_size="hour", time_zone="America/New_York",
        start_time="2026-11-01T04:00:00Z", end_time="2026-11-01T08:00:00Z",
    )
    assert [(r[0], r[4]) for r in rows(hourly)] == [("2026-11-01T05:00:00Z", 1), ("2026-11-01T06:00:00Z", 2)]
    daily = query(
        client, meter, window_size="day", time_zone="America/New_York",
        start_time="2026-10-31T04:00:00Z", end_time="2026-11-03T05:00:00Z",
    )
    assert [r[:2] for r in rows(daily)] == [("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z")]  # 25 hours


def test_month_windows_in_a_time_zone(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("sum")
    record(
        client, meter,
        {"idempotency_key": "feb", "timestamp": "2026-02-28T22:59:59Z", "quantity": 1},  # Feb 28 23:59:59 CET
        {"idempotency_key": "mar1", "timestamp": "2026-02-28T23:00:00Z", "quantity": 2},  # Mar 1 00:00 CET
        {"idempotency_key": "mar31", "timestamp": "2026-03-31T21:59:59Z", "quantity": 4},  # Mar 31 23:59:59 CEST
        {"idempotency_key": "apr", "timestamp": "2026-03-31T22:00:00Z", "quantity": 8},  # Apr 1 00:00 CEST
    )
    answer = query(
        client, meter, window_size="month", time_zone="Europe/Berlin",
        start_time="2026-01-31T23:00:00Z", end_time="2026-04-30T22:00:00Z",
    )
    assert [(r[0], r[1], r[4]) for r in rows(answer)] == [
        ("2026-01-31T23:00:00Z", "2026-02-28T23:00:00Z", 1),
        ("2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", 6),
        ("2026-03-31T22:00:00Z", "2026-04-30T22:00:00Z", 8),
    ]


def test_windows_are_clipped_to_the_range_and_rate_uses_the_clipped_length(
    client: Client, new_meter: Callable[[str], str]
) -> None:
    meter = new_meter("rate")
    record(client, meter, {"idempotency_key": "x", "timestamp": "2026-03-02T13:00:00Z", "quantity": 43_200})
    answer = query(
        client, meter, window_size="day", fill=True,
        start_time="2026-03-02T12:00:00Z", end_time="2026-03-04T06:00:00Z",
    )
    assert [(r[0], r[1], r[4]) for r in rows(answer)] == [
        ("2026-03-02T12:00:00Z", "2026-03-03T00:00:00Z", 1.0),
        ("2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z", 0.0),
        ("2026-03-04T00:00:00Z", "2026-03-04T06:00:00Z", 0.0),
    ]


def grouped_meter(client: Client, new_meter: Callable[[str], str], aggregation: str = "sum") -> str:
    meter = new_meter(aggregation)
    record(
        client, meter,
        {"idempotency_key": "1", "subject": "s1", "timestamp": "2026-03-02T01:00:00Z", "quantity": 1,
         "metadata": {"region": "eu", "cached": True, "tokens.in": 1}},
        {"idempotency_key": "2", "subject": "s1", "timestamp": "2026-03-02T02:00:00Z", "quantity": 2,
         "metadata": {"region": "eu", "cached": False, "tokens.in": 1.5}},
        {"idempotency_key": "3", "subject": "s2", "timestamp": "2026-03-02T03:00:00Z", "quantity": 4,
         "metadata": {"region": "us", "cached": True}},
        {"idempotency_key": "4", "subject": "s2", "timestamp": "2026-03-02T04:00:00Z", "quantity": 8,
         "metadata": {"region": "eu", "tokens.in": 1.0}},
    )
    return meter


def test_group_by_subject_and_typed_dimensions(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = grouped_meter(client, new_meter)
    by_subject_cached = query(client, meter, group_by=["subject", "cached"], **RANGE)
    assert [(r[2], r[3], r[4]) for r in rows(by_subject_cached)] == [
        ("s1", {"cached": False}, 2),
        ("s1", {"cached": True}, 1),
        ("s2", {"cached": None}, 8),
        ("s2", {"cached": True}, 4),
    ]
    breakdown = query(client, meter, group_by=["region", "tokens.in"], **RANGE)
    assert [(r[3], r[4], r[5]) for r in rows(breakdown)] == [
        ({"region": "eu", "tokens.in": 1}, 9, 2),
        ({"region": "eu", "tokens.in": 1.5}, 2, 1),
        ({"region": "us", "tokens.in": None}, 4, 1),
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"filters": [{"dimension": "cached", "values": [True]}]}, 5),
        ({"filters": [{"dimension": "cached", "values": [False, None]}]}, 10),
        ({"filters": [{"dimension": "tokens.in", "values": [1]}]}, 9),
        ({"filters": [{"dimension": "tokens.in", "values": [1.5, 2]}]}, 2),
        # Text, as HTTP query parameters send it, is read as the declared type.
        ({"filters": [{"dimension": "cached", "values": ["true"]}]}, 5),
        ({"filters": [{"dimension": "tokens.in", "values": ["1.0"]}]}, 9),
        ({"filters": [{"dimension": "tokens.in", "values": ["1.5", "2"]}]}, 2),
        ({"filters": [{"dimension": "region", "values": ["us"]}]}, 4),
        ({"filters": [{"dimension": "region", "values": ["eu"]}, {"dimension": "cached", "values": [True]}]}, 1),
        ({"filters": [{"dimension": "subject", "values": ["s1"]}]}, 3),
        ({"subjects": ["s2"]}, 12),
        ({"subjects": ["s1", "s2"], "filters": [{"dimension": "region", "values": ["nowhere"]}]}, None),
    ],
)
def test_filters_are_typed_as_declared(
    client: Client, new_meter: Callable[[str], str], fields: dict[str, Any], expected: float | None
) -> None:
    meter = grouped_meter(client, new_meter)
    answer = query(client, meter, **RANGE, **fields)
    assert values(answer) == ([] if expected is None else [expected])


def test_fill_adds_empty_windows_per_group(client: Client, new_meter: Callable[[str], str]) -> None:
    hours = {"start_time": "2026-03-02T01:00:00Z", "end_time": "2026-03-02T05:00:00Z", "window_size": "hour"}
    summed = grouped_meter(client, new_meter, "sum")
    assert values(query(client, summed, **hours)) == [1, 2, 4, 8]
    assert values(query(client, summed, fill=True, group_by=["subject"], **hours)) == [1, 0, 2, 0, 0, 4, 0, 8]
    averaged = grouped_meter(client, new_meter, "avg")
    filled = query(client, averaged, fill=True, subjects=["s1"], **hours)
    assert [(r[0], r[4], r[5]) for r in rows(filled)] == [
        ("2026-03-02T01:00:00Z", 1, 1),
        ("2026-03-02T02:00:00Z", 2, 1),
        ("2026-03-02T03:00:00Z", None, 0),
        ("2026-03-02T04:00:00Z", None, 0),
    ]
    nothing = query(client, summed, fill=True, subjects=["nobody"], **hours)
    assert values(nothing) == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("fields", "code", "details"),
    [
        ({"meter": ""}, "INVALID_ARGUMENT", "meter: is required"),
        ({"meter": "no_such_meter"}, "NOT_FOUND", "meter: meter 'no_such_meter' does not exist"),
        ({"start_time": None}, "INVALID_ARGUMENT", "start_time: is required"),
        ({"end_time": None}, "INVALID_ARGUMENT", "end_time: is required"),
        ({"end_time": "2026-03-02T00:00:00Z"}, "INVALID_ARGUMENT", "end_time: must be after start_time"),
        ({"start_time": "0001-01-01T00:00:00Z", "window_size": "month"}, "INVALID_ARGUMENT",
         "start_time: must be between 1900-01-01 and 2299-12-31"),
        ({"end_time": "9999-12-31T00:00:00Z"}, "INVALID_ARGUMENT", "end_time: must be between 1900-01-01"),
        ({"time_zone": "Mars/Olympus_Mons"}, "INVALID_ARGUMENT", "time_zone: unknown time zone 'Mars/Olympus_Mons'"),
        ({"time_zone": "../../etc/passwd"}, "INVALID_ARGUMENT", "time_zone: unknown time zone"),
        ({"group_by": ["foo"]}, "INVALID_ARGUMENT", "group_by: unknown dimension 'foo' of meter '{meter}'"),
        ({"group_by": ["region", "region"]}, "INVALID_ARGUMENT", "group_by: 'region' is named twice"),
        ({"group_by": ["subject", "region", "cached", "tokens.in", "x", "y"]}, "INVALID_ARGUMENT",
         "group_by: at most 5 names, got 6"),
        ({"filters": [{"dimension": "plan", "values": ["pro"]}]}, "INVALID_ARGUMENT",
         "filters[0].dimension: unknown dimension 'plan' of meter '{meter}'"),
        ({"filters": [{"dimension": "region", "values": []}]}, "INVALID_ARGUMENT", "filters[0].values: is required"),
        ({"filters": [{"dimension": "region", "values": ["eu"]}, {"dimension": "cached", "values": [True, "yes"]}]},
         "INVALID_ARGUMENT", "filters[1].values[1]: must be a boolean like dimension 'cached', got a string"),
        ({"filters": [{"dimension": "tokens.in", "values": ["many"]}]}, "INVALID_ARGUMENT",
         "filters[0].values[0]: must be a number"),
        ({"filters": [{"dimension": "region", "values": [{"a": 1}]}]}, "INVALID_ARGUMENT",
         "filters[0].values[0]: must be a string like dimension 'region', got an object"),
        ({"window_size": "minute", "end_time": "2026-03-08T22:41:00Z"}, "INVALID_ARGUMENT",
         "window_size: the range 2026-03-02T00:00:00Z .. 2026-03-08T22:41:00Z holds more than 10,000 minute windows"),
    ],
)
def test_invalid_queries_are_refused_naming_the_field(
    client: Client, new_meter: Callable[[str], str], fields: dict[str, Any], code: str, details: str
) -> None:
    meter = new_meter("sum")
    request = {"meter": meter, **RANGE, **fields}
    request = {k: v for k, v in request.items() if v is not None}
    error = refusal(lambda: client.call(
        client.query.QueryUsage, json_format.ParseDict(request, query_pb2.QueryUsageRequest())
    ))
    assert error.code().name == code
    assert error.details().startswith(details.format(meter=meter)), error.details()


def test_ten_thousand_windows_are_allowed(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("sum")
    answer = query(
        client, meter, window_size="minute", fill=True,
        start_time="2026-03-02T00:00:00Z", end_time="2026-03-08T22:40:00Z",
    )
    assert len(answer.rows) == 10_000


def new_key(client: Client, scope: int) -> str:
    response = client.call(client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=scope, name="q"))
    return str(response.secret)


def test_queries_need_read_or_admin_scope(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("sum")
    record(client, meter, {"idempotency_key": "k", "timestamp": "2026-03-02T10:00:00Z", "quantity": 3})
    calls = {
        "QueryUsage": lambda c: c.call(c.query.QueryUsage, json_format.ParseDict(
            {"meter": meter, **RANGE}, query_pb2.QueryUsageRequest())),
        "ListEvents": lambda c: c.call(c.query.ListEvents, query_pb2.ListEventsRequest(meter=meter)),
    }
    reader = client.with_key(new_key(client, api_key_pb2.READ))
    ingester = client.with_key(new_key(client, api_key_pb2.INGEST))
    for name, call in calls.items():
        assert call(reader) and call(client), name
        denied = refusal(lambda call=call: call(ingester))  # type: ignore[misc]
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f"QueryService/{name} needs read" in denied.details()
        assert refusal(lambda call=call: call(client.with_key(None))).code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[misc]


def list_page(client: Client, meter: str, **fields: Any) -> query_pb2.ListEventsResponse:
    request = json_format.ParseDict({"meter": meter, **fields}, query_pb2.ListEventsRequest())
    return client.call(client.query.ListEvents, request)


def test_list_events_newest_first_with_typed_metadata(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = grouped_meter(client, new_meter)
    page = list_page(client, meter)
    assert [e.idempotency_key for e in page.events] == ["4", "3", "2", "1"]
    assert page.next_page_token == ""
    newest = json_format.MessageToDict(page.events[0], preserving_proto_field_name=True)
    assert newest["metadata"] == {"region": "eu", "tokens.in": 1}
    assert (newest["subject"], newest["meter"], newest["quantity"]) == ("s2", meter, 8)
    assert newest["timestamp"] == "2026-03-02T04:00:00Z"
    assert json_format.MessageToDict(page.events[2].metadata) == {"region": "eu", "cached": False, "tokens.in": 1.5}
    filtered = list_page(client, meter, filters=[{"dimension": "cached", "values": [True]}],
                         start_time="2026-03-02T01:00:00.000001Z")
    assert [e.idempotency_key for e in filtered.events] == ["3"]


def test_list_events_paging_is_stable_while_events_arrive(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("sum")
    # 30 events on 10 timestamps, so pages end inside runs of equal timestamps.
    originals = [
        {"idempotency_key": f"k{i:02d}", "timestamp": f"2026-03-02T10:{i // 3:02d}:00Z", "quantity": i}
        for i in range(30)
    ]
    record(client, meter, *originals)
    expected = sorted(((e["timestamp"], e["idempotency_key"]) for e in originals), reverse=True)
    seen: list[tuple[str, str]] = []
    token = ""
    pages = 0
    while True:
        page = list_page(client, meter, page_size=7, page_token=token)
        seen += [(e.timestamp.ToJsonString(), e.idempotency_key) for e in page.events]
        pages += 1
        # Newer, older and interleaved events arrive between pages.
        record(
            client, meter,
            {"idempotency_key": f"new-{pages}-a", "timestamp": "2026-03-02T11:00:00Z", "quantity": 1},
            {"idempotency_key": f"new-{pages}-b", "timestamp": "2026-03-02T09:00:00Z", "quantity": 1},
            {"idempotency_key": f"k05-{pages}", "timestamp": "2026-03-02T10:01:00Z", "quantity": 1},
        )
        token = page.next_page_token
        if not token:
            break
    assert seen == expected
    assert pages == 5
    assert len(list_page(client, meter, page_size=1000).events) == 30 + 3 * pages


def test_page_token_is_checked(client: Client, new_meter: Callable[[str], str]) -> None:
    meter = new_meter("sum")
    record(client, meter, *({"idempotency_key": str(i), "timestamp": "2026-03-02T10:00:00Z"} for i in range(3)))
    token = list_page(client, meter, page_size=2).next_page_token
    assert token
    other = refusal(lambda: list_page(client, meter, page_size=2, page_token=token, subjects=["x"]))
    assert other.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert other.details().startswith("page_token: belongs to a different listing")
    garbage = refusal(lambda: list_page(client, meter, page_token="not-a-token"))
    assert garbage.details() == "page_token: is not a page token of ListEvents"
    size = refusal(lambda: list_page(client, meter, page_size=1001))
    assert size.details().startswith("page_size: must be between 1 and 1000")


def test_unmerged_copies_of_an_event_count_once(tmp_path: Path) -> None:
    """Two servers racing on one key can both store it; reads must collapse the copies (FINAL)."""
    meter = f"m_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(
            {"name": meter, "aggregation": "sum", "event_retention_days": 3650,
             "dimensions": [{"name": "region", "type": "string"}]}, meter_pb2.Meter()))
        record(client, meter, {"idempotency_key": "once", "timestamp": "2026-03-02T10:00:00Z", "quantity": 5})
        client.close()
    with storage(server) as ch:
        # The copy another server would have written: same event, later ingest time.
        ch.command(
            "INSERT INTO usage_events SELECT meter, subject, timestamp, idempotency_key, quantity, metadata,"
            " now64(6), retention_days, client_time_us FROM usage_events WHERE meter = {m:String}",
            parameters={"m": meter},
        )
        raw = ch.query("SELECT count() FROM usage_events WHERE meter = {m:String}", parameters={"m": meter})
        assert raw.result_rows[0][0] == 2
    with running_server(tmp_path, database=server.database) as server:
        client = Client(server.address)
        answer = query(client, meter, **RANGE, group_by=["region"])
        assert [(r[4], r[5]) for r in rows(answer)] == [(5, 1)]
        assert len(list_page(client, meter).events) == 1
        client.close()


def test_list_events_pages_across_recent_and_old_events(client: Client, new_meter: Callable[[str], str]) -> None:
    """Pages are right whether the newest hour, day, month or the whole range holds them."""
    meter = new_meter("sum")
    now = time.time()
    ages = [60, 600, 2 * 3600, 3 * 3600, 2 * 86400, 40 * 86400, 400 * 86400]
    record(client, meter, *(
        {"idempotency_key": f"age-{age}", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - age))}
        for age in ages
    ))
    for page_size in (1, 2, 3, 7):
        keys, token = [], ""
        while True:
            page = list_page(client, meter, page_size=page_size, page_token=token)
            keys += [e.idempotency_key for e in page.events]
            token = page.next_page_token
            if not token:
                break
        assert keys == [f"age-{age}" for age in ages], page_size


def test_readme_grpcurl_example_answers_as_documented(client: Client, shared_server: ServerProcess) -> None:
    readme = (ROOT / "README.md").read_text()
    example = r"-d '(\{[^']*\})' localhost:50051 openspanner\.v1\.QueryService/QueryUsage\n((?:# .*\n)+)"
    match = re.search(example, readme)
    assert match, "README has a grpcurl QueryUsage example followed by its answer"
    meter = f"ai_tokens_{uuid.uuid4().hex[:8]}"
    definition = json.loads(seed_json("ai_tokens.meter.json")) | {"name": meter, "event_retention_days": 3650}
    client.call(client.meters.CreateMeter, json_format.ParseDict(definition, meter_pb2.Meter()))
    record(client, meter, {
        "idempotency_key": "chatcmpl_abc123_tokens", "subject": "org_123", "quantity": 1842,
        "timestamp": "2026-06-15T10:00:00Z",
        "metadata": {"model": "gpt-4.1", "provider": "openai", "operation": "chat_completion", "cached": False},
    })
    request = match.group(1).replace('"ai_tokens"', f'"{meter}"')
    answer = grpcurl(shared_server.address, "-d", request, "openspanner.v1.QueryService/QueryUsage")
    assert answer.returncode == 0, answer.stderr
    documented = json.loads("".join(line.removeprefix("# ") for line in match.group(2).splitlines()))
    assert json.loads(answer.stdout) == documented
