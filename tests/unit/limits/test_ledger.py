"""The usage ledger and UsageTotals: exact whatever the order events commit in, bounded, and
equal to what storage answers for the same events (every aggregation)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.domain.entitlements import AGGREGATE_VALUE, UsageTotals
from openspanner.domain.meters import Aggregation
from openspanner.limits.ledger import UsageLedger, fresh_entry
from openspanner.storage.entitlements import usage_totals, usage_totals_of_many
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at

US = 1_000_000
WINDOW = (1_000 * US, 2_000 * US)
RECENT = (time.time_ns() // 1000 // US - 86_400) * US


def row(key: str, at_us: int, quantity: float, subject: str = "org_1", meter: str = "tokens") -> EventRow:
    return EventRow(meter, key, subject, at_us, quantity, {"user": user_of(key)}, 30, at_us, at_us)


def user_of(key: str) -> str:
    """The user an event's `user` dimension names: its key's first letter, so keys share users."""
    return key[0]


def reference(events: list[tuple[int, str, float]], aggregation: Aggregation, seconds: float) -> float:
    """The meter's value by its definition, from the events themselves."""
    if not events:
        return 0.0
    quantities = [q for _, _, q in events]
    ordered = sorted(events)
    return {
        Aggregation.SUM: math.fsum(quantities),
        Aggregation.COUNT: float(len(events)),
        Aggregation.AVG: statistics.fmean(quantities),
        Aggregation.MIN: min(quantities),
        Aggregation.MAX: max(quantities),
        Aggregation.FIRST: ordered[0][2],
        Aggregation.LAST: ordered[-1][2],
        Aggregation.RATE: len(events) / seconds,
        Aggregation.UNIQUE_COUNT: float(len({user_of(key) for _, key, _ in events})),
    }[aggregation]


def test_every_aggregation_has_its_value() -> None:
    assert set(AGGREGATE_VALUE) == set(Aggregation)


events_strategy = st.lists(
    st.tuples(st.integers(0, 50), st.text("abc", min_size=1, max_size=3),
              st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False)),
    unique_by=lambda e: e[1], max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, order=st.randoms(use_true_random=False))
