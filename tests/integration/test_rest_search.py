"""POST /v1/usages/search and friends over HTTP on a real server: every filter operator,
the extensions (time zones, minute buckets, typed group values), limits and errors.

Quantities are distinct powers of two, so the total a filter answers tells
exactly which events it kept; each expectation is the same predicate written
in Python over the events sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness import ServerProcess
from tests.integration.test_http import error_of
from tests.support.http_calls import http, request

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
EVENTS: list[dict[str, Any]] = [
    {"subject": "org_a", "hour": 1, "metadata": {"model": "gpt-4.1", "tokens": 9, "cached": True}},
    {"subject": "org_a", "hour": 2, "metadata": {"model": "gpt-4.1-mini", "tokens": 10, "cached": False}},
    {"subject": "org_b", "hour": 3, "metadata": {"model": "claude", "tokens": 100}},
    {"subject": "org_b", "hour": 4, "metadata": {"model": "claude, opus", "tokens": -1, "cached": True}},
    {"subject": "org_c", "hour": 5, "metadata": {"model": "Gemini"}},
    {"subject": "org:d", "hour": 30, "metadata": {"model": "gpt-4.1", "tokens": 10.5, "cached": False}},
]
for index, sent in enumerate(EVENTS):
    sent.update(idempotency_key=f"key-{index}", quantity=float(2**index))


@pytest.fixture(scope="module")
def meter(shared_server: ServerProcess) -> Iterator[str]:
    name = f"search_{uuid.uuid4().hex[:8]}"
    code, _ = http(shared_server, "POST", "/v1/meters", {
        "name": name, "aggregation": "sum", "unit": "token", "event_retention_days": 30,
        "dimensions": [{"name": "model", "type": "string"},
                       {"name": "tokens", "type": "number", "required": False},
                       {"name": "cached", "type": "boolean", "required": False}],
    })
    assert code == 201
    body = [
        {"idempotency_key": e["idempotency_key"], "subject": e["subject"], "meter": name, "quantity": e["quantity"],
         "timestamp": at(e["hour"]), "metadata": e["metadata"]}
        for e in EVENTS
    ]
    code, answer = http(shared_server, "POST", "/v1/usages/bulk", body)
    assert (code, answer["accepted"]) == (201, len(EVENTS)), answer
    yield name


def at(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def search(server: ServerProcess, meter: str, **fields: Any) -> tuple[int, Any]:
    body = {"meter": meter, "from": at(0), "to": at(48), "bucket_size": "month", **fields}
    return http(server, "POST", "/v1/usages/search", body)


def total(server: ServerProcess, meter: str, tree: dict[str, Any]) -> float:
    code, buckets = search(server, meter, filter=tree)
    assert code == 200, buckets
    return sum(b["quantity"] for b in buckets)


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    node = {"type": "condition", "field": field, "op": op}
    if op != "exists":
        node["value"] = value
    return node


def meta(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda e: e["metadata"].get(name)


CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    (cond("metadata.model", "eq", "gpt-4.1"), lambda e: meta("model")(e) == "gpt-4.1"),
    # A condition on a dimension never matches an event without it, neq included (as in the product).
    (cond("metadata.tokens", "neq", 10), lambda e: meta("tokens")(e) is not None and meta("tokens")(e) != 10),
    (cond("metadata.tokens", "gt", 9.5), lambda e: (meta("tokens")(e) or -99) > 9.5),
    (cond("metadata.tokens", "gte", 10), lambda e: (meta("tokens")(e) or -99) >= 10),
    (cond("metadata.tokens", "lt", 10), lambda e: meta("tokens")(e) is not None and meta("tokens")(e) < 10),
    (cond("metadata.tokens", "lte", 10.5), lambda e: meta("tokens")(e) is not None and meta("tokens")(e) <= 10.5),
    (cond("metadata.model", "lt", "claudf"), lambda e: meta("model")(e) < "claudf"),
    (cond("metadata.model", "in", ["claude", "Gemini"]), lambda e: meta("model")(e) in ("claude", "Gemini")),
    (cond("metadata.model", "contains", "gpt"), lambda e: "gpt" in meta("model")(e)),
    (cond("metadata.model", "contains", ", "), lambda e: ", " in meta("model")(e)),
    (cond("metadata.cached", "exists"), lambda e: meta("cached")(e) is not None),
    (cond("metadata.cached", "eq", False), lambda e: meta("cached")(e) is False),
    (cond("subject", "eq", "org:d"), lambda e: e["subject"] == "org:d"),
    (cond("subject", "in", ["org_a", "org_c"]), lambda e: e["subject"] in ("org_a", "org_c")),
    (cond("quantity", "gte", 8), lambda e: e["quantity"] >= 8),
    (cond("idempotency_key", "eq", "key-2"), lambda e: e["idempotency_key"] == "key-2"),
    (cond("timestamp", "lt", at(3)), lambda e: e["hour"] < 3),
    (cond("event_time", "gte", at(4)), lambda e: e["hour"] >= 4),
    (cond("received_at", "gt", at(0)), lambda e: True),
    (cond("meter", "neq", "other"), lambda e: True),
    (
        {"type": "group", "op": "or", "rules": [
            cond("subject", "eq", "org_c"),
            {"type": "group", "op": "and", "rules": [
                cond("metadata.cached", "eq", True), cond("metadata.tokens", "lt", 0)]},
        ]},
        lambda e: e["subject"] == "org_c" or (meta("cached")(e) is True and (meta("tokens")(e) or 0) < 0),
    ),
    # `type` may be left out: rules make a group, a field a condition.
    ({"op": "and", "rules": [{"field": "metadata.model", "op": "eq", "value": "claude"}]},
     lambda e: meta("model")(e) == "claude"),
]


@pytest.mark.parametrize(("tree", "keep"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_filter_operator_keeps_what_it_says(
    shared_server: ServerProcess, meter: str, tree: dict[str, Any], keep: Callable[[dict[str, Any]], bool]
) -> None:
    expected = sum(e["quantity"] for e in EVENTS if keep(e))
    assert total(shared_server, meter, tree) == expected


def test_buckets_groups_time_zone_and_minute_windows(shared_server: ServerProcess, meter: str) -> None:
    code, by_day = search(shared_server, meter, bucket_size="day", group_by=["subject", "cached"])
    assert code == 200
    assert [(b["bucket_start"], b["subject"], b["group"], b["group_values"]["cached"], b["quantity"])
            for b in by_day] == [
        (at(0), "org_a", {"subject": "org_a", "cached": "false"}, False, 2.0),
        (at(0), "org_a", {"subject": "org_a", "cached": "true"}, True, 1.0),
        (at(0), "org_b", {"subject": "org_b", "cached": ""}, None, 4.0),
        (at(0), "org_b", {"subject": "org_b", "cached": "true"}, True, 8.0),
        (at(0), "org_c", {"subject": "org_c", "cached": ""}, None, 16.0),
        (at(24), "org:d", {"subject": "org:d", "cached": "false"}, False, 32.0),
    ]
    # In Tokyo (UTC+9) the 30th hour after midnight UTC is on the second local day too, the others on the first.
    code, tokyo = search(shared_server, meter, bucket_size="day", time_zone="Asia/Tokyo")
    assert code == 200
    assert [(b["bucket_start"], b["quantity"], b["events"]) for b in tokyo] == [
        (at(-9), 31.0, 5), (at(15), 32.0, 1)
    ]
    code, minutes = search(shared_server, meter, bucket_size="minute", to=at(6))
    assert code == 200 and [b["bucket_start"] for b in minutes] == [at(h) for h in (1, 2, 3, 4, 5)]
    code, limited = search(shared_server, meter, bucket_size="hour", limit=2)
    assert code == 200 and [b["quantity"] for b in limited] == [1.0, 2.0]
    code, clamped = search(shared_server, meter, bucket_size="hour", limit=100_000)
    assert code == 200 and len(clamped) == len(EVENTS)


def test_breakdowns_dimension_values_and_get_export(shared_server: ServerProcess, meter: str) -> None:
    code, body = http(shared_server, "POST", "/v1/usages/breakdowns/search", {
        "meter": meter, "field": "model", "from": at(0), "to": at(48), "limit": 2,
        "filter": cond("subject", "neq", "org_c"),
    })
    assert code == 200
    assert [(i["value"], i["quantity"], i["events"]) for i in body["items"]] == [
        ("gpt-4.1", 33.0, 2), ("claude, opus", 8.0, 1)
    ]
    code, body = http(
        shared_server, "GET", f"/v1/usages/dimensions?meter={meter}&field=metadata.tokens&subject=org_a"
    )
    assert code == 200
    assert [(i["value"], i["typed_value"], i["events"]) for i in body["items"]] == [("9", 9.0, 1), ("10", 10.0, 1)]
    code, headers, content = request(
        shared_server, "GET", f"/v1/usages/export?meter={meter}&from={at(0)}&to={at(48)}&group_by=subject,model"
    )
    assert code == 200 and headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == 'attachment; filename="usage-buckets.csv"'
    lines = content.decode().splitlines()
    assert lines[0] == "bucket_start,subject,meter,bucket_size,aggregation,unit,quantity,model"
    assert f'{at(0)},org_b,{meter},day,sum,token,8,"claude, opus"' in lines
    assert len(lines) == 1 + len(EVENTS)


def test_search_errors_name_the_field(shared_server: ServerProcess, meter: str) -> None:
    def refused(**fields: Any) -> tuple[int, str, str | None]:
        return error_of(search(shared_server, meter, **fields))

    assert refused(to="tomorrow") == (400, "invalid_to", "to")
    assert refused(**{"from": at(5), "to": at(1)}) == (400, "invalid_to", "to")
    assert refused(bucket_size="hour", to=at(24 * 40)) == (400, "invalid_to", "to")
    assert refused(bucket_size="week") == (400, "invalid_input", "bucket_size")
    assert refused(group_by=["colour"]) == (400, "invalid_input", "group_by")
    assert refused(limit=-1) == (400, "invalid_limit", "limit")
    assert refused(filter=cond("metadata.colour", "eq", "red")) == (400, "invalid_input", "filter.field")
    assert refused(filter={"op": "and", "rules": [cond("metadata.tokens", "gt", "ten")]}) == (
        400, "invalid_input", "filter.rules[0].value"
    )
    assert refused(filter={"op": "xor", "rules": [cond("subject", "eq", "a")]}) == (400, "invalid_input", "filter.op")
    assert refused(filter=cond("metadata.model", "in", [])) == (400, "invalid_input", "filter.value")
    assert refused(filter={"op": "and", "rules": [], "colour": 1}) == (400, "invalid_input", "filter.colour")
    unknown = {"meter": "nope", "from": at(0), "to": at(1)}
    assert error_of(http(shared_server, "POST", "/v1/usages/search", unknown)) == (404, "not_found", "meter")
    assert error_of(http(shared_server, "GET", f"/v1/usages/dimensions?meter={meter}&field=colour")) == (
        400, "invalid_input", "field"
    )
