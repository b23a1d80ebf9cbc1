"""Storage errors classified once: retried, split to find the events storage refuses, or given up at once.

The refusals are the engine's own. The events table gets a CONSTRAINT that
refuses one subject (ClickHouse answers the insert with 469
VIOLATED_CONSTRAINT), added before the server starts: the embedded engine's
data dir is locked to the server process while it runs. Our validator
passes that subject, so the engine is the one refusing it, as it would a
value it cannot store.

Classifier tests raise their exceptions from the real embedded engine where
it can produce them (marked "engine"); the failures only a ClickHouse
server or a network produces (too many parts, Keeper, HTTP) are
clickhouse-connect's exception types built with a server's message
(marked "constructed"), since no ClickHouse server runs here.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from openspanner.client import StreamClient
from openspanner.errors import StorageRefused, Unavailable
from openspanner.ingest.batch import Batcher, BatchSettings
from openspanner.ingest.write import EventWriter, WriteOutcome
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.errors import CLASS_OF_CODE, Consequence, classify, is_storage_error, refusal, unavailable
from openspanner.storage.events import EventRow, EventStore
from openspanner.storage.schema import migrate
from openspanner.v1 import open_spanner_usage_pb2, open_spanner_usage_pb2_grpc, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage_at
from tests.test_storage_failures import SmallDisk, small_disk  # noqa: F401  (the fixture)
from tests.test_streams import create_meter

POISON = "refused-org"
METER = "calls"
# Far longer than any test may take: what ends a refused event's write is not the deadline.
RETRY_SECONDS = "600"
CALL_TIMEOUT = 30.0


def refuse_poison(client: Any) -> None:
    """The schema as a server creates it, plus the engine's own refusal of one subject."""
    migrate(client)
    client.command(f"ALTER TABLE usage_events ADD CONSTRAINT refuse_poison CHECK subject != '{POISON}'")


@pytest.fixture(scope="module")
def refusing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("refusing")
    database = f"refusing_{uuid.uuid4().hex[:8]}"
    with storage_at(data_dir, database) as ch:
        refuse_poison(ch)
    with running_server(data_dir, database, OPENSPANNER_STORAGE_RETRY_SECONDS=RETRY_SECONDS) as server:
        create_meter(server, METER)
        yield server


def usage(key: str, subject: str = "org_1", quantity: float = 1) -> usage_pb2.UsageEvent:
    return usage_pb2.UsageEvent(idempotency_key=key, subject=subject, meter=METER, quantity=quantity)


def stored_subjects_by_key(server: ServerProcess, keys: set[str]) -> dict[str, str]:
    """What our own ListEvents answers for these keys: key -> subject."""
    client = Client(server.address)
    found: dict[str, str] = {}
    token = ""
    while True:
        page = client.call(
            client.query.ListEvents, query_pb2.ListEventsRequest(meter=METER, page_size=1000, page_token=token)
        )
        found.update((e.idempotency_key, e.subject) for e in page.events if e.idempotency_key in keys)
        if not (token := page.next_page_token):
            return found


def assert_names_the_refusal(message: str) -> None:
    assert message.startswith("storage refused this event (VIOLATED_CONSTRAINT): Constraint `refuse_poison`")
    assert POISON in message


# -- through the server -------------------------------------------------------


def test_a_stream_with_an_event_storage_refuses_stores_the_others_and_rejects_only_it(
    refusing_server: ServerProcess,
) -> None:
    tag = uuid.uuid4().hex[:8]
    events = [usage(f"{tag}-{i}", POISON if i == 37 else "org_1") for i in range(100)]

    async def send_all() -> StreamClient:
        start = usage_pb2.StreamUsageStart(meters=[METER])
        async with StreamClient(refusing_server.address, ADMIN_KEY, start, batch_size=100) as stream:
            for event in events:
                await stream.send(event)
            await stream.flush(timeout=CALL_TIMEOUT)
        return stream

    stream = asyncio.run(asyncio.wait_for(send_all(), CALL_TIMEOUT * 2))
    assert stream.stats.outcomes == {"ACCEPTED": 99, "REJECTED": 1}
    ((sequence, field, message),) = stream.stats.rejections
    assert (sequence, field) == (38, "subject")  # sequences start at 1
    assert_names_the_refusal(message)
    stored = stored_subjects_by_key(refusing_server, {e.idempotency_key for e in events})
    assert sorted(stored) == sorted(e.idempotency_key for e in events if e.subject != POISON)


