"""The REST API's filter tree: parsing against a meter, and what storage finds with it.

Storage is the real embedded engine holding a fixed set of events
(tests/stored_events.py). Every answer is compared with an explicit list of
events and with `reference`, a plain-Python reading of the raw JSON tree
written independently of openspanner.domain.filters (it parses times with
datetime.fromisoformat and compares typed metadata values directly);
hypothesis then draws random trees over the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.domain.filters import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_IN_VALUES,
    Condition,
    ConditionOp,
    FilterField,
    Group,
    GroupOp,
    ValueKind,
    parse_filter,
)
from openspanner.domain.meters import Aggregation
from openspanner.domain.queries import (
    Cursor,
    RawFilter,
    next_page_token,
    plan_event_listing,
    plan_usage_query,
    usage_rows,
)
from openspanner.domain.times import format_rfc3339, parse_rfc3339_us
from openspanner.domain.windows import WindowSize
from openspanner.errors import InvalidArgument
from openspanner.storage.queries import QueryStore, events_sql, usage_sql
from tests.stored_events import BASE_US, END_US, HOUR_US, SAMPLES, START_US, US, Sample, meter, stored

METER = meter("ai_tokens")
ALL_KEYS = frozenset(s.key for s in SAMPLES)


def at(hours: float) -> str:
    """RFC 3339 text of BASE_US + hours."""
    return format_rfc3339(BASE_US + round(hours * HOUR_US))


def condition(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "condition", "field": field, "op": op, **extra}
    if value is not None:
        raw["value"] = value
    return raw


def refused(raw: Any, **kwargs: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        parse_filter(raw, METER, **kwargs)
    return caught.value


# ---- parsing -----------------------------------------------------------------


def test_the_contract_example_parses_into_typed_nodes() -> None:
    tree = parse_filter(
        {"type": "group", "op": "and", "rules": [
            {"type": "condition", "field": "metadata.region", "op": "eq", "value": "eu"},
            {"type": "condition", "field": "metadata.model", "op": "in", "value": ["gpt-4.1", "claude"]},
            {"type": "condition", "field": "metadata.cached", "op": "exists"},
        ]},
        METER,
    )
    assert tree == Group(GroupOp.AND, (
        Condition(FilterField("metadata.region", ValueKind.STRING, "region"), ConditionOp.EQ, ("eu",)),
        Condition(FilterField("metadata.model", ValueKind.STRING, "model"), ConditionOp.IN, ("gpt-4.1", "claude")),
        Condition(FilterField("metadata.cached", ValueKind.BOOLEAN, "cached"), ConditionOp.EXISTS, ()),
    ))


def test_no_filter_is_none_and_type_is_inferred_from_rules_or_field() -> None:
    assert parse_filter(None, METER) is None
    inferred = parse_filter({"op": "or", "rules": [{"field": "subject", "op": "eq", "value": "org_1"}]}, METER)
    assert inferred == Group(GroupOp.OR, (Condition(FilterField("subject", ValueKind.STRING), ConditionOp.EQ,
                                                    ("org_1",)),))
    # Keys sent as null count as absent (a model dumped without exclude_none).
    assert parse_filter({"type": None, "field": "subject", "op": "exists", "value": None, "rules": None}, METER) == (
        Condition(FilterField("subject", ValueKind.STRING), ConditionOp.EXISTS)
    )


@pytest.mark.parametrize(
    ("field", "value", "expected_field", "expected_value"),
    [
        ("subject", "org_1", FilterField("subject", ValueKind.STRING), "org_1"),
        ("meter", "ai_tokens", FilterField("meter", ValueKind.STRING), "ai_tokens"),
        ("idempotency_key", "k1", FilterField("idempotency_key", ValueKind.STRING), "k1"),
        ("quantity", 5, FilterField("quantity", ValueKind.NUMBER), 5.0),
        ("quantity", 0.25, FilterField("quantity", ValueKind.NUMBER), 0.25),
        ("timestamp", "2026-06-19T00:00:00Z", FilterField("timestamp", ValueKind.TIME), 1_781_827_200 * US),
        ("event_time", "2026-06-19T02:00:00+02:00", FilterField("timestamp", ValueKind.TIME), 1_781_827_200 * US),
        ("received_at", "2026-06-19T00:00:00.25Z", FilterField("received_at", ValueKind.TIME),
         1_781_827_200 * US + 250_000),
        ("metadata.model", "gpt-4.1", FilterField("metadata.model", ValueKind.STRING, "model"), "gpt-4.1"),
        ("metadata.tokens", 10, FilterField("metadata.tokens", ValueKind.NUMBER, "tokens"), 10.0),
        ("metadata.tokens.in", 3, FilterField("metadata.tokens.in", ValueKind.NUMBER, "tokens.in"), 3.0),
        ("metadata.cached", False, FilterField("metadata.cached", ValueKind.BOOLEAN, "cached"), False),
        (" subject ", "org_1", FilterField("subject", ValueKind.STRING), "org_1"),
    ],
)
def test_every_field_with_its_value_type(field: str, value: Any, expected_field: FilterField,
                                         expected_value: Any) -> None:
    parsed = parse_filter(condition(field, "eq", value), METER)
    assert parsed == Condition(expected_field, ConditionOp.EQ, (expected_value,))


@pytest.mark.parametrize(
    ("field", "op", "value", "values"),
    [
        ("quantity", "eq", 1, (1.0,)),
        ("quantity", "neq", 1, (1.0,)),
        ("quantity", "gt", 1, (1.0,)),
        ("quantity", "gte", 1, (1.0,)),
        ("quantity", "lt", 1, (1.0,)),
        ("quantity", "lte", 1, (1.0,)),
        ("quantity", "in", [1, 2.5], (1.0, 2.5)),
        ("quantity", "exists", None, ()),
        ("subject", "contains", "org", ("org",)),
        ("metadata.model", "gt", "b", ("b",)),
        ("metadata.cached", "in", [True, False], (True, False)),
        ("metadata.cached", "neq", True, (True,)),
        ("timestamp", "in", ["2026-06-19T00:00:00Z"], (1_781_827_200 * US,)),
        ("timestamp", "lte", "2026-06-19T00:00:00Z", (1_781_827_200 * US,)),
    ],
)
def test_every_operator(field: str, op: str, value: Any, values: tuple[Any, ...]) -> None:
    parsed = parse_filter(condition(field, op, value), METER)
    assert isinstance(parsed, Condition)
    assert (parsed.op, parsed.values) == (ConditionOp(op), values)


NESTED = {"op": "and", "rules": [
    condition("subject", "eq", "a"),
    condition("quantity", "gt", 1),
    {"op": "or", "rules": [condition("metadata.tokens", "gt", "10")]},
]}


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ([], "filter", "must be an object (a group or a condition), got a list"),
        ("subject", "filter", "must be an object"),
        ({}, "filter", "needs rules (a group) or field (a condition)"),
        ({"op": "and", "rule": []}, "filter.rule", "unknown key 'rule'"),
        ({"type": "grp", "op": "and", "rules": []}, "filter.type", "must be group or condition, got the string 'grp'"),
        ({"rules": [], "field": "subject"}, "filter.type", "is required when both rules and field are given"),
        ({"type": "group", "rules": [condition("subject", "exists")]}, "filter.op", "is required: one of and, or"),
        ({"type": "group", "op": "xor", "rules": [condition("subject", "exists")]}, "filter.op",
         "must be one of and, or, got the string 'xor'"),
        ({"type": "group", "op": "AND", "rules": [condition("subject", "exists")]}, "filter.op", "must be one of"),
        ({"op": "and", "rules": []}, "filter.rules", "needs at least one rule"),
        ({"op": "and", "rules": {"a": 1}}, "filter.rules", "must be a list of filters, got an object"),
        ({"type": "group", "op": "and", "rules": [condition("subject", "exists")], "field": "subject"},
         "filter.field", "belongs to conditions, not groups"),
        ({"type": "condition", "field": "subject", "op": "exists", "rules": []}, "filter.rules",
         "belongs to groups, not conditions"),
        ({"op": "and", "rules": [condition("subject", "exists"), "x"]}, "filter.rules[1]", "must be an object"),
        (condition("", "eq", "x"), "filter.field", "is required: one of subject, meter, quantity, timestamp"),
        (condition("foo", "eq", "x"), "filter.field", "unknown field 'foo'"),
        (condition("model", "eq", "x"), "filter.field", "write metadata.model for the dimension"),
        (condition("metadata.nope", "eq", "x"), "filter.field",
         "'nope' is not a dimension of meter 'ai_tokens' (declared: model, cached, tokens, tokens.in, region)"),
        (condition("metadata.", "eq", "x"), "filter.field", "'' is not a dimension"),
        ({"field": "subject", "value": "x"}, "filter.op", "is required: one of eq, neq, gt, gte, lt, lte, in"),
        (condition("subject", "like", "x"), "filter.op", "must be one of eq, neq"),
        (condition("metadata.tokens", "contains", 1), "filter.op",
         "contains does not apply to metadata.tokens (a number); use eq, neq, gt, gte, lt, lte, in, exists"),
        (condition("quantity", "contains", "1"), "filter.op", "contains does not apply to quantity"),
        (condition("timestamp", "contains", "2026"), "filter.op", "contains does not apply to timestamp"),
        (condition("metadata.cached", "gt", True), "filter.op",
         "gt does not apply to metadata.cached (a boolean); use eq, neq, in, exists"),
        (condition("metadata.cached", "contains", "t"), "filter.op", "contains does not apply"),
        (condition("subject", "eq"), "filter.value", "is required for eq"),
        (condition("subject", "exists", "org_1"), "filter.value", "must be left out: exists takes no value"),
        (condition("subject", "in", "org_1"), "filter.value", "must be a non-empty list for in, got the string"),
        (condition("subject", "in", []), "filter.value", "must be a non-empty list for in"),
        (condition("subject", "in", ["a", 1]), "filter.value[1]", "must be a string like subject, got the number 1"),
        (condition("subject", "eq", ["a"]), "filter.value", "must be one value for eq (a list needs op in)"),
        (condition("metadata.model", "eq", 4), "filter.value", "must be a string like metadata.model, got the number"),
        (condition("metadata.model", "eq", {"a": 1}), "filter.value", "got an object"),
        (condition("metadata.tokens", "gt", "10"), "filter.value",
         "must be a number like metadata.tokens, got the string '10'"),
        (condition("metadata.tokens", "eq", True), "filter.value", "must be a number like metadata.tokens, got true"),
        (condition("quantity", "lt", float("inf")), "filter.value", "must be a finite number"),
        (condition("metadata.cached", "eq", "true"), "filter.value", "must be true or false like metadata.cached"),
        (condition("metadata.cached", "in", [True, 1]), "filter.value[1]", "must be true or false"),
        (condition("timestamp", "gt", 1_781_827_200), "filter.value", "must be an RFC 3339 time"),
        (condition("timestamp", "gt", "2026-06-19"), "filter.value", "must be an RFC 3339 time"),
        (condition("timestamp", "gt", "2026-06-19T00:00:00"), "filter.value", "must be an RFC 3339 time"),
        (condition("timestamp", "gt", "2026-02-30T00:00:00Z"), "filter.value", "is not a calendar date and time"),
        (condition("timestamp", "gt", "2026-06-19T00:00:00.0000001Z"), "filter.value", "finer than a microsecond"),
        (condition("received_at", "gt", "1800-01-01T00:00:00Z"), "filter.value", "between 1900-01-01 and 2299-12-31"),
        (NESTED, "filter.rules[2].rules[0].value", "must be a number like metadata.tokens"),
    ],
)
def test_errors_name_the_exact_place(raw: Any, field: str, message: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert message in error.message


def test_the_filter_s_own_name_is_a_parameter() -> None:
    assert refused(NESTED, field="body.filter").field == "body.filter.rules[2].rules[0].value"


def nested(depth: int) -> dict[str, Any]:
    """`depth` levels of groups, the innermost holding one condition."""
    tree: dict[str, Any] = {"op": "and", "rules": [condition("subject", "exists")]}
    for _ in range(depth - 1):
        tree = {"op": "or", "rules": [tree]}
    return tree


def test_depth_is_bounded() -> None:
    # The root is level 1; its condition sits one level deeper than the last group.
    assert parse_filter(nested(MAX_FILTER_DEPTH - 1), METER) is not None
    error = refused(nested(MAX_FILTER_DEPTH))
    assert error.field == "filter" + ".rules[0]" * MAX_FILTER_DEPTH
    assert f"nests deeper than {MAX_FILTER_DEPTH} levels" in error.message


def test_number_of_conditions_and_values_is_bounded() -> None:
    most = {"op": "or", "rules": [condition("quantity", "eq", i) for i in range(MAX_FILTER_CONDITIONS)]}
    assert parse_filter(most, METER) is not None
    most["rules"].append(condition("quantity", "eq", -1))
    error = refused(most)
    assert (error.field, error.message) == ("filter", f"has more than {MAX_FILTER_CONDITIONS:,} conditions")

    many = list(range(MAX_IN_VALUES))
    assert parse_filter(condition("quantity", "in", many), METER) is not None
    assert refused(condition("quantity", "in", [*many, -1])).field == "filter.value"
    in_values = {"op": "or", "rules": [condition("quantity", "in", many) for _ in range(11)]}
    error = refused(in_values)
    assert (error.field, error.message) == ("filter", "has more than 100,000 values in all")


def test_rfc3339_times() -> None:
    midnight = parse_rfc3339_us("2026-06-19T00:00:00Z", field="f")
    assert parse_rfc3339_us("2026-06-19t00:00:00z", field="f") == midnight
    assert parse_rfc3339_us("2026-06-18T19:30:00-04:30", field="f") == midnight
    assert parse_rfc3339_us("2026-06-19T00:00:00.123456000Z", field="f") == midnight + 123_456
    assert parse_rfc3339_us("1969-12-31T23:59:59.5Z", field="f") == -500_000
    assert format_rfc3339(midnight) == "2026-06-19T00:00:00Z"
    assert format_rfc3339(midnight + 120_000) == "2026-06-19T00:00:00.12Z"
    assert format_rfc3339(-500_000) == "1969-12-31T23:59:59.5Z"
    for text in ("2026-06-19T00:00:00+24:00", "2026-06-19 00:00:00Z", "\uff12\uff10\uff12\uff16-06-19T00:00:00Z"):
        with pytest.raises(InvalidArgument):
            parse_rfc3339_us(text, field="f")


# ---- storage -----------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryStore]:
    with stored(tmp_path_factory.mktemp("filters"), [METER, meter("other")]) as s:
        yield s


def reference(raw: Any, sample: Sample) -> bool:
    """Whether the raw JSON tree keeps `sample`: the documented semantics, read directly."""
    if "rules" in raw:
        results = [reference(rule, sample) for rule in raw["rules"]]
        return all(results) if raw["op"] == "and" else any(results)
    field, op, value = raw["field"], raw["op"], raw.get("value")
    if field.startswith("metadata."):
        key = field.removeprefix("metadata.")
        present, actual = key in sample.metadata, sample.metadata.get(key)
    else:
        present = True
        actual = {
            "subject": sample.subject,
            "meter": METER.name,
            "idempotency_key": sample.key,
            "quantity": sample.quantity,
            "timestamp": sample.at_us,
            "event_time": sample.at_us,
            "received_at": sample.received,
        }[field]
    if op == "exists":
        return present
    if not present:
        return False

    def typed(v: Any) -> Any:
        if field in ("timestamp", "event_time", "received_at"):
            moment = datetime.fromisoformat(v)
            return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return v

    if op == "in":
        return any(actual == typed(v) for v in value)
    expected = typed(value)
    return {
        "eq": lambda: actual == expected,
        "neq": lambda: actual != expected,
        "gt": lambda: actual > expected,
        "gte": lambda: actual >= expected,
        "lt": lambda: actual < expected,
        "lte": lambda: actual <= expected,
        "contains": lambda: expected in actual,
    }[op]()


def found(store: QueryStore, raw: Any) -> set[str]:
    """Keys of the events an event listing with the tree answers (one page holds them all)."""
    listing = plan_event_listing(
        METER, start_us=None, end_us=None, subjects=[], filters=[], page_size=1000, page_token="",
        now_us=BASE_US + 100 * HOUR_US, filter_tree=parse_filter(raw, METER),
    )
    return {record.idempotency_key for record in store.events(listing)}


def totals(store: QueryStore, raw: Any, filters: tuple[RawFilter, ...] = ()) -> tuple[int, float]:
    """(events, sum of quantity) of a usage query over all samples with the tree."""
    query = plan_usage_query(
        METER, start_us=START_US, end_us=END_US, window_size=None, time_zone_name="UTC", subjects=[],
        filters=list(filters), group_by=[], fill=False, filter_tree=parse_filter(raw, METER),
    )
    groups = store.usage(query)
    return sum(g.count for g in groups), sum(g.value or 0.0 for g in groups)


def keys(*numbers: int) -> set[str]:
    """The keys of SAMPLES by number: keys(1, 12) is {"e01", "e12"}."""
    return {f"e{n:02d}" for n in numbers}


CASES = [
    # Numbers compare numerically: "9" < "10" < "100" though their texts sort the other way.
    (condition("metadata.tokens", "lt", 10), keys(1, 4, 5, 8, 12)),
    (condition("metadata.tokens", "gt", 9), keys(2, 3, 7, 9)),
    (condition("metadata.tokens", "gte", 10), keys(2, 3, 7, 9)),
    (condition("metadata.tokens", "lte", 0), keys(5, 12)),
    (condition("metadata.tokens", "gt", 1e20), keys(7)),
    (condition("metadata.tokens", "eq", 10), keys(2, 9)),
    (condition("metadata.tokens", "eq", 10.0), keys(2, 9)),
    (condition("metadata.tokens", "eq", 1e21), keys(7)),
    (condition("metadata.tokens", "in", [9, 2.5, 77]), keys(1, 4, 8)),
    # neq holds only for events that have the key.
    (condition("metadata.tokens", "neq", 9), keys(2, 3, 4, 5, 7, 9, 12)),
    (condition("metadata.model", "neq", "gpt-4.1"), keys(2, 3, 4, 5, 8, 9, 11)),
    (condition("metadata.cached", "neq", True), keys(2, 6, 11)),
    (condition("metadata.model", "exists"), ALL_KEYS - keys(6, 10)),
    (condition("metadata.tokens.in", "exists"), keys(3, 5, 9)),
    (condition("metadata.tokens.in", "gt", 0.5), keys(3, 9)),
    (condition("metadata.model", "eq", ""), keys(4)),
    (condition("metadata.model", "contains", "gpt"), keys(1, 2, 7, 9, 12)),
    (condition("metadata.model", "contains", ""), ALL_KEYS - keys(6, 10)),
    (condition("metadata.model", "contains", "é"), keys(5)),
    (condition("metadata.region", "contains", ","), keys(6)),
    (condition("metadata.model", "in", ["claude", "", "nope"]), keys(3, 4, 11)),
    # Strings compare by code point: "Zeta" < "claude" < "gpt" < "gpt-4.1" < "é-model".
    (condition("metadata.model", "gt", "gpt"), keys(1, 2, 5, 7, 9, 12)),
    (condition("metadata.model", "lte", "claude"), keys(3, 4, 8, 11)),
    (condition("metadata.cached", "eq", False), keys(2, 6, 11)),
    (condition("metadata.cached", "in", [True]), keys(1, 4, 8, 12)),
    (condition("subject", "eq", "org_1"), keys(1, 2, 7, 10)),
    (condition("subject", "neq", "org_1"), ALL_KEYS - keys(1, 2, 7, 10)),
    (condition("subject", "gt", "org_2"), keys(5, 6, 8, 11, 12)),
    (condition("subject", "in", ["org_4", "org_9"]), keys(8, 11)),
    (condition("subject", "contains", "org_"), ALL_KEYS),
    (condition("subject", "exists"), ALL_KEYS),
    (condition("meter", "eq", METER.name), ALL_KEYS),
    (condition("meter", "eq", "other"), set()),
    (condition("meter", "neq", "other"), ALL_KEYS),
    (condition("quantity", "gt", 5), keys(1, 3, 5, 10, 11, 12)),
    (condition("quantity", "lte", 1), keys(4, 6)),
    (condition("quantity", "in", [1, 0.5]), keys(4, 6)),
    (condition("quantity", "eq", 7.5), keys(3)),
    (condition("timestamp", "gte", at(5)), keys(7, 8, 9, 10, 11, 12)),
    (condition("event_time", "lt", at(1)), keys(1)),
    (condition("timestamp", "eq", at(1)), keys(2, 3)),
    (condition("timestamp", "eq", at(8)), set()),  # e10 is half a second later
    (condition("timestamp", "eq", format_rfc3339(BASE_US + 8 * HOUR_US + 500_000)), keys(10)),
    (condition("timestamp", "in", [at(0), at(10), at(99)]), keys(1, 12)),
    (condition("timestamp", "neq", at(1)), ALL_KEYS - keys(2, 3)),
    (condition("received_at", "gt", at(50)), keys(8)),
    (condition("received_at", "lte", at(0)), set()),  # received 2 s after its timestamp
    (condition("idempotency_key", "in", ["e01", "e05", "x"]), keys(1, 5)),
    (condition("idempotency_key", "contains", "1"), keys(1, 10, 11, 12)),
    (condition("idempotency_key", "exists"), ALL_KEYS),
    ({"op": "and", "rules": [condition("subject", "eq", "org_1"), condition("quantity", "gte", 5)]}, keys(1, 2, 10)),
    ({"op": "or", "rules": [condition("subject", "eq", "org_4"), condition("metadata.tokens", "lt", 0)]},
     keys(5, 8, 11)),
    ({"op": "and", "rules": [
        {"op": "or", "rules": [condition("metadata.region", "eq", "eu"), condition("metadata.region", "eq", "us")]},
        {"op": "or", "rules": [condition("metadata.cached", "eq", True), condition("metadata.tokens.in", "exists")]},
    ]}, keys(1, 3, 4)),
    (nested(MAX_FILTER_DEPTH - 1), ALL_KEYS),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_each_operator_finds_exactly_its_events(store: QueryStore, raw: Any, expected: set[str]) -> None:
    assert {s.key for s in SAMPLES if reference(raw, s)} == expected  # the reference agrees with the table
    assert found(store, raw) == expected
    matching = [s for s in SAMPLES if s.key in expected]
    assert totals(store, raw) == (len(matching), pytest.approx(sum(s.quantity for s in matching)))


def test_the_tree_is_anded_with_the_other_conditions(store: QueryStore) -> None:
    raw = condition("metadata.tokens", "gte", 10)
    assert totals(store, raw, (RawFilter("subject", ("org_2",)),)) == (2, 11.5)  # e03, e09
    listing = plan_event_listing(
        METER, start_us=BASE_US + 2 * HOUR_US, end_us=END_US, subjects=["org_1", "org_2"], filters=[],
        page_size=10, page_token="", now_us=BASE_US + 100 * HOUR_US, filter_tree=parse_filter(raw, METER),
    )
    assert [r.idempotency_key for r in store.events(listing)] == ["e09", "e07"]


def test_listings_page_through_a_tree_and_tokens_belong_to_their_tree(store: QueryStore) -> None:
    raw = condition("metadata.model", "exists")
    tree = parse_filter(raw, METER)

    def page(token: str, tree_: Any = tree) -> tuple[list[str], Any]:
        listing = plan_event_listing(
            METER, start_us=None, end_us=None, subjects=[], filters=[], page_size=3, page_token=token,
            now_us=BASE_US + 100 * HOUR_US, filter_tree=tree_,
        )
        records = store.events(listing)
        return [r.idempotency_key for r in records[:3]], (listing, records)

    seen: list[str] = []
    token = ""
    while True:
        page_keys, (listing, records) = page(token)
        seen += page_keys
        if len(records) <= 3:
            break
        last = records[2]
        token = next_page_token(listing, Cursor(last.timestamp_us, last.idempotency_key))
    assert seen == sorted(ALL_KEYS - keys(6, 10), reverse=True)
    assert page(token, parse_filter(dict(raw), METER))[0]  # an equal tree takes the token
    with pytest.raises(InvalidArgument) as caught:
        page(token, parse_filter(condition("metadata.region", "exists"), METER))
    assert caught.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        page(token, None)


def test_without_a_tree_the_sql_is_unchanged() -> None:
    """Existing callers (gRPC QueryUsage and ListEvents) build the same SQL as before."""
    query = plan_usage_query(
        METER, start_us=START_US, end_us=END_US, window_size=None, time_zone_name="UTC", subjects=[],
        filters=[], group_by=[], fill=False,
    )
    sql, params = usage_sql(query)
    assert "ft0" not in sql and not any(name.startswith("ft") for name in params)
    listing = plan_event_listing(METER, start_us=None, end_us=None, subjects=[], filters=[], page_size=0,
                                 page_token="", now_us=5)
    assert "ft0" not in events_sql(listing)[0]


def test_values_and_dimension_names_travel_as_parameters() -> None:
    hostile = "x'); DROP TABLE usage_events; --"
    tree = parse_filter({"op": "or", "rules": [
        condition("metadata.model", "eq", hostile), condition("subject", "contains", hostile),
        condition("metadata.tokens.in", "gt", 1),
    ]}, METER)
    query = plan_usage_query(
        METER, start_us=START_US, end_us=END_US, window_size=None, time_zone_name="UTC", subjects=[],
        filters=[], group_by=[], fill=False, filter_tree=tree,
    )
    sql, params = usage_sql(query)
    assert hostile not in sql and "tokens.in" not in sql
    assert sql.endswith(
        " AND ((mapContains(metadata, {ft0:String}) AND metadata[{ft0:String}] = {ft1:String})"
        " OR position(subject, {ft2:String}) > 0"
        " OR (mapContains(metadata, {ft3:String}) AND toFloat64OrNull(metadata[{ft3:String}]) > {ft4:Float64}))"
        " GROUP BY k0, k1 LIMIT {limit:UInt64}"
    )
    assert [params[f"ft{i}"] for i in range(5)] == ["model", hostile, hostile, "tokens.in", 1.0]


# ---- random trees ------------------------------------------------------------

FIELDS = {
    ValueKind.STRING: ["subject", "idempotency_key", "meter", "metadata.model", "metadata.region"],
    ValueKind.NUMBER: ["quantity", "metadata.tokens", "metadata.tokens.in"],
    ValueKind.BOOLEAN: ["metadata.cached"],
    ValueKind.TIME: ["timestamp", "event_time", "received_at"],
}
OPS = {
    ValueKind.STRING: ["eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "exists"],
    ValueKind.NUMBER: ["eq", "neq", "gt", "gte", "lt", "lte", "in", "exists"],
    ValueKind.BOOLEAN: ["eq", "neq", "in", "exists"],
    ValueKind.TIME: ["eq", "neq", "gt", "gte", "lt", "lte", "in", "exists"],
}
VALUES: dict[ValueKind, st.SearchStrategy[Any]] = {
    ValueKind.STRING: st.sampled_from(
        ["gpt-4.1", "gpt-4o", "gpt", "claude", "", "é-model", "Zeta", "a,b", "eu", "us", "z", "org_1", "org_3",
         "org_", "e05", "e1", "1", METER.name, "-"]
    ),
    ValueKind.NUMBER: st.sampled_from([9, 10, 100, 2.5, -1, 0, 1e21, 3, 0.5, 9.5, 1842, 7.5, 1, 6]),
    ValueKind.BOOLEAN: st.booleans(),
    ValueKind.TIME: st.builds(
        lambda hours, text: text(BASE_US + hours * HOUR_US),
        st.sampled_from([-1, 0, 1, 2, 5, 8, 10, 11, 60, 62]),
        st.sampled_from([format_rfc3339, lambda us: datetime.fromtimestamp(us / US, UTC).isoformat()]),
    ),
}


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(ValueKind)))
    op = draw(st.sampled_from(OPS[kind]))
    raw: dict[str, Any] = {"field": draw(st.sampled_from(FIELDS[kind])), "op": op}
    if draw(st.booleans()):
        raw["type"] = "condition"
    if op == "in":
        raw["value"] = draw(st.lists(VALUES[kind], min_size=1, max_size=4))
    elif op != "exists":
        raw["value"] = draw(VALUES[kind])
    return raw


trees = st.recursive(
    conditions(),
    lambda children: st.builds(
        lambda op, rules, typed: {"op": op, "rules": rules, **({"type": "group"} if typed else {})},
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=1, max_size=4),
        st.booleans(),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(raw=trees)
def test_random_trees_agree_with_the_reference(store: QueryStore, raw: dict[str, Any]) -> None:
    expected = [s for s in SAMPLES if reference(raw, s)]
    assert found(store, raw) == {s.key for s in expected}
    assert totals(store, raw) == (len(expected), pytest.approx(sum(s.quantity for s in expected)))


def test_usage_by_window_with_a_tree(store: QueryStore) -> None:
    """The tree composes with windows and group_by as any usage query (it only adds to WHERE)."""
    count_meter = meter("ai_tokens", Aggregation.COUNT)
    query = plan_usage_query(
        count_meter, start_us=START_US, end_us=END_US, window_size=WindowSize.HOUR, time_zone_name="UTC",
        subjects=[], filters=[], group_by=["model"], fill=False,
        filter_tree=parse_filter(condition("metadata.model", "contains", "gpt"), count_meter),
    )
    rows = usage_rows(query, store.usage(query))
    assert [(r.window.start_us - BASE_US) // HOUR_US for r in rows] == [0, 1, 5, 7, 10]
    assert [dict(r.group)["model"] for r in rows] == ["gpt-4.1", "gpt-4o", "gpt-4.1", "gpt-4o", "gpt-4.1"]
    assert [r.value for r in rows] == [1.0] * 5
