"""An export's query checked against its meter: the same plans as the search and events APIs."""

from __future__ import annotations

from typing import Any

import pytest

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument
from openspanner.exports.queries import plan_bucket_export, plan_event_export

METER = Meter("tokens", Aggregation.SUM, dimensions=(Dimension("model", DimensionType.STRING),
                                                    Dimension("cached", DimensionType.BOOLEAN, required=False)))
AS_OF = 1_781_870_400_000_000


def test_an_event_query_takes_the_events_apis_parameters() -> None:
    listing = plan_event_export(METER, {
        "meter": "tokens", "subject": "org_1", "start_time": "2026-06-01T00:00:00Z",
        "end_time": "2026-07-01T00:00:00Z", "filter": ["model:a", "model:b", "cached:null"],
    }, AS_OF)
    assert listing.subjects == ("org_1",)
    assert listing.start_us is not None and listing.end_us is not None and listing.start_us < listing.end_us
    assert [(f.dimension, f.values, f.match_absent) for f in listing.filters] == [
        ("model", ("a", "b"), False), ("cached", (), True)]
    assert listing.as_of_us == AS_OF


def test_a_bucket_query_is_the_search_body() -> None:
    plan = plan_bucket_export(METER, {
        "meter": "tokens", "from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z", "bucket_size": "hour",
        "group_by": ["subject", "model"], "limit": 5000,
        "filter": {"type": "condition", "field": "metadata.model", "op": "eq", "value": "a"},
    })
    assert plan.bucket_size == "hour" and plan.limit == 1000
    assert plan.query.group_by == ("subject", "model") and plan.query.filter_tree is not None


@pytest.mark.parametrize(("query", "field"), [
    ({"meter": "tokens", "colour": "red"}, "query.colour"),
    ({"meter": "tokens", "start_time": "yesterday"}, "query.start_time"),
    ({"meter": "tokens", "subject": [1]}, "query.subject"),
    ({"meter": "tokens", "filter": "model:a"}, "query.filter"),
    ({"meter": "tokens", "filter": ["model"]}, "query.filter"),
    ({"meter": "tokens", "filter": ["colour:red"]}, "filter"),
])
def test_a_bad_event_query_names_its_field(query: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        plan_event_export(METER, query, AS_OF)
    assert field in (refused.value.field or "")


@pytest.mark.parametrize(("query", "field"), [
    ({"meter": "tokens", "to": "2026-06-02T00:00:00Z"}, "query.from"),
    ({"meter": "tokens", "from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z", "bucket_size": "week"},
     "query.bucket_size"),
    ({"meter": "tokens", "from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z", "group_by": "model"},
     "query.group_by"),
    ({"meter": "tokens", "from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z",
      "filter": {"type": "condition", "field": "metadata.nope", "op": "eq", "value": 1}}, "query.filter"),
])
def test_a_bad_bucket_query_names_its_field(query: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        plan_bucket_export(METER, query)
    assert (refused.value.field or "").startswith(field)