def test_a_bulk_call_with_events_storage_refuses_answers_them_rejected_and_the_rest_as_usual(
    refusing_server: ServerProcess,
) -> None:
    client = Client(refusing_server.address)
    tag = uuid.uuid4().hex[:8]
    poisoned = {3, 4, 250}
    events = [usage(f"{tag}-{i}", POISON if i in poisoned else f"org_{i}", quantity=i) for i in range(300)]
    request = usage_pb2.RecordUsagesRequest(events=events)
    answer = client.call(client.usage.RecordUsages, request, timeout=CALL_TIMEOUT)
    assert (answer.accepted, answer.duplicates, answer.rejected) == (297, 0, 3)
    refused = [r for r in answer.results if r.outcome == usage_pb2.REJECTED]
    assert [r.index for r in refused] == sorted(poisoned)
    for result in refused:
        assert (result.rejection.code, result.rejection.field) == ("INVALID_ARGUMENT", "subject")
        assert_names_the_refusal(result.rejection.message)
    # Sent again: the stored events are found, once each; the refused ones are refused again.
    again = client.call(client.usage.RecordUsages, request, timeout=CALL_TIMEOUT)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 297, 3)
    stored = stored_subjects_by_key(refusing_server, {e.idempotency_key for e in events})
    assert len(stored) == 297 and POISON not in stored.values()


