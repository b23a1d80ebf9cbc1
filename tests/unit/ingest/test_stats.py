"""The dashboard's in-memory ingest stats: rates over the last minute, totals over the last day,
and bounds that bad input cannot grow."""

from __future__ import annotations

from openspanner.errors import InvalidArgument
from openspanner.ingest.stats import DAY_MINUTES, MAX_EXAMPLES, MAX_REJECTION_KINDS, RATE_WINDOW_SECONDS, IngestStats


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rates_are_per_second_over_the_last_minute_per_meter_and_path() -> None:
    clock = Clock()
    stats = IngestStats(clock)
    clock.now += 2 * RATE_WINDOW_SECONDS  # up long enough: rates are over the whole window
    stats.record("calls", "unary", accepted=60, duplicates=30)
    stats.record("calls", "bulk", rejected=6)
    stats.record("calls", "unary")  # nothing: no row of its own
    assert stats.rates() == [("calls", "bulk", 0.0, 0.0, 0.1), ("calls", "unary", 1.0, 0.5, 0.0)]
    clock.now += RATE_WINDOW_SECONDS
    assert stats.rates() == []  # the slots have left the window
    assert stats.totals("calls", 3600) == (60, 30, 6)  # still within the day


def test_a_server_up_for_seconds_divides_by_its_uptime() -> None:
    clock = Clock()
    stats = IngestStats(clock)
    clock.now += 10
    stats.record("calls", "unary", accepted=50)
    assert stats.rates() == [("calls", "unary", 5.0, 0.0, 0.0)]


def test_totals_cover_the_asked_span_of_minutes() -> None:
    clock = Clock(60_000.0)
    stats = IngestStats(clock)
    stats.record("calls", "unary", accepted=1)
    clock.now += 30 * 60
    stats.record("calls", "unary", accepted=2, duplicates=1)
    assert stats.totals("calls", 10 * 60) == (2, 1, 0)
    assert stats.totals("calls", 60 * 60) == (3, 1, 0)
    assert stats.totals("other", 60 * 60) == (0, 0, 0)
    clock.now += 24 * 3600
    stats.record("calls", "unary", accepted=4)
    assert stats.totals("calls", 24 * 3600) == (4, 0, 0)


def test_a_day_of_minutes_is_kept_and_no_more() -> None:
    clock = Clock(60_000.0)
    stats = IngestStats(clock)
    for _ in range(DAY_MINUTES + 30):
        stats.record("calls", "unary", accepted=1)
        clock.now += 60
    assert stats.totals("calls", 10 * DAY_MINUTES * 60) == (DAY_MINUTES + 1, 0, 0)


def test_rejections_keep_the_latest_examples_and_a_bounded_number_of_kinds() -> None:
    stats = IngestStats(Clock())
    for n in range(MAX_EXAMPLES + 3):
        stats.reject("calls", InvalidArgument("must be finite", field="quantity"), f"k{n}", "org_1")
    (kind,) = stats.rejection_kinds()
    assert (kind.meter, kind.field, kind.rule, kind.count) == ("calls", "quantity", "must be finite", MAX_EXAMPLES + 3)
    assert [e.idempotency_key for e in kind.latest] == [f"k{n}" for n in range(3, MAX_EXAMPLES + 3)]
    for n in range(MAX_REJECTION_KINDS + 10):
        stats.reject("calls", InvalidArgument(f"rule {n}", field="quantity"), "k", "org_1")
    assert len(stats.rejection_kinds()) == MAX_REJECTION_KINDS
    assert stats.rejection_kinds()[0] is kind  # the most frequent first


def test_open_streams_are_listed_until_closed_with_their_latency_quantiles() -> None:
    stats = IngestStats(Clock())
    first, second = stats.open_stream("usage_stream", ["a"]), stats.open_stream("device_telemetry", ["b", "c"])
    assert first.id != second.id and second.meters == ("b", "c")
    assert first.latency_ms(0.5) is None
    first.latencies_ms.extend([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (first.latency_ms(0.5), first.latency_ms(0.99)) == (3.0, 5.0)
    stats.close_stream(first)
    assert stats.open_streams() == [second]
