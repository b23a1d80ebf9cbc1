"""An acknowledged event is stored once: across restarts, retries and racing callers."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.protobuf import json_format

from openspanner.storage.schema import MIGRATIONS, MIGRATIONS_TABLE_DDL, render
from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import Client, running_server, storage, storage_at, stored_totals
from tests.support.times import start_of_this_hour_us

METER = {
    "name": "api_requests",
    "aggregation": "sum",
    "dimensions": [{"name": "region", "type": "string", "required": True}],
}


def usage(key: str, quantity: float = 1, at_us: int | None = None, **metadata: object) -> usage_pb2.UsageEvent:
    message = usage_pb2.UsageEvent(idempotency_key=key, subject="org_1", meter="api_requests", quantity=quantity)
    message.metadata.update(metadata or {"region": "eu"})
    if at_us is not None:
        message.timestamp.FromMicroseconds(at_us)
    return message


def test_meters_and_events_survive_a_restart_and_duplicates_stay_out(tmp_path: Path) -> None:
    database = f"restart_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        created = client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        assert client.call(client.usage.RecordUsage, usage("k1", 5)).outcome == usage_pb2.ACCEPTED
        # No timestamp: a retry after the restart gets another receive time, and
        # must still be recognised.
        assert client.call(client.usage.RecordUsage, usage("k2", 7)).outcome == usage_pb2.ACCEPTED

    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        got = client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name="api_requests"))
        assert got == created
        assert client.call(client.usage.RecordUsage, usage("k1", 5)).outcome == usage_pb2.DUPLICATE
        assert client.call(client.usage.RecordUsage, usage("k2", 700)).outcome == usage_pb2.DUPLICATE
        assert client.call(client.usage.RecordUsage, usage("k3", 11)).outcome == usage_pb2.ACCEPTED
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (3, 23.0)


def test_a_key_is_one_event_within_its_meter_whatever_timestamp_it_is_sent_with(tmp_path: Path) -> None:
    """A retry loop that stamps each attempt anew, or sends no timestamp, still counts once."""
    database = f"identity_{uuid.uuid4().hex[:8]}"
    hour = start_of_this_hour_us()
    first, second = hour + 1_000_000, hour - 2 * 3600 * 1_000_000
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        record = client.usage.RecordUsage
        assert client.call(record, usage("job-1", 5, at_us=first)).outcome == usage_pb2.ACCEPTED
        for resent in (usage("job-1", 5, at_us=first), usage("job-1", 7, at_us=second), usage("job-1", 11)):
            assert client.call(record, resent).outcome == usage_pb2.DUPLICATE
        assert client.call(record, usage("job-2", 3)).outcome == usage_pb2.ACCEPTED  # sent without a time
        assert client.call(record, usage("job-2", 3, at_us=first)).outcome == usage_pb2.DUPLICATE
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        record = client.usage.RecordUsage
        for resent in (usage("job-1", 5, at_us=second), usage("job-1", 11), usage("job-2", 3, at_us=second)):
            assert client.call(record, resent).outcome == usage_pb2.DUPLICATE
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (2, 8.0)


def test_events_stored_before_migration_3_are_recognised_after_it(tmp_path: Path) -> None:
    """Keys of migration 2's key table are moved, both with and without their time, and
    migration 5 enters every stored key in the key table."""
    database = f"upgrade_{uuid.uuid4().hex[:8]}"
    at_us = start_of_this_hour_us() + 5_000_000
    with storage_at(tmp_path, database) as ch:
        # The database as a server before migration 3 left it.
        ch.command(render(MIGRATIONS_TABLE_DDL, None))
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements:
                ch.command(render(statement, None))
            ch.command(
                "INSERT INTO schema_migrations VALUES ({v:UInt32}, '', now64(3))", parameters={"v": migration.version}
            )
        columns = ["meter", "subject", "timestamp", "idempotency_key", "quantity", "metadata", "retention_days"]
        ch.insert("usage_events", [
            ["api_requests", "org_1", at_us, "sent-with-time", 2.0, {"region": "eu"}, 30],
            ["api_requests", "org_1", at_us, "sent-without-time", 3.0, {"region": "eu"}, 30],
        ], column_names=columns)
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        record = client.usage.RecordUsage
        assert client.call(record, usage("sent-with-time", 2, at_us=at_us)).outcome == usage_pb2.DUPLICATE
        assert client.call(record, usage("sent-without-time", 3)).outcome == usage_pb2.DUPLICATE
        # Migration 5: the key alone identifies the event.
        assert client.call(record, usage("sent-with-time", 2, at_us=at_us + 7_000_000)).outcome == usage_pb2.DUPLICATE
        assert client.call(record, usage("new", 4)).outcome == usage_pb2.ACCEPTED
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (3, 9.0)
        assert ch.query("EXISTS TABLE event_keys").result_rows[0][0] == 0


def test_a_resent_backfill_spread_over_a_month_is_all_duplicate(tmp_path: Path) -> None:
    """Look-ups name a few time ranges; events far apart in time must still all be found."""
    rng = random.Random(11)
    now_us = time.time_ns() // 1000
    day_us = 86_400 * 1_000_000
    spread = [usage(f"backfill-{i}", i, at_us=now_us - rng.randrange(1, 29 * day_us)) for i in range(300)]
    timeless = [usage(f"timeless-{i}", 1) for i in range(20)]
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        record = client.usage.RecordUsages
        first = client.call(record, usage_pb2.RecordUsagesRequest(events=spread[:200] + timeless))
        assert (first.accepted, first.duplicates) == (220, 0)
        again = client.call(record, usage_pb2.RecordUsagesRequest(events=timeless + spread))
        assert (again.accepted, again.duplicates) == (100, 220)
        assert [r.outcome for r in again.results[20:220]] == [usage_pb2.DUPLICATE] * 200
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (320, float(sum(range(300)) + 20))


def test_a_stored_key_sharing_the_hash_of_a_new_key_does_not_make_it_a_duplicate(tmp_path: Path) -> None:
    """Look-ups find keys by their 64-bit hash; only the key itself decides."""
    database = f"hash_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
    with storage(server) as ch:
        # What a hash collision would leave: another key stored under the hash of
        # "fresh", also sent without a timestamp.
        ch.command(
            "INSERT INTO idempotency_keys"
            " SELECT 'api_requests', xxHash64('fresh'), 'someone-else', 'org_1', now64(6), 30"
        )
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        assert client.call(client.usage.RecordUsage, usage("fresh", 4)).outcome == usage_pb2.ACCEPTED
        assert client.call(client.usage.RecordUsage, usage("fresh", 4)).outcome == usage_pb2.DUPLICATE
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (1, 4.0)


def test_many_threads_racing_with_one_key_store_one_event(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        racing_keys = [f"race-{i}" for i in range(5)]

        def send(attempt: int) -> tuple[str, int]:
            key = racing_keys[attempt % len(racing_keys)]
            return key, client.call(client.usage.RecordUsage, usage(key, 2)).outcome

        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(send, range(200)))
    for key in racing_keys:
        outcomes = [outcome for k, outcome in answers if k == key]
        assert outcomes.count(usage_pb2.ACCEPTED) == 1
        assert outcomes.count(usage_pb2.DUPLICATE) == len(outcomes) - 1
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (5, 10.0)


def test_bulk_of_ten_thousand_with_ten_bad_stores_exactly_the_good_ones(tmp_path: Path) -> None:
    rng = random.Random(7)
    events = [usage(f"bulk-{i}", quantity=rng.randint(1, 1000)) for i in range(10_000)]
    bad_positions = sorted(rng.sample(range(10_000), 10))
    for n, position in enumerate(bad_positions):
        bad = events[position]
        if n % 2:
            bad.metadata.Clear()  # required region missing
        else:
            bad.quantity = float("nan")
    expected_total = sum(e.quantity for i, e in enumerate(events) if i not in bad_positions)
    request = usage_pb2.RecordUsagesRequest(idempotency_key="backfill-1", events=events)

    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        response = client.call(client.usage.RecordUsages, request)
        assert (response.accepted, response.duplicates, response.rejected) == (9_990, 0, 10)
        assert [r.index for r in response.results if r.outcome == usage_pb2.REJECTED] == bad_positions
        assert client.call(client.usage.RecordUsages, request) == response

        # The same events under a new batch key are all duplicates.
        retry = usage_pb2.RecordUsagesRequest(idempotency_key="backfill-2", events=events)
        again = client.call(client.usage.RecordUsages, retry)
        assert (again.accepted, again.duplicates, again.rejected) == (0, 9_990, 10)
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (9_990, expected_total)


def test_concurrent_repeats_of_one_keyed_bulk_call_get_one_answer(tmp_path: Path) -> None:
    events = [usage(f"c-{i}", quantity=i) for i in range(500)]
    request = usage_pb2.RecordUsagesRequest(idempotency_key="nightly-export", events=events)
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: client.call(client.usage.RecordUsages, request), range(8)))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0].accepted == 500
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (500, float(sum(range(500))))
