"""The product's official client (`open-spanner` 0.1.13) over REST, in strict mode, unchanged.

Strict mode (`raise_on_unexpected_status=True`, as the client's README
writes it) turns any status the client does not expect into an exception,
so every call below also checks the status code of the contract. Each
script runs in the client's own virtual environment (tests/product_client.py)
against a real server; what was stored is read back through our QueryService.
"""

from __future__ import annotations

import csv
import io
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openspanner.v1 import query_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess
from tests.product_client import run_product_client
from tests.system.test_product_grpc import _timestamp

SETUP = """
from datetime import UTC, datetime, timedelta

from open_spanner_client import AuthenticatedClient
from open_spanner_client.api.health import health_check, readiness_check
from open_spanner_client.api.meters import create_meter, delete_meter, get_meter, list_meters, update_meter
from open_spanner_client.api.usages import (
    create_usage, create_usage_bulk, export_filtered_usage_buckets, export_usage_buckets,
    list_usage_dimension_values, search_usage_breakdown, search_usage_buckets,
)
from open_spanner_client.models import (
    InternalMeteringAdaptersHttpUsageSearchRequest, MeterCreateRequest, MeterUpdateRequest,
    UsageBreakdownRequest, UsageCreateRequest,
)

client = AuthenticatedClient(base_url=os.environ["BASE_URL"], token=os.environ["API_KEY"],
                             raise_on_unexpected_status=True)
meter = os.environ.get("METER", "")


def answer(response):
    return {"status": response.status_code, "parsed": response.parsed}


def usage(key, quantity, **fields):
    body = {"idempotency_key": key, "subject": fields.pop("subject", "org_123"), "meter": meter,
            "quantity": quantity, "metadata": fields.pop("metadata", {"model": "gpt-4.1", "provider": "openai"})}
    body.update(fields)
    return UsageCreateRequest.from_dict(body)
"""


def run_rest(server: ServerProcess, body: str, **env: str) -> Any:
    return run_product_client(
        SETUP + textwrap.dedent(body), BASE_URL=server.base_url, API_KEY=ADMIN_KEY, **env
    )


def totals(client: Client, meter: str, start: datetime, end: datetime) -> tuple[float, int]:
    rows = client.call(client.query.QueryUsage, query_pb2.QueryUsageRequest(
        meter=meter, start_time=_timestamp(start), end_time=_timestamp(end)
    )).rows
    return sum(row.value for row in rows), sum(row.event_count for row in rows)


@pytest.fixture
def meter_name() -> str:
    return f"ai_tokens_{uuid.uuid4().hex[:8]}"


def test_health_and_meters(shared_server: ServerProcess, meter_name: str) -> None:
    out = run_rest(shared_server, """
        out = {"health": health_check.sync_detailed(client=client).status_code,
               "ready": readiness_check.sync_detailed(client=client).status_code}
        definition = {"name": meter, "description": "AI provider tokens consumed", "unit": "token",
                      "aggregation": "sum", "event_retention_days": 180,
                      "dimensions": [{"name": "model", "type": "string", "required": True},
                                     {"name": "provider", "type": "string"},
                                     {"name": "cached", "type": "boolean", "required": False}]}
        created = create_meter.sync_detailed(client=client, body=MeterCreateRequest.from_dict(definition))
        out["create"] = answer(created)
        out["create_again"] = answer(create_meter.sync_detailed(client=client,
                                                                body=MeterCreateRequest.from_dict(definition)))
        meter_id = created.parsed.id
        empty = create_meter.sync_detailed(client=client, body=MeterCreateRequest.from_dict(
            {"name": meter + "_empty", "aggregation": "count"}))
        out["list"] = answer(list_meters.sync_detailed(client=client, name=meter, limit=10))
        out["page"] = answer(list_meters.sync_detailed(client=client, limit=1))
        out["get"] = answer(get_meter.sync_detailed(meter_id, client=client))
        out["get_missing"] = answer(get_meter.sync_detailed(str(__import__("uuid").uuid4()), client=client))
        out["update"] = answer(update_meter.sync_detailed(
            meter_id, client=client, body=MeterUpdateRequest.from_dict({"description": "tokens"})))
        out["usage"] = answer(create_usage.sync_detailed(client=client, body=usage("k1", 10)))
        out["delete_with_events"] = answer(delete_meter.sync_detailed(meter_id, client=client))
        out["delete_empty"] = answer(delete_meter.sync_detailed(empty.parsed.id, client=client))
        out["delete_missing"] = answer(delete_meter.sync_detailed(empty.parsed.id, client=client))
        emit(out)
    """, METER=meter_name)
    assert (out["health"], out["ready"]) == (204, 204)
    created = out["create"]
    assert created["status"] == 201
    meter = created["parsed"]
    uuid.UUID(meter["id"])
    assert meter["created_at"].endswith("Z")
    assert [(d["name"], d["required"], d["display_name"]) for d in meter["dimensions"]] == [
        ("model", True, "Model"), ("provider", True, "Provider"), ("cached", False, "Cached")
    ]
    assert out["create_again"]["status"] == 409
    assert out["create_again"]["parsed"]["error"]["code"] == "conflict"
    assert out["list"] == {"status": 200, "parsed": {"items": [meter]}}
    assert out["page"]["status"] == 200 and len(out["page"]["parsed"]["items"]) == 1
    assert out["page"]["parsed"]["next_cursor"]
    assert out["get"] == {"status": 200, "parsed": meter}
    assert out["get_missing"]["status"] == 404
    assert out["get_missing"]["parsed"]["error"]["code"] == "not_found"
    assert out["update"]["status"] == 200 and out["update"]["parsed"]["description"] == "tokens"
    assert out["usage"]["status"] == 201
    assert out["delete_with_events"]["status"] == 409
    assert out["delete_with_events"]["parsed"]["error"]["code"] == "conflict"
    assert out["delete_empty"] == {"status": 204, "parsed": None}
    assert out["delete_missing"]["status"] == 404


