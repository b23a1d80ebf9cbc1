"""The batcher on the real embedded engine, in this process, while storage refuses or fails.

The refusals are the engine's own (tests/support/refusals.py); the full disk is a small tmpfs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from openspanner.errors import StorageRefused, Unavailable
from openspanner.ingest.batch import Batcher, BatchSettings
from openspanner.ingest.write import EventWriter, WriteOutcome
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.schema import migrate
from tests.harness import storage_at
from tests.support.refusals import METER, POISON, refuse_poison
from tests.support.small_disk import SmallDisk, small_disk  # noqa: F401  (the fixture)

CALL_TIMEOUT = 30.0


def row(key: str, subject: str = "org_1") -> EventRow:
    now_us = time.time_ns() // 1000
    return EventRow(METER, key, subject, now_us, 1.0, {}, 30, now_us, now_us)


def write_through_batcher(client: Any, rows: list[EventRow], metrics: Metrics) -> list[Any]:
    """The outcomes a server's batcher answers for `rows` submitted at once."""

    async def submit() -> list[Any]:
        storage = Storage(client, threads=2)
        batcher = Batcher(
            storage, EventWriter(EventStore(client, sole_writer=True)), BatchSettings(retry_seconds=600), metrics
        )
        batcher.start()
        try:
            return await asyncio.wait_for(batcher.submit(rows), CALL_TIMEOUT)
        finally:
            await batcher.close()

    return asyncio.run(submit())


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_the_batcher_splits_a_block_down_to_the_refused_event_and_counts_each_failure(tmp_path: Path) -> None:
    metrics = Metrics()
    rows = [row(f"k{i}", POISON if i == 5 else "org_1") for i in range(8)]
    with storage_at(tmp_path, "split") as client:
        refuse_poison(client)
        outcomes = write_through_batcher(client, rows, metrics)
        stored = client.query("SELECT idempotency_key FROM usage_events FINAL ORDER BY idempotency_key").result_rows
    assert outcomes[:5] + outcomes[6:] == [WriteOutcome.ACCEPTED] * 7
    assert isinstance(outcomes[5], StorageRefused) and outcomes[5].field == "subject"
    assert [key for (key,) in stored] == [f"k{i}" for i in range(8) if i != 5]
    # 8 -> 4 + 4: [0..4) written; [4..8) -> [4,5) + [6,8); [4,5] written, [5] refused, [6,8) written.
    assert sample(metrics, "openspanner_storage_errors_total", kind="rejected_data", retryable="false") == 4
    assert sample(metrics, "openspanner_storage_retries_total") == 0
    assert sample(metrics, "openspanner_batch_events_count") == 3
    assert sample(metrics, "openspanner_batch_events_sum") == 7
    assert sample(metrics, "openspanner_insert_seconds_count") == 3
    assert sample(metrics, "openspanner_duplicate_lookup_seconds_count") == 3


def test_the_batcher_answers_a_missing_table_unavailable_at_once_without_retrying(tmp_path: Path) -> None:
    metrics = Metrics()
    with storage_at(tmp_path, "missing") as client:
        migrate(client)
        client.command("RENAME TABLE usage_events TO usage_events_moved_away")
        outcomes = write_through_batcher(client, [row("a"), row("b")], metrics)
    assert all(isinstance(o, Unavailable) for o in outcomes) and outcomes[0] is outcomes[1]
    assert "UNKNOWN_TABLE" in outcomes[0].message and "an operator must fix storage" in outcomes[0].message
    assert sample(metrics, "openspanner_storage_errors_total", kind="schema", retryable="false") == 1
    assert sample(metrics, "openspanner_storage_retries_total") == 0


def test_the_batcher_retries_a_full_disk_with_backoff_until_it_has_room(small_disk: SmallDisk) -> None:  # noqa: F811
    metrics = Metrics()
    with storage_at(small_disk.data_dir, "full") as client:
        migrate(client)
        small_disk.fill()

        async def write_while_full_then_free() -> list[Any]:
            storage = Storage(client, threads=2)
            writer = EventWriter(EventStore(client, sole_writer=True))
            batcher = Batcher(storage, writer, BatchSettings(retry_seconds=600), metrics)
            batcher.start()
            written = asyncio.ensure_future(batcher.submit([row("a"), row("b")]))
            while sample(metrics, "openspanner_storage_retries_total") < 2:
                await asyncio.sleep(0.05)
            small_disk.free()
            try:
                return await asyncio.wait_for(written, CALL_TIMEOUT)
            finally:
                await batcher.close()

        outcomes = asyncio.run(write_while_full_then_free())
    assert outcomes == [WriteOutcome.ACCEPTED] * 2
    assert sample(metrics, "openspanner_storage_errors_total", kind="disk", retryable="true") >= 2
    assert sample(metrics, "openspanner_batch_events_count") == 1
