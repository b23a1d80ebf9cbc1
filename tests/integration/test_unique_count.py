"""unique_count end to end: the seeds' active users, counted exactly over REST, gRPC, the client, the CLI and CSV.

One month of activity in a 45-minute-offset zone (Asia/Kathmandu), written
so that every answer can be counted by hand: three distinct users in the
month, while its days' counts add up to six user-days.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import json_format

from openspanner.client import Client as ApiClient
from openspanner.v1 import meter_pb2, query_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess
from tests.integration.test_http import error_of
from tests.support.http_calls import http, request

ZONE = "Asia/Kathmandu"
# (user, subject, plan, local day of the month, hour). Distinct users: ana, bo, cy (3).
# Per day: 1 {ana}, 2 {ana, bo}, 3 {ana, cy}, 10 {bo}: 6 user-days.
ACTIVITY = [
    ("ana", "org_1", "pro", 1, 9),
    ("ana", "org_1", "pro", 2, 9),
    ("bo", "org_1", "free", 2, 23),
    ("bo", "org_1", "free", 10, 0),
    ("ana", "org_2", "pro", 3, 12),
    ("cy", "org_2", "free", 3, 8),
    ("cy", "org_2", "free", 3, 17),
]
MONTH_START = (datetime.now(ZoneInfo(ZONE)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
               - timedelta(days=40)).replace(day=1)
MONTH_END = (MONTH_START + timedelta(days=32)).replace(day=1)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


FROM, TO = rfc3339(MONTH_START), rfc3339(MONTH_END)


def active_users_definition(name: str) -> dict[str, Any]:
    """The seeds' active-users meter, counting distinct users instead of summing user-days."""
    return {
        "name": name, "description": "Meaningful user activity", "unit": "user", "aggregation": "unique_count",
        "unique_dimension": "user", "event_retention_days": 3650,
        "dimensions": [{"name": "user", "type": "string"}, {"name": "plan", "type": "string"},
                       {"name": "workspace", "type": "string", "required": False}],
    }


@pytest.fixture(scope="module")
def meter(shared_server: ServerProcess) -> Iterator[str]:
    name = f"active_users_{uuid.uuid4().hex[:8]}"
    code, created = http(shared_server, "POST", "/v1/meters", active_users_definition(name))
    assert code == 201, created
    assert (created["aggregation"], created["unique_dimension"]) == ("unique_count", "user")
    events = [
        {"idempotency_key": f"active_{user}_{subject}_{day}_{hour}", "subject": subject, "meter": name,
         "quantity": 1, "timestamp": rfc3339(MONTH_START + timedelta(days=day - 1, hours=hour)),
         "metadata": {"user": user, "plan": plan}}
        for user, subject, plan, day, hour in ACTIVITY
    ]
    code, answer = http(shared_server, "POST", "/v1/usages/bulk", events)
    assert (code, answer["accepted"]) == (201, len(ACTIVITY)), answer
    yield name


def search(server: ServerProcess, meter: str, **fields: Any) -> list[dict[str, Any]]:
    code, buckets = http(server, "POST", "/v1/usages/search",
                         {"meter": meter, "from": FROM, "to": TO, "time_zone": ZONE, **fields})
    assert code == 200, buckets
    return list(buckets)


def test_the_meter_resource_carries_its_counted_dimension(shared_server: ServerProcess, meter: str) -> None:
    code, got = http(shared_server, "GET", f"/v1/meters/{meter}")
    assert (code, got["unique_dimension"]) == (200, "user")
    code, patched = http(shared_server, "PATCH", f"/v1/meters/{meter}", {"description": "people"})
    assert (code, patched["unique_dimension"], patched["description"]) == (200, "user", "people")
    assert error_of(http(shared_server, "PATCH", f"/v1/meters/{meter}", {"unique_dimension": "plan"})) == (
        409, "conflict", "unique_dimension"
    )
    # A meter of the product's shape never shows the field.
    plain = f"plain_{uuid.uuid4().hex[:8]}"
    code, created = http(shared_server, "POST", "/v1/meters", {"name": plain, "aggregation": "sum"})
    assert code == 201 and "unique_dimension" not in created
    code, listed = http(shared_server, "GET", f"/v1/meters?name={plain}")
    assert code == 200 and "unique_dimension" not in listed["items"][0]
    code, fetched = http(shared_server, "GET", f"/v1/meters/{plain}")
    assert code == 200 and "unique_dimension" not in fetched


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unique_dimension": ""}, "is required for aggregation unique_count"),
        ({"unique_dimension": "role"}, "'role' is not a declared dimension"),
        ({"aggregation": "sum"}, "is only for aggregation unique_count"),
    ],
)
def test_a_bad_counted_dimension_is_refused_by_its_field(
    shared_server: ServerProcess, client: Client, changes: dict[str, Any], message: str
) -> None:
    definition = {**active_users_definition(f"bad_{uuid.uuid4().hex[:8]}"), **changes}
    code, body = http(shared_server, "POST", "/v1/meters", definition)
    assert error_of((code, body)) == (400, "invalid_input", "unique_dimension")
    assert message in body["error"]["message"]
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.meters.CreateMeter, json_format.ParseDict(definition, meter_pb2.Meter()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("unique_dimension: ")


def test_grpc_updates_keep_the_counted_dimension_and_refuse_changing_it(client: Client, meter: str) -> None:
    current = client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=meter))
    # An empty mask replaces every field; an unset unique_dimension there is kept, as an unset aggregation is.
    replacement = meter_pb2.Meter()
    replacement.CopyFrom(current)
    replacement.ClearField("unique_dimension")
    replacement.aggregation = meter_pb2.AGGREGATION_UNSPECIFIED
    replacement.description = "distinct people"
    updated = client.call(client.meters.UpdateMeter, meter_pb2.UpdateMeterRequest(meter=replacement))
    assert (updated.aggregation, updated.unique_dimension, updated.description) == (
        meter_pb2.unique_count, "user", "distinct people"
    )
    moved = meter_pb2.Meter(name=meter, unique_dimension="plan")
    with pytest.raises(grpc.RpcError) as caught:
        client.call(client.meters.UpdateMeter, meter_pb2.UpdateMeterRequest(
            meter=moved, update_mask={"paths": ["unique_dimension"]}
        ))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details().startswith("unique_dimension: cannot change from 'user' to 'plan'")


