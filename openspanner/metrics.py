"""The server's Prometheus metrics, served at /metrics on the HTTP port.

One `Metrics` per server, with its own registry: every part of the server
that counts something is handed this object, so a test (or a second server
in one process) never sees another's numbers. Label values are bounded by
what the operator defines (meters, paths, methods), never by client input:
a field name of a rejection comes from our validator (a metadata key the
meter does not declare is `metadata.*`), a meter name is used only once the
meter exists (else `unknown`, see ingest/counting.py), and an HTTP request
is named by its route's template.

The Grafana dashboard for these series is docs/grafana/openspanner.json.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds: from a fast embedded insert (~1 ms) to a storage retry deadline.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Events per written block, up to the largest batch_max_events allowed.
BATCH_SIZE_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "openspanner_events", "Events answered, by meter, write path and outcome",
            ["meter", "path", "outcome"], registry=r,
        )
        self.rejections = Counter(
            "openspanner_rejections",
            "Events refused, by meter (\"unknown\" when it does not exist), the field named in the answer"
            " and the rejection's code",
            ["meter", "field", "code"], registry=r,
        )
        self.batch_events = Histogram(
            "openspanner_batch_events", "Events per block written to storage", buckets=BATCH_SIZE_BUCKETS, registry=r,
        )
        self.lookup_seconds = Histogram(
            "openspanner_duplicate_lookup_seconds", "Duplicate look-up per written block",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.insert_seconds = Histogram(
            "openspanner_insert_seconds", "Storage insert per written block", buckets=LATENCY_BUCKETS, registry=r,
        )
        self.ack_seconds = Histogram(
            "openspanner_ack_seconds", "From an event's arrival to its answer, by write path",
            ["path"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.storage_errors = Counter(
            "openspanner_storage_errors", "Failed storage calls, by kind and whether they are retried",
            ["kind", "retryable"], registry=r,
        )
        self.storage_retries = Counter(
            "openspanner_storage_retries", "Block writes attempted again after a retryable error", registry=r,
        )
        self.query_seconds = Histogram(
            "openspanner_query_seconds", "Query answer time, by query", ["query"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.requests = Counter(
            "openspanner_requests", "Calls answered, by transport, method and status",
            ["transport", "method", "status"], registry=r,
        )
        self.request_seconds = Histogram(
            "openspanner_request_seconds", "Call duration, by transport and method",
            ["transport", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.pending_events = Gauge(
            "openspanner_pending_events", "Events submitted and not yet answered (all write paths)", registry=r,
        )
        # Changed when a stream opens or ends, never per event.
        self.open_streams = Gauge(
            "openspanner_open_streams", "Ingest streams open now, by stream type", ["type"], registry=r,
        )

    def watch_pending(self, pending: Callable[[], float]) -> None:
        """A gauge read at scrape time, so the data path never updates it."""
        self.pending_events.set_function(pending)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
