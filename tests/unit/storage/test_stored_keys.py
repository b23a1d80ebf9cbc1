"""The duplicate look-up of the event store on the in-process engine: by range, by hash, by key table."""

from __future__ import annotations

from pathlib import Path

from openspanner.storage.events import NO_CLIENT_TIME, EventRow, EventStore, key_hashes
from openspanner.storage.schema import migrate
from tests.harness import storage_at
from tests.support.times import start_of_this_hour_us


def test_the_look_up_finds_the_same_events_by_range_and_by_hash(tmp_path: Path) -> None:
    """Both ways of finding stored events (reading the batch's time ranges whole, or
    searching them by key hash once they are crowded) answer exactly the stored subset."""
    start_us = start_of_this_hour_us() - 3600 * 1_000_000
    stored = [(start_us + i * 10, f"k{i}") for i in range(3000)] + [(NO_CLIENT_TIME, f"timeless{i}") for i in range(5)]
    batch = (
        stored[1000:1100] + [stored[0], stored[2999]]  # stored: retries, spanning all 3,000 timed events
        + [(start_us + i * 10 + 5, f"new{i}") for i in range(1000, 1100)]  # new, between stored ones
        + [(start_us + 10_000, "k1001"), (start_us + 10_020, "k1000")]  # a stored time with another stored key
        + [stored[-1], (NO_CLIENT_TIME, "timeless-new")]  # timeless: searched by hash
    )
    expected = {*stored[1000:1100], stored[0], stored[2999], stored[-1]}
    with storage_at(tmp_path, "lookups") as client:
        migrate(client)
        EventStore(client).insert(
            [EventRow("m", key, "org", at_us or start_us, 1.0, {}, 30, at_us, start_us) for at_us, key in stored]
        )
        roomy = EventStore(client, range_read_min_rows=1_000_000)
        crowded = EventStore(client, range_read_min_rows=10)
        timed = [identity for identity in batch if identity[0] != NO_CLIENT_TIME]
        assert roomy.stored_identities("m", timed) == expected - {stored[-1]}
        assert "m" not in roomy._crowded_until  # read the ranges whole
        assert crowded.stored_identities("m", timed) == expected - {stored[-1]}
        assert "m" in crowded._crowded_until  # 3,000 rows in range: searched by hash
        assert roomy.stored_identities("m", batch) == expected
        assert roomy.stored_identities("other", batch) == set()


def test_stored_keys_are_found_whatever_their_time_with_the_filter_or_without(tmp_path: Path) -> None:
    """The sole writer's filter rules keys out, a server sharing ClickHouse looks every key up:
    both find exactly the stored keys, resent at their own time (time-local) or another (key table)."""
    start_us = start_of_this_hour_us() - 3600 * 1_000_000
    stored = [EventRow("m", f"k{i}", "org", start_us + i, 1.0, {}, 30, start_us + i, start_us) for i in range(500)]
    stored.append(EventRow("m", "timeless", "org", start_us, 1.0, {}, 30, NO_CLIENT_TIME, start_us))

    def resent(row: EventRow, at_us: int) -> EventRow:
        return EventRow(row.meter, row.idempotency_key, row.subject, at_us, 2.0, {}, 30, at_us, at_us)

    small_batch = [resent(stored[7], start_us + 99_000_000), resent(stored[-1], start_us + 5), stored[3]]
    small_batch += [EventRow("m", f"new{i}", "org", start_us, 1.0, {}, 30, start_us, start_us) for i in range(20)]
    resend = stored[:400] + [resent(row, start_us + 7) for row in stored[400:]] + small_batch[3:]
    with storage_at(tmp_path, "keys") as client:
        migrate(client)
        writer_store = EventStore(client, sole_writer=True)
        writer_store.insert(stored)
        writer_store.remember("m", key_hashes(stored))
        for store in (writer_store, EventStore(client, sole_writer=True), EventStore(client, sole_writer=False)):
            assert store.stored_keys("m", small_batch, key_hashes(small_batch)) == {"k7", "timeless", "k3"}
            expected = {row.idempotency_key for row in stored}
            assert store.stored_keys("m", resend, key_hashes(resend)) == expected
            assert store.stored_keys("other", resend, key_hashes(resend)) == set()


def test_a_server_sharing_clickhouse_finds_keys_another_server_stored_after_its_filter_loaded(
    tmp_path: Path,
) -> None:
    """Two stores on one ClickHouse, as two servers: each catches up on the other's inserts before deciding."""
    start_us = start_of_this_hour_us()

    def rows(prefix: str, count: int) -> list[EventRow]:
        return [EventRow("m", f"{prefix}{i}", "org", start_us, 1.0, {}, 30, start_us, start_us) for i in range(count)]

    with storage_at(tmp_path, "shared") as client:
        migrate(client)
        first, second = EventStore(client), EventStore(client)
        early = rows("early-", 10)
        second.insert(early)
        assert first.stored_keys("m", early, key_hashes(early)) == {row.idempotency_key for row in early}
        for wave in range(3):
            late = rows(f"late-{wave}-", 100)
            second.insert(late)
            second.remember("m", key_hashes(late))
            if wave == 1:
                client.command("OPTIMIZE TABLE idempotency_keys FINAL")  # merged parts: blocks already read
            assert first.stored_keys("m", late, key_hashes(late)) == {row.idempotency_key for row in late}
        new = rows("new-", 50)
        assert first.stored_keys("m", new, key_hashes(new)) == set()
        assert second.stored_keys("m", new, key_hashes(new)) == set()
