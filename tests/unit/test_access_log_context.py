"""The transport-neutral access log (access_log.py): who called, and what is counted."""

from __future__ import annotations

from openspanner.access_log import count_call, identifying, note_key
from openspanner.metrics import Metrics


def test_a_key_is_noted_only_on_the_call_in_progress() -> None:
    note_key("outside")  # no call: nothing to note on, and no error
    with identifying() as outer:
        assert outer.key_id is None
        with identifying() as inner:
            note_key("k1")
        note_key("k2")
    assert (inner.key_id, outer.key_id) == ("k1", "k2")


def sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_count_call_times_only_what_is_latency() -> None:
    metrics = Metrics()
    count_call(metrics, "grpc", "/m/Unary", "OK", 12.0, timed=True)
    count_call(metrics, "grpc", "/m/Stream", "CANCELLED", 60_000.0, timed=False)
    unary = {"transport": "grpc", "method": "/m/Unary"}
    assert sample(metrics, "openspanner_requests_total", {**unary, "status": "OK"}) == 1
    assert sample(metrics, "openspanner_request_seconds_sum", unary) == 0.012
    stream = {"transport": "grpc", "method": "/m/Stream"}
    assert sample(metrics, "openspanner_requests_total", {**stream, "status": "CANCELLED"}) == 1
    assert sample(metrics, "openspanner_request_seconds_count", stream) is None