def test_usages_bulk_search_breakdown_export_and_dimensions(
    shared_server: ServerProcess, client: Client, meter_name: str
) -> None:
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    out = run_rest(shared_server, """
        day = datetime.fromisoformat(os.environ["DAY"])
        create_meter.sync_detailed(client=client, body=MeterCreateRequest.from_dict({
            "name": meter, "aggregation": "sum", "unit": "token",
            "dimensions": [{"name": "model", "type": "string"}, {"name": "provider", "type": "string"},
                           {"name": "cached", "type": "boolean", "required": False}]}))
        at = lambda hours: (day + timedelta(hours=hours)).isoformat()
        out = {}
        out["first"] = answer(create_usage.sync_detailed(client=client, body=usage("k1", 100, timestamp=at(1))))
        # The client's README stamps every request anew: a retry carries another timestamp.
        out["replay"] = answer(create_usage.sync_detailed(client=client, body=usage("k1", 100, timestamp=at(2))))
        out["missing_dimension"] = answer(create_usage.sync_detailed(
            client=client, body=usage("k2", 1, metadata={"model": "gpt-4.1"})))
        out["unknown_meter"] = answer(create_usage.sync_detailed(client=client, body=usage("k3", 1, meter="nope")))
        batch = [
            usage("b1", 20, timestamp=at(3), metadata={"model": "claude", "provider": "anthropic", "cached": True}),
            usage("b2", 30, timestamp=at(26), subject="org_456"),
            usage("k1", 999, timestamp=at(4)),
            usage("b3", 5, timestamp=at(5), meter="nope"),
        ]
        out["bulk"] = answer(create_usage_bulk.sync_detailed(
            client=client, body=batch, idempotency_key=os.environ["BATCH"]))
        out["bulk_again"] = answer(create_usage_bulk.sync_detailed(
            client=client, body=batch, idempotency_key=os.environ["BATCH"]))
        search = {"meter": meter, "from": day.isoformat(), "to": (day + timedelta(days=2)).isoformat(),
                  "bucket_size": "day", "group_by": ["model"]}
        out["search"] = answer(search_usage_buckets.sync_detailed(
            client=client, body=InternalMeteringAdaptersHttpUsageSearchRequest.from_dict(search)))
        tree = {"type": "group", "op": "or", "rules": [
            {"type": "condition", "field": "metadata.provider", "op": "eq", "value": "anthropic"},
            {"type": "condition", "field": "subject", "op": "in", "value": ["org_456"]}]}
        filtered = InternalMeteringAdaptersHttpUsageSearchRequest.from_dict({**search, "filter": tree})
        out["filtered"] = answer(search_usage_buckets.sync_detailed(client=client, body=filtered))
        out["export_post"] = answer(export_filtered_usage_buckets.sync_detailed(client=client, body=filtered))
        out["export_get"] = answer(export_usage_buckets.sync_detailed(
            client=client, meter=meter, from_=search["from"], to=search["to"], bucket_size="day",
            group_by=["model"]))
        breakdown = UsageBreakdownRequest.from_dict(
            {"meter": meter, "field": "metadata.model", "from": search["from"], "to": search["to"]})
        out["breakdown"] = answer(search_usage_breakdown.sync_detailed(client=client, body=breakdown))
        out["dimensions"] = answer(list_usage_dimension_values.sync_detailed(
            client=client, meter=meter, field="provider"))
        out["bad_search"] = answer(search_usage_buckets.sync_detailed(
            client=client, body=InternalMeteringAdaptersHttpUsageSearchRequest.from_dict({**search, "to": "soon"})))
        emit(out)
    """, METER=meter_name, DAY=day.isoformat(), BATCH=f"batch-{uuid.uuid4().hex}")

    first, replay = out["first"], out["replay"]
    assert first["status"] == replay["status"] == 201
    extensions = ("outcome", "conflicting_fields")
    assert (first["parsed"]["outcome"], replay["parsed"]["outcome"]) == ("accepted", "duplicate")
    assert replay["parsed"]["conflicting_fields"] == ["timestamp"]
    assert _without(replay["parsed"], extensions) == _without(first["parsed"], extensions), (
        "a reused key replays the stored event"
    )
    assert (first["parsed"]["quantity"], first["parsed"]["metadata"]) == (
        100, {"model": "gpt-4.1", "provider": "openai"}
    )
    assert out["missing_dimension"]["status"] == 400
    assert out["missing_dimension"]["parsed"]["error"] == {
        "code": "invalid_input", "field": "metadata.provider",
        "message": f"invalid input: metadata.provider: is required by meter '{meter_name}'",
    }
    assert out["unknown_meter"]["status"] == 404
    assert out["unknown_meter"]["parsed"]["error"]["code"] == "not_found"

    bulk = out["bulk"]
    assert bulk["status"] == 201
    result = bulk["parsed"]
    assert (result["accepted"], result["duplicates"], result["failed"]) == (2, 1, 1)
    assert [e["idempotency_key"] for e in result["accepted_items"]] == ["b1", "b2"]
    assert result["duplicate_items"] == [_without(first["parsed"], extensions)]
    assert result["failed_items"] == [{
        "index": 3, "code": "not_found", "field": "meter", "message": "not found: meter: meter 'nope' does not exist"
    }]
    assert out["bulk_again"] == bulk

    assert out["search"]["status"] == 200
    buckets = [(b["bucket_start"], b["group"], b["quantity"]) for b in out["search"]["parsed"]]
    first_day = day.strftime("%Y-%m-%dT00:00:00Z")
    second_day = (day + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    assert buckets == [
        (first_day, {"model": "claude"}, 20), (first_day, {"model": "gpt-4.1"}, 100),
        (second_day, {"model": "gpt-4.1"}, 30),
    ]
    assert {(b["meter"], b["bucket_size"], b["aggregation"], b["unit"]) for b in out["search"]["parsed"]} == {
        (meter_name, "day", "sum", "token")
    }
    filtered = out["filtered"]["parsed"]
    assert [(b["group"]["model"], b["quantity"]) for b in filtered] == [("claude", 20), ("gpt-4.1", 30)]

    # The CSV holds exactly the buckets the search it mirrors answers.
    for export, mirrored in ((out["export_post"], filtered), (out["export_get"], out["search"]["parsed"])):
        assert export["status"] == 200
        rows = list(csv.DictReader(io.StringIO(export["parsed"])))
        assert [(r["bucket_start"], r["model"], float(r["quantity"])) for r in rows] == [
            (b["bucket_start"], b["group"]["model"], b["quantity"]) for b in mirrored
        ]
        assert list(rows[0]) == ["bucket_start", "subject", "meter", "bucket_size", "aggregation", "unit",
                                 "quantity", "model"]

    assert out["breakdown"]["status"] == 200
    assert [(i["value"], i["quantity"], i["events"]) for i in out["breakdown"]["parsed"]["items"]] == [
        ("gpt-4.1", 130, 2), ("claude", 20, 1)
    ]
    assert out["dimensions"]["status"] == 200
    assert [(i["value"], i["events"]) for i in out["dimensions"]["parsed"]["items"]] == [
        ("openai", 2), ("anthropic", 1)
    ]
    assert out["bad_search"]["status"] == 400
    assert out["bad_search"]["parsed"]["error"]["code"] == "invalid_to"

    assert totals(client, meter_name, day, day + timedelta(days=2)) == (150.0, 3)


def _without(answer: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in keys}
