"""What the write paths count, under which labels: the Prometheus counters and the dashboard's stats
are fed by one call, and their labels stay bounded by what operators define."""

from __future__ import annotations

import pytest

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument, NotFound, StorageRefused, Unavailable
from openspanner.ingest.batch import RETRY, BatchOutcome
from openspanner.ingest.counting import UNDECLARED_DIMENSION, UNKNOWN_METER, IngestCounter, field_label
from openspanner.ingest.stats import IngestStats
from openspanner.ingest.write import WriteOutcome
from openspanner.metrics import Metrics
from openspanner.storage.events import EventRow

ACCEPTED, DUPLICATE = WriteOutcome.ACCEPTED, WriteOutcome.DUPLICATE
METER = Meter("calls", Aggregation.SUM, dimensions=(Dimension("region", DimensionType.STRING),))


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def counter(metrics: Metrics) -> IngestCounter:
    return IngestCounter(IngestStats(clock=Clock()), metrics)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def events(metrics: Metrics, meter: str, path: str, outcome: str) -> float:
    return sample(metrics, "openspanner_events_total", meter=meter, path=path, outcome=outcome)


def test_answers_are_counted_per_meter_path_and_outcome(metrics: Metrics, counter: IngestCounter) -> None:
    unstored: list[BatchOutcome] = [RETRY, Unavailable("storage is down")]
    refused = StorageRefused("storage refused this event", field="subject")
    counter.answered("bulk", "calls", [ACCEPTED, ACCEPTED, DUPLICATE, *unstored, refused])
    assert [events(metrics, "calls", "bulk", o) for o in ("accepted", "duplicate", "retry", "rejected")] == [2, 1, 2, 0]
    # Storage's refusals are counted by the caller, as rejections (refused_by_storage).
    assert counter.stats.totals("calls", 60) == (2, 1, 0)
    counter.answered("unary", "calls", [ACCEPTED])
    assert events(metrics, "calls", "unary", "accepted") == 1 and events(metrics, "calls", "bulk", "accepted") == 2


def test_a_message_of_several_meters_is_counted_under_each_rows_meter(
    metrics: Metrics, counter: IngestCounter
) -> None:
    counter.answered("usage_stream", ["a", "b", "a", "b", "b"], [ACCEPTED, ACCEPTED, DUPLICATE, ACCEPTED, RETRY])
    assert events(metrics, "a", "usage_stream", "accepted") == 1
    assert events(metrics, "a", "usage_stream", "duplicate") == 1
    assert events(metrics, "b", "usage_stream", "accepted") == 2 and events(metrics, "b", "usage_stream", "retry") == 1
    assert counter.stats.meters() == ["a", "b"]
    counter.answered("usage_stream", ["a", "a"], [ACCEPTED, ACCEPTED])  # one meter for all: the short way
    assert events(metrics, "a", "usage_stream", "accepted") == 3


def test_an_event_of_an_unknown_meter_is_counted_under_unknown(metrics: Metrics, counter: IngestCounter) -> None:
    error = NotFound("meter: no meter named made_up_1", field="meter")
    counter.rejected("unary", None, error, "k1", "org_1")
    counter.rejected("unary", None, NotFound("meter: no meter named made_up_2", field="meter"), "k2", "org_1")
    assert UNKNOWN_METER == "unknown"
    assert events(metrics, "unknown", "unary", "rejected") == 2
    assert sample(metrics, "openspanner_rejections_total", meter="unknown", field="meter", code="not_found") == 2
    assert counter.stats.meters() == ["unknown"]
    assert counter.stats.totals("unknown", 60) == (0, 0, 2)
    (first, second) = counter.stats.rejection_kinds()
    assert (first.meter, first.field, first.count) == ("unknown", "meter", 1)
    assert [e.idempotency_key for e in (*first.latest, *second.latest)] == ["k1", "k2"]


def test_a_rejection_is_labelled_by_meter_field_and_code(metrics: Metrics, counter: IngestCounter) -> None:
    counter.rejected("bulk", METER, InvalidArgument("must be finite", field="quantity"), "k", "org_1")
    counter.rejected("bulk", METER, InvalidArgument("not declared", field="metadata.secret_key_42"), "k", "org_1")
    counter.rejected("bulk", METER, InvalidArgument("must be text", field="metadata.region"), "k", "org_1")
    rejection = "openspanner_rejections_total"
    assert sample(metrics, rejection, meter="calls", field="quantity", code="invalid_argument") == 1
    assert sample(metrics, rejection, meter="calls", field=UNDECLARED_DIMENSION, code="invalid_argument") == 1
    assert sample(metrics, rejection, meter="calls", field="metadata.region", code="invalid_argument") == 1
    assert events(metrics, "calls", "bulk", "rejected") == 3


@pytest.mark.parametrize(
    ("field", "meter", "label"),
    [
        ("quantity", METER, "quantity"),
        ("metadata.region", METER, "metadata.region"),
        ("metadata.anything", METER, "metadata.*"),
        ("metadata.region", None, "metadata.*"),
        ("", None, ""),
    ],
)
def test_field_labels_name_only_declared_dimensions(field: str, meter: Meter | None, label: str) -> None:
    assert field_label(field, meter) == label


def test_events_storage_refused_are_rejections_of_their_meter(metrics: Metrics, counter: IngestCounter) -> None:
    rows = [EventRow("calls", key, "org_1", 1, 1.0, {}, 30, 1, 1) for key in ("k1", "k2", "k3")]
    refused = StorageRefused("storage refused this event (VIOLATED_CONSTRAINT)", field="subject")
    counter.refused_by_storage("usage_stream", rows, {"calls": METER}, [ACCEPTED, refused, DUPLICATE])
    assert sample(metrics, "openspanner_rejections_total", meter="calls", field="subject", code="invalid_argument") == 1
    assert events(metrics, "calls", "usage_stream", "rejected") == 1
    (kind,) = counter.stats.rejection_kinds()
    assert [example.idempotency_key for example in kind.latest] == ["k2"]
    counter.refused_by_storage("usage_stream", rows, {"calls": METER}, [ACCEPTED, ACCEPTED, DUPLICATE])
    assert events(metrics, "calls", "usage_stream", "rejected") == 1


def test_streams_open_and_close_on_their_type_gauge_and_acknowledgements_are_timed(
    metrics: Metrics, counter: IngestCounter
) -> None:
    counter.stream_types(["usage_stream", "device_telemetry"])
    # Shown at 0 (present, not merely absent) before the first stream opens.
    assert metrics.registry.get_sample_value("openspanner_open_streams", {"type": "device_telemetry"}) == 0
    stream = counter.stream_opened("usage_stream", ["calls"])
    assert sample(metrics, "openspanner_open_streams", type="usage_stream") == 1
    counter.acknowledged("usage_stream", 0.02, stream, events=500)
    counter.acknowledged("unary", 0.001)
    assert stream.events_acknowledged == 500 and list(stream.latencies_ms) == [20.0]
    assert sample(metrics, "openspanner_ack_seconds_count", path="usage_stream") == 1
    assert sample(metrics, "openspanner_ack_seconds_count", path="unary") == 1
    assert [s.id for s in counter.stats.open_streams()] == [stream.id]
    counter.stream_closed(stream)
    assert sample(metrics, "openspanner_open_streams", type="usage_stream") == 0
    assert counter.stats.open_streams() == []


def test_each_server_counts_in_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    IngestCounter(IngestStats(), first).answered("unary", "calls", [ACCEPTED])
    assert events(first, "calls", "unary", "accepted") == 1 and events(second, "calls", "unary", "accepted") == 0
    assert b'openspanner_events_total{meter="calls",outcome="accepted",path="unary"} 1.0' in first.exposition()
    second.watch_pending(lambda: 7)
    assert sample(second, "openspanner_pending_events") == 7