def test_an_event_without_the_required_user_is_refused(shared_server: ServerProcess, meter: str) -> None:
    code, body = http(shared_server, "POST", "/v1/usages", {
        "idempotency_key": uuid.uuid4().hex, "subject": "org_1", "meter": meter, "quantity": 1,
        "metadata": {"plan": "pro"},
    })
    assert error_of((code, body)) == (400, "invalid_input", "metadata.user")


def test_a_month_counts_its_distinct_users_over_rest(shared_server: ServerProcess, meter: str) -> None:
    [month] = search(shared_server, meter, bucket_size="month")
    assert (month["quantity"], month["events"], month["aggregation"], month["unit"]) == (3, 7, "unique_count", "user")
    assert month["bucket_start"] == FROM
    days = search(shared_server, meter, bucket_size="day")
    assert [d["quantity"] for d in days] == [1, 2, 2, 1]
    assert sum(d["quantity"] for d in days) == 6, "user-days: what a sum of daily counts would wrongly report"
    per_subject = search(shared_server, meter, bucket_size="month", group_by=["subject"])
    assert sorted((b["subject"], b["quantity"]) for b in per_subject) == [("org_1", 2), ("org_2", 2)]
    per_plan = search(shared_server, meter, bucket_size="month", group_by=["plan"])
    assert sorted((b["group"]["plan"], b["quantity"]) for b in per_plan) == [("free", 2), ("pro", 1)]
    code, usage = http(shared_server, "GET", f"/v1/meters/{meter}/usage?start_time={FROM}&end_time={TO}")
    assert code == 200 and [r["value"] for r in usage["rows"]] == [3]


def test_breakdowns_and_csv_export(shared_server: ServerProcess, meter: str) -> None:
    code, body = http(shared_server, "POST", "/v1/usages/breakdowns/search",
                      {"meter": meter, "field": "plan", "from": FROM, "to": TO})
    assert code == 200
    assert [(i["value"], i["quantity"], i["events"]) for i in body["items"]] == [("free", 2, 4), ("pro", 1, 3)]
    code, body = http(shared_server, "POST", "/v1/usages/breakdowns/search",
                      {"meter": meter, "field": "subject", "from": FROM, "to": TO})
    assert [(i["value"], i["quantity"]) for i in body["items"]] == [("org_1", 2), ("org_2", 2)]
    code, headers, content = request(
        shared_server, "GET",
        f"/v1/usages/export?meter={meter}&from={FROM}&to={TO}&bucket_size=month&time_zone={ZONE}&group_by=subject",
    )
    assert code == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert sorted((r["subject"], r["aggregation"], r["unit"], r["quantity"]) for r in rows) == [
        ("org_1", "unique_count", "user", "2"), ("org_2", "unique_count", "user", "2")
    ]


def test_grpc_the_client_and_the_cli_answer_the_same(
    shared_server: ServerProcess, client: Client, meter: str
) -> None:
    grpc_answer = client.call(client.query.QueryUsage, json_format.ParseDict(
        {"meter": meter, "start_time": FROM, "end_time": TO, "window_size": "month", "time_zone": ZONE},
        query_pb2.QueryUsageRequest(),
    ))
    assert grpc_answer.aggregation == "unique_count"
    assert [(r.value, r.event_count) for r in grpc_answer.rows] == [(3, 7)]
    with ApiClient(shared_server.address, ADMIN_KEY) as api:
        got = api.get_meter(meter)
        assert (got["aggregation"], got["unique_dimension"]) == ("unique_count", "user")
        answer = api.query_usage(meter, MONTH_START, MONTH_END, window_size="day", time_zone=ZONE)
        assert [r["value"] for r in answer["rows"]] == [1, 2, 2, 1]
    env = {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": shared_server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}
    printed = cli(env, "usage", meter, "--from", FROM, "--to", TO, "--window", "month", "--time-zone", ZONE,
                  "--group-by", "subject", "--format", "json")
    assert sorted((r["subject"], r["value"]) for r in json.loads(printed)["rows"]) == [("org_1", 2), ("org_2", 2)]
    listed = cli(env, "meters", "list")
    assert any(line.split()[:2] == [meter, "unique_count(user)"] for line in listed.splitlines()), listed


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "openspanner", *args], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout
