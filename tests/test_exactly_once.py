"""An acknowledged event is stored once: across restarts, retries and racing callers."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.protobuf import json_format

from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import Client, running_server, storage, stored_totals

METER = {
    "name": "api_requests",
    "aggregation": "sum",
    "dimensions": [{"name": "region", "type": "string", "required": True}],
}


def usage(key: str, quantity: float = 1, **metadata: object) -> usage_pb2.UsageEvent:
    message = usage_pb2.UsageEvent(idempotency_key=key, subject="org_1", meter="api_requests", quantity=quantity)
    message.metadata.update(metadata or {"region": "eu"})
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


def test_a_stored_key_sharing_the_hash_of_a_new_key_does_not_make_it_a_duplicate(tmp_path: Path) -> None:
    """Look-ups find keys by their 64-bit hash; only the key itself decides."""
    database = f"hash_{uuid.uuid4().hex[:8]}"
    with running_server(tmp_path, database) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
    with storage(server) as ch:
        # What a hash collision would leave: another key stored under the hash of "fresh".
        ch.command(
            "INSERT INTO event_keys SELECT 'api_requests', xxHash64('fresh'), 'someone-else', now64(6), 30"
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
