"""unique_count: the meter rules of its counted dimension, and the engine's count against distinct_count."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from openspanner.domain.distinct import counted_value, distinct_count
from openspanner.domain.meters import (
    UPDATABLE_FIELDS,
    Aggregation,
    Dimension,
    DimensionType,
    Meter,
    apply_update,
    validate_meter,
)
from openspanner.domain.queries import plan_usage_query, usage_rows
from openspanner.domain.windows import WindowSize
from openspanner.errors import FailedPrecondition, InvalidArgument
from openspanner.storage.queries import QueryStore
from tests.stored_events import END_US, HOUR_US, SAMPLES, START_US, UNIQUE_DIMENSION, event_row, meter, stored

ACTIVE_USERS = Meter(
    "active_users",
    Aggregation.UNIQUE_COUNT,
    unit="user",
    dimensions=(Dimension("user", DimensionType.STRING), Dimension("plan", DimensionType.STRING, required=False)),
    unique_dimension="user",
)
UNIQUE = meter("distinct_models", Aggregation.UNIQUE_COUNT)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unique_dimension": ""}, "is required for aggregation unique_count"),
        ({"unique_dimension": "role"}, "'role' is not a declared dimension of the meter (declared: user, plan)"),
        ({"unique_dimension": "subject"}, "'subject' is not a declared dimension"),
        ({"aggregation": Aggregation.SUM}, "is only for aggregation unique_count, got aggregation sum"),
    ],
)
def test_the_counted_dimension_is_checked_by_its_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_meter(replace(ACTIVE_USERS, **changes))  # type: ignore[arg-type]
    assert refused.value.field == "unique_dimension"
    assert message in str(refused.value)


def test_an_optional_dimension_may_be_counted() -> None:
    counted = validate_meter(replace(ACTIVE_USERS, unique_dimension="plan"))
    assert counted.unique_dimension == "plan"


def test_the_counted_dimension_is_fixed_once_events_exist() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        apply_update(ACTIVE_USERS, replace(ACTIVE_USERS, unique_dimension="plan"), ("unique_dimension",))
    assert refused.value.field == "unique_dimension"
    assert "'user' to 'plan'" in str(refused.value)


def test_without_events_it_may_change_and_is_cleared_with_the_aggregation() -> None:
    moved = apply_update(
        ACTIVE_USERS, replace(ACTIVE_USERS, unique_dimension="plan"), ("unique_dimension",), has_events=False
    )
    assert moved.unique_dimension == "plan"
    summed = apply_update(
        ACTIVE_USERS,
        replace(ACTIVE_USERS, aggregation=Aggregation.SUM, unique_dimension=""),
        ("aggregation",),
        has_events=False,
    )
    assert (summed.aggregation, summed.unique_dimension) == (Aggregation.SUM, "")
    # Naming it with another aggregation is a mistake, said so rather than dropped.
    with pytest.raises(InvalidArgument, match="only for aggregation unique_count"):
        apply_update(
            ACTIVE_USERS,
            replace(ACTIVE_USERS, aggregation=Aggregation.SUM),
            ("aggregation", "unique_dimension"),
            has_events=False,
        )


def test_a_full_replacement_that_omits_it_keeps_it() -> None:
    """gRPC's empty update mask means every field; an empty unique_dimension there means "unchanged"."""
    requested = replace(ACTIVE_USERS, aggregation=None, unique_dimension="", description="people")  # type: ignore[arg-type]
    updated = apply_update(ACTIVE_USERS, requested, UPDATABLE_FIELDS)
    assert (updated.aggregation, updated.unique_dimension, updated.description) == (
        Aggregation.UNIQUE_COUNT, "user", "people"
    )


def test_counted_value_is_the_stored_text_of_the_dimension() -> None:
    assert counted_value(ACTIVE_USERS, {"user": "u1", "plan": "pro"}) == "u1"
    assert counted_value(ACTIVE_USERS, {"plan": "pro"}) is None
    assert counted_value(meter("sums"), {"model": "x"}) is None
    # Empty text is a value; absence is not.
    assert distinct_count(ACTIVE_USERS, [{"user": ""}, {"user": "a"}, {"user": "a"}, {"plan": "p"}]) == 2.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryStore]:
    with stored(tmp_path_factory.mktemp("distinct"), [UNIQUE]) as s:
        yield s


def _engine(store: QueryStore, window: WindowSize | None, group_by: list[str]) -> dict[tuple[int, str | None], float]:
    query = plan_usage_query(
        UNIQUE, start_us=START_US, end_us=END_US, window_size=window, time_zone_name="UTC",
        subjects=[], filters=[], group_by=group_by, fill=False,
    )
    return {(row.window.start_us, row.subject): row.value or 0.0 for row in usage_rows(query, store.usage(query))}


@pytest.mark.parametrize("group_by", [[], ["subject"]])
@pytest.mark.parametrize("window", [None, WindowSize.HOUR, WindowSize.DAY])
def test_the_engine_counts_as_distinct_count_does(
    store: QueryStore, window: WindowSize | None, group_by: list[str]
) -> None:
    by_group: dict[tuple[int, str | None], list[dict[str, str]]] = {}
    for sample in SAMPLES:
        if window is None:
            start = START_US
        else:
            unit = HOUR_US if window is WindowSize.HOUR else 24 * HOUR_US
            start = max(sample.at_us - sample.at_us % unit, START_US)
        subject = sample.subject if group_by else None
        by_group.setdefault((start, subject), []).append(event_row(UNIQUE, sample).metadata)
    expected = {key: distinct_count(UNIQUE, texts) for key, texts in by_group.items()}
    assert _engine(store, window, group_by) == expected


def test_the_range_is_counted_over_itself_not_summed_from_its_hours(store: QueryStore) -> None:
    whole = _engine(store, None, [])
    hourly = _engine(store, WindowSize.HOUR, [])
    models = {s.metadata[UNIQUE_DIMENSION] for s in SAMPLES if UNIQUE_DIMENSION in s.metadata}
    assert list(whole.values()) == [float(len(models))]
    assert sum(hourly.values()) > len(models)  # gpt-4.1 is active in three hours, one value of the range


@pytest.mark.parametrize("subject", ["org_1", "org_2", "org_3", "org_4", "nobody"])
def test_a_ledger_starts_from_the_values_whose_count_the_query_answers(store: QueryStore, subject: str) -> None:
    values = store.unique_values(UNIQUE, subject, START_US, END_US)
    mine = [event_row(UNIQUE, s).metadata for s in SAMPLES if s.subject == subject]
    assert values == {counted_value(UNIQUE, m) for m in mine} - {None}
    query = plan_usage_query(
        UNIQUE, start_us=START_US, end_us=END_US, window_size=None, time_zone_name="UTC",
        subjects=[subject], filters=[], group_by=[], fill=True,
    )
    [row] = usage_rows(query, store.usage(query))
    assert row.value == len(values) == distinct_count(UNIQUE, mine)
