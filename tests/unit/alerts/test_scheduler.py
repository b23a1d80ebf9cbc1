"""Which rules a committed block of events brings forward (alerts/scheduler.py rules_matched)."""

from __future__ import annotations

from openspanner.alerts.rules import AlertRule
from openspanner.alerts.scheduler import rules_matched
from openspanner.storage.events import EventRow


def rule(rule_id: str, meter: str = "api", subject: str = "", metadata: dict[str, str] | None = None) -> AlertRule:
    return AlertRule(id=rule_id, name=rule_id, meter=meter, destination_id="d", threshold=1.0, subject=subject,
                     metadata=metadata or {})


def row(meter: str = "api", subject: str = "org_1", **metadata: str) -> EventRow:
    return EventRow(meter, "k", subject, 0, 1.0, dict(metadata), 30, 0, 0)


RULES = [
    rule("any"),
    rule("org_2", subject="org_2"),
    rule("eu", metadata={"region": "eu"}),
    rule("org_1_us", subject="org_1", metadata={"region": "us"}),
    rule("other_meter", meter="tokens"),
]


def test_an_event_matches_the_rules_of_its_meter_whose_filters_it_passes() -> None:
    assert rules_matched(RULES, [row(region="eu")]) == {"any", "eu"}
    assert rules_matched(RULES, [row(region="us")]) == {"any", "org_1_us"}
    assert rules_matched(RULES, [row(subject="org_2", region="us")]) == {"any", "org_2"}
    assert rules_matched(RULES, [row(meter="tokens")]) == {"other_meter"}


def test_a_block_matches_what_any_of_its_events_matches() -> None:
    block = [row(region="eu"), row(meter="tokens"), row(subject="org_2")]
    assert rules_matched(RULES, block) == {"any", "eu", "other_meter", "org_2"}


def test_nothing_matches_without_rules_or_events() -> None:
    assert rules_matched([], [row()]) == set()
    assert rules_matched(RULES, []) == set()
    assert rules_matched(RULES, [row(meter="unwatched")]) == set()
