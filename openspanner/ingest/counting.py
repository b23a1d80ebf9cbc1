"""Where every write path reports what it answered: one call feeds both counts.

The dashboard's in-memory IngestStats and the Prometheus counters of
metrics.py count the same answers, so each write path reports them here
once (pipeline.py per unary or bulk call, streams.py per stream message)
and neither can drift from the other. Accepted, duplicate and retry answers
are counted per meter with list.count, so a 20,000-event stream message
costs no Python step per event; only refused events, which carry their own
field, are counted one by one.

Prometheus labels stay bounded by what operators define: a meter is named
only once it passed meter look-up (else UNKNOWN_METER), and a metadata field
only when the meter declares that dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from openspanner.domain.meters import Meter
from openspanner.errors import OpenSpannerError, status_name
from openspanner.ingest.batch import BatchOutcome, is_refused, is_unstored
from openspanner.ingest.stats import IngestStats, OpenStream
from openspanner.ingest.write import WriteOutcome
from openspanner.metrics import Metrics
from openspanner.storage.events import EventRow

# The meter label of an event refused because its meter does not exist.
UNKNOWN_METER = "unknown"
# The field label of a metadata key the meter does not declare (its name is client input).
UNDECLARED_DIMENSION = "metadata.*"
_METADATA = "metadata."


class IngestCounter:
    def __init__(self, stats: IngestStats, metrics: Metrics) -> None:
        self.stats = stats
        self._events = metrics.events
        self._rejections = metrics.rejections
        self._ack_seconds = metrics.ack_seconds
        self._open_streams = metrics.open_streams

    def answered(self, path: str, meters: Sequence[str] | str, outcomes: Sequence[BatchOutcome]) -> None:
        """The answers of submitted (validated) rows; `meters`: each row's meter, or one for all."""
        if not outcomes:
            return
        if isinstance(meters, str):
            self._count(path, meters, outcomes)
        elif len(set(meters)) == 1:
            self._count(path, meters[0], outcomes)
        else:
            by_meter: dict[str, list[BatchOutcome]] = {}
            for meter, outcome in zip(meters, outcomes, strict=True):
                by_meter.setdefault(meter, []).append(outcome)
            for meter, own in by_meter.items():
                self._count(path, meter, own)

    def _count(self, path: str, meter: str, outcomes: Sequence[BatchOutcome]) -> None:
        accepted = outcomes.count(WriteOutcome.ACCEPTED)
        duplicates = outcomes.count(WriteOutcome.DUPLICATE)
        # Rare: storage did not store some. Those it refused are counted as rejections by their caller.
        retry = sum(map(is_unstored, outcomes)) if accepted + duplicates < len(outcomes) else 0
        self.stats.record(meter, path, accepted=accepted, duplicates=duplicates)
        for outcome, count in (("accepted", accepted), ("duplicate", duplicates), ("retry", retry)):
            if count:
                self._events.labels(meter, path, outcome).inc(count)

    def rejected(
        self, path: str, meter: Meter | None, error: OpenSpannerError, idempotency_key: str, subject: str
    ) -> None:
        """One refused event; `meter` is the meter it named, if that exists.

        An unknown meter is counted as UNKNOWN_METER in the dashboard's stats
        too: made-up meter names would otherwise each get rings of their own.
        The name sent stays visible in the error message of the examples.
        """
        label = meter.name if meter is not None else UNKNOWN_METER
        self.stats.reject(label, error, idempotency_key, subject)
        self.stats.record(label, path, rejected=1)
        self._events.labels(label, path, "rejected").inc()
        self._rejections.labels(label, field_label(error.field, meter), status_name(error).lower()).inc()

    def refused_by_storage(
        self, path: str, rows: Sequence[EventRow], meters: Mapping[str, Meter | None], outcomes: Sequence[BatchOutcome]
    ) -> None:
        """The events of a stream message that storage refused, each a rejection with itself as an example."""
        if outcomes.count(WriteOutcome.ACCEPTED) + outcomes.count(WriteOutcome.DUPLICATE) == len(outcomes):
            return  # the usual message, told without a Python step per event
        for row, outcome in zip(rows, outcomes, strict=True):
            if is_refused(outcome):
                self.rejected(path, meters.get(row.meter), outcome, row.idempotency_key, row.subject)

    def acknowledged(self, path: str, seconds: float, stream: OpenStream | None = None, events: int = 0) -> None:
        """How long an answer took from the events' arrival; a stream's shows on the dashboard too."""
        self._ack_seconds.labels(path).observe(seconds)
        if stream is not None:
            stream.events_acknowledged += events
            stream.latencies_ms.append(seconds * 1000)

    def stream_opened(self, kind: str, meters: Iterable[str]) -> OpenStream:
        self._open_streams.labels(kind).inc()
        return self.stats.open_stream(kind, meters)

    def stream_closed(self, stream: OpenStream) -> None:
        self._open_streams.labels(stream.kind).dec()
        self.stats.close_stream(stream)

    def stream_types(self, kinds: Iterable[str]) -> None:
        """Show each stream type's gauge at 0 before its first stream opens."""
        for kind in kinds:
            self._open_streams.labels(kind)


def field_label(field: str, meter: Meter | None) -> str:
    """The field of a rejection as a bounded label: an undeclared metadata key is not named."""
    if field.startswith(_METADATA) and (meter is None or field[len(_METADATA):] not in meter.dimensions_by_name):
        return UNDECLARED_DIMENSION
    return field
