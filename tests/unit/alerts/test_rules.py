"""Alert rule checks (alerts/rules.py): defaults, ranges, and the field each refusal names."""

from __future__ import annotations

import math

import pytest

from openspanner.alerts.rules import AlertRule, Comparator, RuleDraft, check_rule, merged, new_rule
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument

METER = Meter(
    name="api_requests",
    aggregation=Aggregation.SUM,
    dimensions=(Dimension("region", DimensionType.STRING), Dimension("cached", DimensionType.BOOLEAN),
                Dimension("status", DimensionType.NUMBER)),
)
BASE = RuleDraft(name="many requests", meter="api_requests", destination_id="d1", threshold=100.0)


def checked(**changes: object) -> AlertRule:
    draft = RuleDraft(**{**BASE.__dict__, **changes})  # type: ignore[arg-type]
    return check_rule(new_rule("r1", draft), METER)


def refusal(**changes: object) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        checked(**changes)
    return caught.value.field, caught.value.message


def test_defaults_are_the_products() -> None:
    rule = checked()
    assert (rule.window_seconds, rule.evaluation_interval_seconds, rule.comparator, rule.enabled) == (
        3600, 60, Comparator.GTE, True
    )
    assert checked(window_seconds=0, evaluation_interval_seconds=0).window_seconds == 3600


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"window_seconds": 59}, "window_seconds"),
        ({"window_seconds": 366 * 86400 + 1}, "window_seconds"),
        ({"window_seconds": -5}, "window_seconds"),
        ({"evaluation_interval_seconds": 86401}, "evaluation_interval_seconds"),
        ({"evaluation_interval_seconds": -1}, "evaluation_interval_seconds"),
        ({"comparator": "above"}, "comparator"),
        ({"threshold": math.inf}, "threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"name": " "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"group_by": "model"}, "group_by"),
        ({"metadata": {"model": "a"}}, "metadata.model"),
        ({"metadata": {"region": " "}}, "metadata.region"),
        ({"metadata": {"cached": "maybe"}}, "metadata.cached"),
        ({"meter": ""}, "meter"),
        ({"destination_id": ""}, "destination_id"),
    ],
)
def test_bad_input_names_its_field(changes: dict[str, object], field: str) -> None:
    assert refusal(**changes)[0] == field


def test_ranges_are_inclusive() -> None:
    assert checked(window_seconds=60, evaluation_interval_seconds=1).window_seconds == 60
    assert checked(window_seconds=366 * 86400, evaluation_interval_seconds=86400).evaluation_interval_seconds == 86400


def test_filters_and_grouping_are_normalised() -> None:
    rule = checked(metadata={"metadata.region": " eu ", "cached": "true", "status": "200.0"},
                   group_by="metadata.region", subject=" org_1 ")
    assert dict(rule.metadata) == {"region": "eu", "cached": "true", "status": "200"}
    assert (rule.group_by, rule.subject) == ("region", "org_1")
    assert checked(group_by="subject").group_by == "subject"


def test_an_update_changes_only_what_it_gives() -> None:
    rule = checked(comparator="lt", group_by="subject")
    changed = check_rule(merged(rule, RuleDraft(threshold=5.0)), METER)
    assert (changed.threshold, changed.comparator, changed.group_by, changed.name) == (
        5.0, Comparator.LT, "subject", "many requests"
    )
