"""Breakdowns and dimension values on the real embedded engine, against a Python reference over the same events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from openspanner.domain.breakdowns import BreakdownRow, DimensionValueRow, plan_breakdown, plan_dimension_values
from openspanner.domain.filters import parse_filter
from openspanner.domain.meters import Aggregation, Meter
from openspanner.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, checked_limit
from openspanner.domain.values import stored_text
from openspanner.errors import InvalidArgument
from openspanner.storage.queries import QueryStore, breakdown_sql
from tests.stored_events import (
    BASE_US,
    END_US,
    HOUR_US,
    SAMPLES,
    START_US,
    UNIQUE_DIMENSION,
    US,
    Sample,
    meter,
    stored,
)

METERS = {aggregation: meter(f"bd_{aggregation.value}", aggregation) for aggregation in Aggregation}
SUM = METERS[Aggregation.SUM]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryStore]:
    with stored(tmp_path_factory.mktemp("breakdowns"), list(METERS.values())) as s:
        yield s


def value_of(sample: Sample, field: str) -> Any:
    return sample.subject if field == "subject" else sample.metadata.get(field)


def text_of(m: Meter, field: str, value: Any) -> str:
    if field == "subject":
        return str(value)
    typed = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    text = stored_text(typed, m.dimensions_by_name[field].type)
    assert text is not None
    return text


def aggregate(aggregation: Aggregation, samples: Sequence[Sample], seconds: float) -> float:
    quantities = [s.quantity for s in samples]
    in_order = sorted(samples, key=lambda s: (s.at_us, s.key))
    return {
        Aggregation.SUM: lambda: sum(quantities),
        Aggregation.COUNT: lambda: float(len(quantities)),
        Aggregation.AVG: lambda: sum(quantities) / len(quantities),
        Aggregation.MIN: lambda: min(quantities),
        Aggregation.MAX: lambda: max(quantities),
        Aggregation.FIRST: lambda: in_order[0].quantity,
        Aggregation.LAST: lambda: in_order[-1].quantity,
        Aggregation.RATE: lambda: sum(quantities) / seconds,
        # Distinct values of the counted dimension; events without it add none.
        Aggregation.UNIQUE_COUNT: lambda: float(len({s.metadata.get(UNIQUE_DIMENSION) for s in samples} - {None})),
    }[aggregation]()


def tie_key(value: Any) -> Any:
    """Ties by value: numbers numerically, booleans false first, text by code point."""
    return value if not isinstance(value, str) else [ord(c) for c in value]


def reference_breakdown(
    m: Meter, field: str, start_us: int, end_us: int, keep: Callable[[Sample], bool] = lambda s: True,
) -> list[tuple[Any, str, float, int]]:
    groups: dict[Any, list[Sample]] = defaultdict(list)
    for s in SAMPLES:
        value = value_of(s, field)
        if start_us <= s.at_us < end_us and value is not None and keep(s):
            groups[value].append(s)
    rows = [
        (float(v) if isinstance(v, int) and not isinstance(v, bool) else v, text_of(m, field, v),
         aggregate(m.aggregation, members, (end_us - start_us) / US), len(members))
        for v, members in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r[2], tie_key(r[0])))


def as_tuples(rows: Sequence[BreakdownRow]) -> list[tuple[Any, str, float, int]]:
    return [(r.value, r.text, r.quantity, r.events) for r in rows]


def approx_rows(rows: list[tuple[Any, str, float, int]]) -> list[tuple[Any, str, Any, int]]:
    return [(v, t, pytest.approx(q), n) for v, t, q, n in rows]


@pytest.mark.parametrize("aggregation", list(Aggregation))
@pytest.mark.parametrize("field", ["model", "subject", "tokens", "cached"])
def test_breakdown_of_each_aggregation(store: QueryStore, aggregation: Aggregation, field: str) -> None:
    m = METERS[aggregation]
    rows = store.breakdown(plan_breakdown(m, field, START_US, END_US))
    assert as_tuples(rows) == approx_rows(reference_breakdown(m, field, START_US, END_US))


def test_breakdown_rows_spelled_out(store: QueryStore) -> None:
    """The numbers, written by hand: events without the dimension are left out, the empty string is a value."""
    rows = store.breakdown(plan_breakdown(SUM, "metadata.model", START_US, END_US))
    assert as_tuples(rows) == [
        ("é-model", "é-model", 1842.0, 1),
        ("gpt-4.1", "gpt-4.1", 22.0, 3),
        ("claude", "claude", 15.5, 2),
        ("gpt-4o", "gpt-4o", 9.0, 2),
        ("Zeta", "Zeta", 2.0, 1),
        ("", "", 1.0, 1),
    ]
    assert sum(r.events for r in rows) == len([s for s in SAMPLES if "model" in s.metadata])
    # Ties among equal counts go by number, not by text ("-1" < "0" < "1e+21" < "100" < "2.5" as text).
    counted = store.breakdown(plan_breakdown(METERS[Aggregation.COUNT], "tokens", START_US, END_US))
    assert [(r.value, r.text, r.quantity) for r in counted] == [
        (9.0, "9", 2.0), (10.0, "10", 2.0), (-1.0, "-1", 1.0), (0.0, "0", 1.0), (2.5, "2.5", 1.0),
        (100.0, "100", 1.0), (1e21, "1e+21", 1.0),
    ]
    rate = store.breakdown(plan_breakdown(METERS[Aggregation.RATE], "subject", START_US, END_US))
    assert rate[0] == BreakdownRow("org_3", "org_3", pytest.approx(1851.5 / (11 * 3600)), 3)


def test_breakdown_limit_range_subjects_and_filter(store: QueryStore) -> None:
    assert as_tuples(store.breakdown(plan_breakdown(SUM, "model", START_US, END_US, limit=2))) == [
        ("é-model", "é-model", 1842.0, 1), ("gpt-4.1", "gpt-4.1", 22.0, 3),
    ]
    start, end = BASE_US + 4 * HOUR_US, BASE_US + 10 * HOUR_US
    assert as_tuples(store.breakdown(plan_breakdown(SUM, "model", start, end))) == approx_rows(
        reference_breakdown(SUM, "model", start, end)
    )
    only = ["org_1", "org_4"]
    assert as_tuples(store.breakdown(plan_breakdown(SUM, "model", START_US, END_US, only))) == approx_rows(
        reference_breakdown(SUM, "model", START_US, END_US, lambda s: s.subject in only)
    )
    raw = {"op": "or", "rules": [
        {"field": "metadata.tokens", "op": "gte", "value": 10}, {"field": "metadata.region", "op": "eq", "value": "eu"},
    ]}
    tree = parse_filter(raw, SUM)

    def keep(s: Sample) -> bool:
        return s.metadata.get("tokens", float("-inf")) >= 10 or s.metadata.get("region") == "eu"

    filtered = store.breakdown(plan_breakdown(SUM, "subject", START_US, END_US, filter_tree=tree))
    assert as_tuples(filtered) == approx_rows(reference_breakdown(SUM, "subject", START_US, END_US, keep))
    assert [r.value for r in filtered] == ["org_1", "org_2", "org_4"]
    # A filter on the broken-down dimension itself.
    on_field = parse_filter({"field": "metadata.model", "op": "contains", "value": "gpt"}, SUM)
    assert [r.value for r in store.breakdown(plan_breakdown(SUM, "model", START_US, END_US,
                                                            filter_tree=on_field))] == ["gpt-4.1", "gpt-4o"]


def test_breakdown_of_nothing_is_empty(store: QueryStore) -> None:
    later = END_US + 100 * HOUR_US
    assert store.breakdown(plan_breakdown(SUM, "model", later, later + HOUR_US)) == []
    assert store.breakdown(plan_breakdown(meter("no_events"), "model", START_US, END_US)) == []


def test_breakdown_sql_takes_values_as_parameters() -> None:
    sql, params = breakdown_sql(plan_breakdown(SUM, "tokens.in", START_US, END_US, ["o'1"], limit=7))
    assert sql == (
        "SELECT metadata[{field:String}] AS bd_value, sum(quantity) AS bd_quantity, count() AS bd_events"
        " FROM usage_events FINAL WHERE meter = {meter:String}"
        " AND timestamp >= fromUnixTimestamp64Micro({start_us:Int64}, 'UTC')"
        " AND timestamp < fromUnixTimestamp64Micro({end_us:Int64}, 'UTC')"
        " AND subject IN {subjects:Array(String)} AND mapContains(metadata, {field:String})"
        " GROUP BY bd_value ORDER BY bd_quantity DESC, toFloat64OrNull(bd_value), bd_value LIMIT {limit:UInt64}"
    )
    assert params == {"meter": SUM.name, "start_us": START_US, "end_us": END_US, "subjects": ["o'1"],
                      "field": "tokens.in", "limit": 7}


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (lambda: plan_breakdown(SUM, "nope", START_US, END_US), "field",
         "unknown field 'nope' of meter 'bd_sum' (declared: subject, model, cached, tokens, tokens.in, region)"),
        (lambda: plan_breakdown(SUM, "metadata.nope", START_US, END_US), "field", "unknown field 'metadata.nope'"),
        (lambda: plan_breakdown(SUM, " ", START_US, END_US), "field", "is required"),
        (lambda: plan_breakdown(SUM, "model", None, END_US), "from", "is required"),
        (lambda: plan_breakdown(SUM, "model", START_US, None), "to", "is required"),
        (lambda: plan_breakdown(SUM, "model", END_US, START_US), "to", "must be after from"),
        (lambda: plan_breakdown(SUM, "model", START_US, END_US, limit=MAX_LIMIT + 1), "limit",
         "must be between 1 and 1000"),
        (lambda: plan_breakdown(SUM, "model", START_US, END_US, limit=-1), "limit", "must be between 1 and 1000"),
        (lambda: plan_dimension_values(SUM, "nope"), "field", "unknown field"),
        (lambda: plan_dimension_values(SUM, "model", start_us=END_US, end_us=START_US), "to", "must be after from"),
        (lambda: plan_dimension_values(SUM, "model", limit=5000), "limit", "must be between 1 and 1000"),
    ],
)
def test_errors_name_the_rest_fields(call: Callable[[], object], field: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        call()
    assert caught.value.field == field
    assert message in caught.value.message


def test_limit_defaults() -> None:
    assert checked_limit(None) == checked_limit(0) == DEFAULT_LIMIT == 100
    assert checked_limit(1) == 1 and checked_limit(MAX_LIMIT) == 1000
    assert plan_breakdown(SUM, "model", START_US, END_US).limit == 100


# ---- dimension values --------------------------------------------------------


def reference_values(
    m: Meter, field: str, start_us: int | None = None, end_us: int | None = None, subjects: Sequence[str] = ()
) -> list[tuple[Any, str, int]]:
    counts: dict[Any, int] = defaultdict(int)
    for s in SAMPLES:
        value = value_of(s, field)
        if value is None or (subjects and s.subject not in subjects):
            continue
        if (start_us is None or s.at_us >= start_us) and (end_us is None or s.at_us < end_us):
            counts[value] += 1
    rows = [(float(v) if isinstance(v, int) and not isinstance(v, bool) else v, text_of(m, field, v), n)
            for v, n in counts.items()]
    return sorted(rows, key=lambda r: (-r[2], tie_key(r[0])))


def value_tuples(rows: Sequence[DimensionValueRow]) -> list[tuple[Any, str, int]]:
    return [(r.value, r.text, r.events) for r in rows]


@pytest.mark.parametrize("field", ["model", "metadata.model", "subject", "tokens", "tokens.in", "cached", "region"])
def test_dimension_values_over_all_time(store: QueryStore, field: str) -> None:
    rows = store.dimension_values(plan_dimension_values(SUM, field))
    assert value_tuples(rows) == reference_values(SUM, field.removeprefix("metadata."))


def test_dimension_values_spelled_out(store: QueryStore) -> None:
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "model"))) == [
        ("gpt-4.1", "gpt-4.1", 3), ("claude", "claude", 2), ("gpt-4o", "gpt-4o", 2),
        ("", "", 1), ("Zeta", "Zeta", 1), ("é-model", "é-model", 1),
    ]
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "cached"))) == [
        (True, "true", 4), (False, "false", 3),
    ]


def test_dimension_values_by_range_subjects_and_limit(store: QueryStore) -> None:
    start, end = BASE_US + 1 * HOUR_US, BASE_US + 7 * HOUR_US
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "model", start_us=start, end_us=end))) == (
        reference_values(SUM, "model", start, end)
    )
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "model", start_us=start))) == (
        reference_values(SUM, "model", start_us=start)
    )
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "model", end_us=end))) == (
        reference_values(SUM, "model", end_us=end)
    )
    subjects = ["org_2"]
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "model", subjects=subjects))) == [
        ("", "", 1), ("claude", "claude", 1), ("gpt-4o", "gpt-4o", 1),
    ]
    assert value_tuples(store.dimension_values(plan_dimension_values(SUM, "tokens", limit=3))) == [
        (9.0, "9", 2), (10.0, "10", 2), (-1.0, "-1", 1),
    ]
    assert store.dimension_values(plan_dimension_values(SUM, "model", subjects=["nobody"])) == []