def test_a_single_event_storage_refuses_is_answered_invalid_argument_at_once_not_retried(
    refusing_server: ServerProcess,
) -> None:
    """The server's retry deadline is 600 s and the call's 30 s: only an answer that does not wait for it passes."""
    client = Client(refusing_server.address)
    with pytest.raises(grpc.RpcError) as refused:
        client.call(client.usage.RecordUsage, usage(uuid.uuid4().hex, POISON), timeout=CALL_TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_names_the_refusal(refused.value.details().removeprefix("subject: "))
    # The storage stays open to everything else.
    assert client.call(client.usage.RecordUsage, usage(uuid.uuid4().hex)).outcome == usage_pb2.ACCEPTED


def test_the_product_grpc_service_answers_a_refused_event_with_its_error(refusing_server: ServerProcess) -> None:
    channel = grpc.insecure_channel(refusing_server.address)
    stub = open_spanner_usage_pb2_grpc.UsageServiceStub(channel)  # type: ignore[no-untyped-call]
    metadata = [("authorization", f"Bearer {ADMIN_KEY}")]
    tag = uuid.uuid4().hex[:8]

    def product_event(key: str, subject: str) -> open_spanner_usage_pb2.UsageEventInput:
        return open_spanner_usage_pb2.UsageEventInput(idempotency_key=key, subject=subject, meter=METER, quantity=2)

    with pytest.raises(grpc.RpcError) as refused:
        stub.CreateUsage(
            open_spanner_usage_pb2.CreateUsageRequest(event=product_event(f"{tag}-one", POISON)),
            metadata=metadata, timeout=CALL_TIMEOUT,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bulk = stub.CreateUsageBulk(
        open_spanner_usage_pb2.CreateUsageBulkRequest(
            events=[product_event(f"{tag}-a", "org_1"), product_event(f"{tag}-b", POISON)]
        ),
        metadata=metadata, timeout=CALL_TIMEOUT,
    )
    channel.close()
    assert (bulk.accepted_count, bulk.failed_count) == (1, 1)
    assert bulk.accepted[0].idempotency_key == f"{tag}-a"
    (failure,) = bulk.failed
    assert (failure.index, failure.code) == (1, "invalid_input")
    assert "storage refused this event (VIOLATED_CONSTRAINT)" in failure.message


def post(server: ServerProcess, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_answers_a_refused_event_400_and_a_bulk_call_with_it_201_listing_it_failed(
    refusing_server: ServerProcess,
) -> None:
    tag = uuid.uuid4().hex[:8]
    one = {"idempotency_key": f"{tag}-one", "subject": POISON, "meter": METER, "quantity": 1}
    status, body = post(refusing_server, "/v1/usages", one)
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "invalid_input", "subject")
    assert "storage refused this event (VIOLATED_CONSTRAINT)" in body["error"]["message"]
    events = [
        {"idempotency_key": f"{tag}-{i}", "subject": POISON if i == 1 else "org_1", "meter": METER, "quantity": 1}
        for i in range(3)
    ]
    status, body = post(refusing_server, "/v1/usages/bulk", events)
    assert (status, body["accepted"], body["failed"]) == (201, 2, 1)
    (failure,) = body["failed_items"]
    assert (failure["index"], failure["code"], failure["field"]) == (1, "invalid_input", "subject")


# -- the batcher on the real engine, in this process --------------------------


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


# -- the classifier -----------------------------------------------------------


def raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("the call did not fail")


def test_every_classified_code_has_the_name_the_engine_gives_it(tmp_path: Path) -> None:  # engine
    with storage_at(tmp_path, "codes") as client:
        names = dict(
            client.query(
                "SELECT code, errorCodeToName(toUInt32(code)) FROM (SELECT arrayJoin({codes:Array(UInt32)}) AS code)",
                parameters={"codes": sorted(CLASS_OF_CODE)},
            ).result_rows
        )
    assert {code: name for code, (_, _, name) in CLASS_OF_CODE.items()} == names


def test_engine_errors_are_classified_by_their_code(tmp_path: Path) -> None:  # engine
    with storage_at(tmp_path, "engine") as client:
        refuse_poison(client)
        columns = ["meter", "subject", "timestamp", "idempotency_key", "quantity", "metadata", "retention_days"]
        good = [METER, "org_1", time.time_ns() // 1000, "k", 1.0, {}, 30]
        cases = {
            "missing table": raised(lambda: client.query("SELECT * FROM no_such_table")),
            "syntax": raised(lambda: client.query("SELEC 1")),
            "constraint": raised(lambda: client.insert("usage_events", [good, [METER, POISON, *good[2:]]],
                                                       column_names=columns)),
            "unserializable value": raised(lambda: client.insert("usage_events", [[*good[:-1], 70_000]],
                                                                 column_names=columns)),
            "memory": raised(lambda: client.query("SELECT groupArray(number) FROM numbers(10000000)",
                                                  settings={"max_memory_usage": 1_000_000})),
            "timeout": raised(lambda: client.query("SELECT sleepEachRow(0.5) FROM numbers(4)",
                                                   settings={"max_execution_time": 0.5,
                                                             "function_sleep_max_microseconds_per_block": 5_000_000})),
        }
    found = {what: (classify(e).kind, classify(e).consequence, classify(e).code) for what, e in cases.items()}
    assert found == {
        "missing table": ("schema", Consequence.GIVE_UP, 60),
        "syntax": ("query", Consequence.GIVE_UP, 62),
        "constraint": ("rejected_data", Consequence.SPLIT, 469),
        "unserializable value": ("rejected_data", Consequence.SPLIT, None),  # clickhouse-connect's DataError
        "memory": ("memory", Consequence.RETRY, 241),
        "timeout": ("timeout", Consequence.RETRY, 159),
    }
    assert isinstance(cases["unserializable value"], DataError)
    assert all(is_storage_error(error) for error in cases.values())
    constraint = refusal(classify(cases["constraint"]))
    # One line, without the table's UUID or the row's place in the block (which differs per block).
    assert constraint.field == "subject"
    assert constraint.message == (
        "storage refused this event (VIOLATED_CONSTRAINT): Constraint `refuse_poison` for table engine.usage_events"
        f" is violated. Expression: (subject != '{POISON}'). Column values: subject = '{POISON}'."
    )


@pytest.mark.parametrize(
    ("error", "kind", "consequence"),
    [  # constructed: as clickhouse-connect raises what a ClickHouse server answers over HTTP
        (DatabaseError("Received ClickHouse exception, code: 252, server response: Code: 252. DB::Exception: Too"
                       " many parts (3001). Merges are processing significantly slower than inserts."
                       " (TOO_MANY_PARTS) (version 24.8.4.13 (official build))", code=252, name="TOO_MANY_PARTS"),
         "too_many_parts", Consequence.RETRY),
        (DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 200)."
                       " (TOO_MANY_PARTS)", code=252), "block_too_large", Consequence.SPLIT),
        (DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded (MEMORY_LIMIT_EXCEEDED)", code=241),
         "memory", Consequence.RETRY),
        (DatabaseError("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)",
                       code=243), "disk", Consequence.RETRY),
        (DatabaseError("Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100."
                       " (TOO_MANY_SIMULTANEOUS_QUERIES)", code=202), "overloaded", Consequence.RETRY),
        (DatabaseError("Code: 999. Coordination::Exception: Connection loss. (KEEPER_EXCEPTION)", code=999),
         "replication", Consequence.RETRY),
        (DatabaseError("Code: 319. DB::Exception: Unknown status, client must retry. (UNKNOWN_STATUS_OF_INSERT)",
                       code=319), "replication", Consequence.RETRY),
        (DatabaseError("Code: 209. DB::NetException: Timeout exceeded while reading from socket. (SOCKET_TIMEOUT)",
                       code=209), "timeout", Consequence.RETRY),
        (DatabaseError("Code: 210. DB::NetException: Connection reset by peer. (NETWORK_ERROR)", code=210),
         "network", Consequence.RETRY),
        (DatabaseError("Code: 425. DB::ErrnoException: Cannot open file. (SYSTEM_ERROR)", code=425),
         "disk", Consequence.RETRY),
        (DatabaseError("Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)",
                       code=516), "access", Consequence.GIVE_UP),
        # Without the detail (show_clickhouse_errors=False) the header's code still decides.
        (DatabaseError("The ClickHouse server returned an error", code=252), "too_many_parts", Consequence.RETRY),
        # An older clickhouse-connect, or the engine's own exception: the code read from the text.
        (RuntimeError("Code: 469. DB::Exception: Constraint `c` is violated. (VIOLATED_CONSTRAINT)"),
         "rejected_data", Consequence.SPLIT),
        (OperationalError("Error HTTPConnectionPool(host='ch', port=8123): Max retries exceeded executing HTTP"
                          " request attempt 1 (http://ch:8123)"), "network", Consequence.RETRY),
        (DatabaseError("HTTP driver received HTTP status 503, server response: upstream unavailable"),
         "overloaded", Consequence.RETRY),
        (DatabaseError("HTTP driver received HTTP status 403, server response: forbidden"),
         "access", Consequence.GIVE_UP),
        # A code we do not know: retried until the deadline, never refused for good.
        (DatabaseError("Code: 2999. DB::Exception: something new. (SOMETHING_NEW)", code=2999),
         "other", Consequence.RETRY),
        (TimeoutError(), "timeout", Consequence.RETRY),
    ],
)
def test_server_and_transport_errors_are_classified(error: Exception, kind: str, consequence: Consequence) -> None:
    failure = classify(error)
    assert (failure.kind, failure.consequence) == (kind, consequence)


def test_only_the_engines_errors_count_as_storage_errors() -> None:
    assert not is_storage_error(ValueError("a bug of ours"))
    assert classify(ValueError("a bug of ours")).kind == "other"


def test_a_failure_that_needs_an_operator_says_so_without_storages_own_text() -> None:
    failure = classify(DatabaseError("Code: 516. DB::Exception: user_42: Authentication failed: password is"
                                     " incorrect. (AUTHENTICATION_FAILED)", code=516))
    answer = unavailable(failure, "these events")
    assert answer.message == (
        "storage cannot take these events (AUTHENTICATION_FAILED); an operator must fix storage, then send it again"
    )
    assert answer.retry_after_seconds is not None and answer.retry_after_seconds > 1


def test_refused_rows_become_an_event_field_only_when_storage_names_one() -> None:
    many = classify(RuntimeError("Code: 469. DB::Exception: Constraint `c` for table t is violated at row 1."
                                 " Expression: (quantity < 10). Column values: quantity = 11, subject = 'x'."
                                 " (VIOLATED_CONSTRAINT)"))
    assert refusal(many).field == ""
    one = classify(RuntimeError("Code: 469. DB::Exception: Constraint `c` for table t is violated at row 1."
                                " Expression: (quantity < 10). Column values: quantity = 11. (VIOLATED_CONSTRAINT)"))
    assert refusal(one).field == "quantity"