def test_totals_do_not_depend_on_the_order_events_arrive_in(
    events: list[tuple[int, str, float]], order: object
) -> None:
    shuffled = list(events)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    totals = UsageTotals()
    for at, key, quantity in shuffled:
        totals.add(at, key, quantity, user_of(key))
    for aggregation in Aggregation:
        assert totals.value(aggregation, 60.0) == pytest.approx(reference(events, aggregation, 60.0), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(events=events_strategy, order=st.randoms(use_true_random=False), split=st.integers(0, 40))
def test_an_entry_loaded_midway_then_advanced_by_commits_equals_all_events(
    events: list[tuple[int, str, float]], order: object, split: int
) -> None:
    """Events committed before the load are in what storage answers; the rest reach the entry by
    the listener; together they are every event of the window, once."""
    rows = [row(key, WINDOW[0] + at * US * 30, quantity) for at, key, quantity in events]
    order.shuffle(rows)  # type: ignore[attr-defined]
    before, after = rows[:split], rows[split:]
    loaded = UsageTotals()
    for r in before:
        if WINDOW[0] <= r.timestamp_us < WINDOW[1]:
            loaded.add(r.timestamp_us, r.idempotency_key, r.quantity, r.metadata["user"])
    ledger = UsageLedger(10)
    entry = ledger.install(fresh_entry("org_1", "tokens", *WINDOW, loaded, unique_dimension="user"))
    for r in after:
        ledger.committed([r])
    inside = [(r.timestamp_us, r.idempotency_key, r.quantity) for r in rows if WINDOW[0] <= r.timestamp_us < WINDOW[1]]
    for aggregation in Aggregation:
        assert entry.committed.value(aggregation, 1000.0) == pytest.approx(reference(inside, aggregation, 1000.0))


def test_a_reservation_counts_until_its_event_commits() -> None:
    ledger = UsageLedger(10)
    entry = ledger.install(fresh_entry("org_1", "tokens", *WINDOW, UsageTotals()))
    ledger.decide(entry, lambda _: UsageLedger.reserve_locked(entry, "k1", WINDOW[0], 5.0))
    assert ledger.snapshot(entry).sum == 5 and ledger.committed_copy(entry).sum == 0
    ledger.committed([row("k1", WINDOW[0], 5.0)])
    assert (ledger.snapshot(entry).sum, entry.reserved) == (5, {})
    ledger.committed([row("other", WINDOW[0], 1.0, subject="org_2"), row("late", WINDOW[1], 1.0)])
    assert ledger.snapshot(entry).sum == 5


def test_changes_are_reported_for_followed_pairs_even_without_an_entry() -> None:
    ledger = UsageLedger(10)
    seen: list[set[tuple[str, str]]] = []
    ledger.on_change(seen.append)
    ledger.follow(lambda: {"org_1": frozenset({"tokens"})})
    ledger.committed([row("a", 1, 1.0), row("b", 1, 1.0, subject="org_2"), row("c", 1, 1.0, meter="calls")])
    assert seen == [{("org_1", "tokens")}]


def test_the_least_recently_used_entry_goes_first_but_never_one_with_a_reservation() -> None:
    ledger = UsageLedger(2)
    first = ledger.install(fresh_entry("s1", "tokens", *WINDOW, UsageTotals()))
    ledger.install(fresh_entry("s2", "tokens", *WINDOW, UsageTotals()))
    ledger.decide(first, lambda _: UsageLedger.reserve_locked(first, "k", WINDOW[0], 1.0))
    ledger.install(fresh_entry("s3", "tokens", *WINDOW, UsageTotals()))
    assert ledger.get(("s1", "tokens", *WINDOW)) is first
    assert ledger.get(("s2", "tokens", *WINDOW)) is None
    assert (len(ledger), ledger.evictions) == (2, 1)
    # An evicted entry no longer follows commits: it is read again from storage when needed.
    ledger.committed([row("x", WINDOW[0], 1.0, subject="s2")])


@pytest.fixture(scope="module")
def events_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with storage_at(tmp_path_factory.mktemp("ledger"), "ledger_test") as client:
        migrate(client)
        yield client


@pytest.mark.parametrize("aggregation", list(Aggregation))
def test_what_storage_answers_for_a_window_is_the_reference(events_client: object, aggregation: Aggregation) -> None:
    """usage_totals reads exactly the window's events (start included, end excluded)."""
    meter = f"ledger_{aggregation.value}"
    start, end = RECENT, RECENT + 1000 * US  # recent: older events would be past their retention
    samples = [(start - 1, "before", 100.0), (start, "e1", 4.0), (start + 5 * US, "e3", 2.5),
               (start + 5 * US, "e2", 7.0), (end - 1, "e4", 1.0), (end, "after", 50.0)]
    EventStore(events_client, sole_writer=True).insert(  # type: ignore[arg-type]
        [row(key, at, quantity, meter=meter) for at, key, quantity in samples]
    )
    totals = usage_totals(events_client, "org_1", meter, start, end, "user")  # type: ignore[arg-type]
    inside = [s for s in samples if start <= s[0] < end]
    assert totals.count == 4
    assert totals.value(aggregation, 1000.0) == pytest.approx(reference(inside, aggregation, 1000.0))


def test_many_windows_are_read_in_one_go_each_exactly(events_client: object) -> None:
    meter = "ledger_many"
    start, end = RECENT, RECENT + 1000 * US
    samples = [("org_1", start, 1.0), ("org_1", start + 10 * US, 2.0), ("org_2", start + 10 * US, 4.0),
               ("org_2", end, 8.0)]
    EventStore(events_client, sole_writer=True).insert(  # type: ignore[arg-type]
        [row(f"k{i}", at, quantity, subject=who, meter=meter) for i, (who, at, quantity) in enumerate(samples)]
    )
    windows = [("org_1", start, end), ("org_1", start, start + 10 * US), ("org_2", start, end), ("org_3", start, end)]
    totals = usage_totals_of_many(events_client, meter, windows)  # type: ignore[arg-type]
    assert [(t.count, t.sum) for t in totals] == [(2, 3.0), (1, 1.0), (1, 4.0), (0, 0.0)]
    assert totals == [usage_totals(events_client, who, meter, a, b) for who, a, b in windows]  # type: ignore[arg-type]
