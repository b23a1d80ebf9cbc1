"""The pipeline on domain values, on the embedded engine in this process (no server, no transport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from openspanner.catalog import MeterCatalog
from openspanner.domain.events import BulkAnswer, BulkRequest, Outcome, RefusedEvent, UsageEvent
from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter
from openspanner.errors import InvalidArgument
from openspanner.ingest.batch import BatchSettings
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.metrics import Metrics
from openspanner.storage.bulk_requests import BulkRequestStore
from openspanner.storage.client import Storage
from openspanner.storage.meters import MeterStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at

T = TypeVar("T")
METER = Meter(
    "calls", Aggregation.SUM, event_retention_days=30,
    dimensions=(
        Dimension("region", DimensionType.STRING),
        Dimension("cached", DimensionType.BOOLEAN, required=False),
        Dimension("tokens", DimensionType.NUMBER, required=False),
    ),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with storage_at(tmp_path_factory.mktemp("pipeline"), "pipeline") as client:
        migrate(client)
        MeterStore(client).save(METER)
        yield client


Run = Callable[[Callable[[IngestPipeline], Awaitable[T]]], T]


@pytest.fixture
def run(client: Any) -> Run[Any]:
    """Run `body` against a started pipeline on the module's storage, then drain it."""

    def run_with(body: Callable[[IngestPipeline], Awaitable[T]]) -> T:
        async def main() -> T:
            storage = Storage(client, threads=2)
            catalog = MeterCatalog(storage, refresh_seconds=60)
            await catalog.start()
            pipeline = IngestPipeline(
                storage, catalog, 1000, 1, BatchSettings(), 1000, Metrics(), sole_writer=True
            )
            pipeline.start()
            try:
                return await body(pipeline)
            finally:
                await pipeline.close(time.monotonic() + 10)
                catalog.stop()

        return asyncio.run(main())

    return run_with


# A minute ago, the same for every event of the module: a resend says the same time.
AT_US = time.time_ns() // 1000 - 60_000_000


def event(key: str, quantity: float = 1.0, **metadata: Any) -> UsageEvent:
    return UsageEvent(key, "org", "calls", quantity, AT_US, {"region": "eu", **metadata})


def outcomes(answer: BulkAnswer) -> list[tuple[int, str, Outcome]]:
    return [(r.index, r.idempotency_key, r.outcome) for r in answer.results]


def test_a_single_event_is_answered_with_the_event_as_stored_typed_by_its_meter(run: Run[Any]) -> None:
    async def body(pipeline: IngestPipeline) -> Any:
        first = await pipeline.record_one(event("one-1", 2.0, cached=True, tokens=12.0))
        again = await pipeline.record_one(event("one-1", 3.0, cached=True, tokens=12.0))
        return first, again

    first, again = run(body)
    assert first.outcome is Outcome.ACCEPTED and first.event is not None
    assert (first.event.meter, first.event.quantity) == ("calls", 2.0)
    assert first.event.metadata == {"region": "eu", "cached": True, "tokens": 12.0}
    assert again.outcome is Outcome.DUPLICATE and again.event == first.event
    assert again.conflicting_fields == ["quantity"]


def test_a_refused_event_of_one_call_raises_its_typed_error(run: Run[Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        run(lambda pipeline: pipeline.record_one(event("bad-1", float("inf"))))
    assert caught.value.field == "quantity"


def test_an_event_its_edge_could_not_read_is_rejected_at_its_index(run: Run[Any], client: Any) -> None:
    unreadable = RefusedEvent("unread-2", "org", "calls", InvalidArgument("nanos out of range", field="timestamp"))
    request = BulkRequest([event("unread-1"), unreadable, event("unread-3")])
    answer = run(lambda pipeline: pipeline.record_bulk(request))
    assert outcomes(answer) == [
        (0, "unread-1", Outcome.ACCEPTED), (1, "unread-2", Outcome.REJECTED), (2, "unread-3", Outcome.ACCEPTED)
    ]
    assert answer.results[1].error is unreadable.error
    assert (answer.accepted, answer.duplicates, answer.rejected) == (2, 0, 1)


def test_a_repeated_keyed_call_replays_its_first_answer_and_another_body_is_refused(
    run: Run[Any], client: Any
) -> None:
    events = [event("keyed-1"), event("keyed-2", region="x" * 2000)]

    async def body(pipeline: IngestPipeline) -> tuple[BulkAnswer, BulkAnswer, BulkAnswer]:
        first = await pipeline.record_bulk(BulkRequest(events, "batch-a"))
        again = await pipeline.record_bulk(BulkRequest(list(events), "batch-a"))
        other = BulkRequest([event("keyed-3")], "batch-a")
        with pytest.raises(InvalidArgument, match="different batch") as caught:
            await pipeline.record_bulk(other)
        assert caught.value.field == "idempotency_key"
        replayed = await pipeline.record_bulk(other, replay_reused_key=True)
        return first, again, replayed

    first, again, replayed = run(body)
    assert outcomes(first) == [(0, "keyed-1", Outcome.ACCEPTED), (1, "keyed-2", Outcome.REJECTED)]
    for answer in (again, replayed):
        assert outcomes(answer) == outcomes(first)
        error = answer.results[1].error
        assert isinstance(error, InvalidArgument) and error.field == "metadata.region"
    stored = client.query("SELECT idempotency_key FROM usage_events WHERE meter = 'calls'").result_rows
    keys = {row[0] for row in stored}
    assert "keyed-1" in keys and "keyed-3" not in keys, "the other body, refused then replayed, stored nothing"


def test_an_answer_stored_in_an_older_form_is_judged_again_without_counting_twice(
    run: Run[Any], client: Any
) -> None:
    events = [event("old-1"), event("old-2")]
    run(lambda pipeline: pipeline.record_bulk(BulkRequest(events)))
    # An answer written by an earlier version (a serialized protobuf) under this key.
    BulkRequestStore(client, 1).save("batch-old", "0" * 64, b"\x10\x02")
    answer = run(lambda pipeline: pipeline.record_bulk(BulkRequest(events, "batch-old")))
    assert outcomes(answer) == [(0, "old-1", Outcome.DUPLICATE), (1, "old-2", Outcome.DUPLICATE)]
    # Now stored in this version's form: replayed as it is.
    assert outcomes(run(lambda pipeline: pipeline.record_bulk(BulkRequest(events, "batch-old")))) == outcomes(answer)


def test_validate_only_answers_without_storing(run: Run[Any], client: Any) -> None:
    answer = run(lambda pipeline: pipeline.record_bulk(BulkRequest([event("dry-1")], validate_only=True)))
    assert outcomes(answer) == [(0, "dry-1", Outcome.ACCEPTED)]
    assert not client.query("SELECT 1 FROM usage_events WHERE idempotency_key = 'dry-1'").result_rows


