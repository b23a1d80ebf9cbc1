"""The alert state machine (alerts/machine.py) against a reference written from the product's rules.

The reference keeps, per group, only "is it alerting?", and derives the events
from the rule's statement: triggered on entering alerting, resolved on
leaving it (a group that vanishes included), nothing otherwise. Random
sequences of evaluations (hypothesis) must make the same events as it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.alerts.machine import (
    EventType,
    GroupState,
    Observation,
    Status,
    evaluate,
    failed,
    primary_state,
)
from openspanner.alerts.rules import AlertRule, Comparator

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def rule(group_by: str = "", comparator: Comparator = Comparator.GTE, threshold: float = 10.0) -> AlertRule:
    return AlertRule(id="r1", name="n", meter="m", destination_id="d", threshold=threshold,
                     comparator=comparator, group_by=group_by)


def run(r: AlertRule, rounds: Sequence[Sequence[Observation] | None]) -> list[list[tuple[str, str]]]:
    """Evaluate round after round (None: a failed evaluation); the (type, group value) events of each."""
    states: tuple[GroupState, ...] = ()
    made = []
    for n, observations in enumerate(rounds):
        now = T0 + timedelta(minutes=n)
        if observations is None:
            outcome = failed(r, states, "storage is down", now)
        else:
            outcome = evaluate(r, states, observations, now)
        states = outcome.states
        made.append([(e.type.value, e.group_value) for e in outcome.events])
    return made


def test_a_crossing_up_triggers_once_and_a_crossing_down_resolves_once() -> None:
    values = [5.0, 12.0, 15.0, 30.0, 9.0, 8.0, 11.0]
    made = run(rule(), [[Observation("", v, 1)] for v in values])
    assert made == [[], [("triggered", "")], [], [], [("resolved", "")], [], [("triggered", "")]]


def test_each_comparator_decides_alerting() -> None:
    cases = {
        Comparator.GT: (10.0, False), Comparator.GTE: (10.0, True), Comparator.LT: (9.0, True),
        Comparator.LTE: (11.0, False), Comparator.EQ: (10.0, True), Comparator.NEQ: (10.0, False),
    }
    for comparator, (value, alerting) in cases.items():
        outcome = evaluate(rule(comparator=comparator), (), [Observation("", value, 3)], T0)
        assert (outcome.states[0].status is Status.ALERTING) is alerting, comparator


def test_no_events_is_no_data_and_resolves_an_alert() -> None:
    made = run(rule(), [[Observation("", 20.0, 2)], [], [Observation("", 0.0, 0)]])
    assert made == [[("triggered", "")], [("resolved", "")], []]
    outcome = evaluate(rule(), (), [], T0)
    assert [(s.status, s.message) for s in outcome.states] == [(Status.NO_DATA, "no usage data in alert window")]


def test_a_rule_below_a_threshold_alerts_on_low_values_but_not_on_no_data() -> None:
    r = rule(comparator=Comparator.LT, threshold=1.0)
    assert run(r, [[], [Observation("", 0.5, 1)], []]) == [[], [("triggered", "")], [("resolved", "")]]


def test_groups_alert_and_resolve_each_on_its_own() -> None:
    r = rule(group_by="subject")
    made = run(r, [
        [Observation("a", 20.0, 1), Observation("b", 1.0, 1)],
        [Observation("a", 25.0, 1), Observation("b", 11.0, 1)],
        [Observation("a", 2.0, 1), Observation("b", 12.0, 1)],
        [Observation("b", 12.0, 1)],
    ])
    assert made == [[("triggered", "a")], [("triggered", "b")], [("resolved", "a")], []]


def test_a_group_that_vanishes_while_alerting_is_resolved_and_kept_as_no_data() -> None:
    r = rule(group_by="region")
    states = evaluate(r, (), [Observation("eu", 50.0, 4)], T0).states
    outcome = evaluate(r, states, [], T0 + timedelta(minutes=1))
    assert [(e.type, e.group_key, e.group_value, e.value) for e in outcome.events] == [
        (EventType.RESOLVED, "region", "eu", 0.0)
    ]
    assert [(s.group_value, s.status, s.message) for s in outcome.states] == [
        ("eu", Status.NO_DATA, "no usage data in alert window for region eu")
    ]


def test_messages_name_the_group_as_the_product_does() -> None:
    outcome = evaluate(rule(group_by="subject"), (), [Observation("org_1", 12.5, 1)], T0)
    assert outcome.events[0].message == "value 12.5000 gte threshold 10.0000 for subject org_1"
    outcome = evaluate(rule(), (), [Observation("", 2.0, 1)], T0)
    assert outcome.states[0].message == "value 2.0000 is within threshold 10.0000"


def test_a_failure_while_alerting_neither_resolves_nor_triggers_again() -> None:
    made = run(rule(), [[Observation("", 20.0, 1)], None, None, [Observation("", 21.0, 1)], [Observation("", 1.0, 1)]])
    assert made == [[("triggered", "")], [("evaluation_failed", "")], [], [], [("resolved", "")]]


def test_a_failure_keeps_the_groups_and_says_error_for_the_rule() -> None:
    r = rule(group_by="subject")
    states = evaluate(r, (), [Observation("a", 20.0, 1)], T0).states
    outcome = failed(r, states, "storage is down", T0)
    assert {(s.group_value, s.status) for s in outcome.states} == {("", Status.ERROR), ("a", Status.ALERTING)}
    assert [e.type for e in outcome.events] == [EventType.EVALUATION_FAILED]
    assert outcome.deliverable == ()
    primary = primary_state(outcome.states)
    assert primary is not None and primary.status is Status.ALERTING


def test_changing_the_grouping_resolves_what_alerted_under_the_old_one() -> None:
    states = evaluate(rule(), (), [Observation("", 20.0, 1)], T0).states
    outcome = evaluate(rule(group_by="subject"), states, [Observation("a", 1.0, 1)], T0)
    assert [(e.type, e.group_value) for e in outcome.events] == [(EventType.RESOLVED, "")]
    assert [s.group_value for s in outcome.states] == ["a"]


# ---- the reference -----------------------------------------------------------------------


def reference(r: AlertRule, rounds: Sequence[Sequence[Observation] | None]) -> list[list[tuple[str, str]]]:
    alerting: dict[str, bool] = {}
    ever_failed = False
    made = []
    for observations in rounds:
        events = []
        if observations is None:
            if not ever_failed:
                events.append(("evaluation_failed", ""))
            ever_failed = True
            made.append(events)
            continue
        ever_failed = False
        now = {o.group_value: o.events > 0 and r.comparator.holds(o.value or 0.0, r.threshold) for o in observations}
        for group, is_alerting in now.items():
            if is_alerting and not alerting.get(group, False):
                events.append(("triggered", group))
        for group, was_alerting in alerting.items():
            if was_alerting and not now.get(group, False):
                events.append(("resolved", group))
        alerting = {**{g: False for g in alerting}, **now}
        made.append(events)
    return made


GROUPS = st.sampled_from(["a", "b", "c"])
ROUND = st.none() | st.lists(
    st.builds(Observation, GROUPS, st.floats(0, 20, allow_nan=False), st.integers(0, 3)),
    max_size=3,
    unique_by=lambda o: o.group_value,
)


@given(st.lists(ROUND, max_size=12), st.sampled_from(list(Comparator)), st.sampled_from([0.0, 5.0, 10.0]))
@settings(max_examples=300, deadline=None)
def test_grouped_rules_make_the_events_the_reference_makes(
    rounds: list[list[Observation] | None], comparator: Comparator, threshold: float
) -> None:
    r = rule(group_by="subject", comparator=comparator, threshold=threshold)
    assert [sorted(e) for e in run(r, rounds)] == [sorted(e) for e in reference(r, rounds)]


@given(st.lists(st.none() | st.builds(lambda v, n: [Observation("", v, n)], st.floats(0, 20), st.integers(0, 2))
                | st.just([]), max_size=12))
@settings(max_examples=300, deadline=None)
def test_ungrouped_rules_make_the_events_the_reference_makes(rounds: list[list[Observation] | None]) -> None:
    r = rule()
    assert run(r, rounds) == reference(r, rounds)


def test_two_evaluations_from_one_stored_state_make_one_event_id() -> None:
    """Two workers running by mistake read the same states: their crossing is one event (one
    delivery job, one webhook-id); the next crossing, from a later state, is another."""
    r = rule()
    quiet = evaluate(r, (), [Observation("", 2.0, 1)], T0).states
    later = T0 + timedelta(minutes=1)
    first = evaluate(r, quiet, [Observation("", 50.0, 1)], later)
    second = evaluate(r, quiet, [Observation("", 51.0, 1)], later + timedelta(milliseconds=3))
    assert [e.id for e in first.events] == [e.id for e in second.events] and len(first.events) == 1
    resolved = evaluate(r, first.states, [Observation("", 1.0, 1)], later + timedelta(minutes=1))
    again = evaluate(r, resolved.states, [Observation("", 50.0, 1)], later + timedelta(minutes=2))
    ids = {first.events[0].id, resolved.events[0].id, again.events[0].id}
    assert len(ids) == 3
