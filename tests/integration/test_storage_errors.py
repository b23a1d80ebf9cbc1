"""Storage errors over the wire: what a server answers for events storage refuses.

The refusals are the engine's own (tests/support/refusals.py): the events
table gets a CONSTRAINT that refuses one subject, added before the server
starts, since the embedded engine's data dir is locked to the server process
while it runs. The batcher's split and retries and the classifier itself are
unit tests (tests/unit/ingest/test_batch_storage_failures.py,
tests/unit/storage/test_errors.py).
"""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from openspanner.client import StreamClient
from openspanner.v1 import open_spanner_usage_pb2, open_spanner_usage_pb2_grpc, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage_at
from tests.integration.test_streams import create_meter
from tests.support.refusals import METER, POISON, refuse_poison
from tests.support.small_disk import SmallDisk, small_disk  # noqa: F401  (the fixture)

# Far longer than any test may take: what ends a refused event's write is not the deadline.
RETRY_SECONDS = "600"
CALL_TIMEOUT = 30.0


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


# -- the classifier -----------------------------------------------------------
