"""Single events and bulk calls share the server's batcher: blocks, commit before answer, the pending bound.

All through real gRPC (and HTTP) against a real server on the embedded engine.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from openspanner.grpc.status import STATUS_DETAILS_KEY
from openspanner.v1 import meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage, stored_totals
from tests.integration.test_exactly_once import METER

CALLERS = 48
CALLS_PER_CALLER = 4


def one_event(meter: str, subject: str, key: str | None = None, quantity: float = 1) -> usage_pb2.UsageEvent:
    event = usage_pb2.UsageEvent(
        idempotency_key=key or uuid.uuid4().hex, subject=subject, meter=meter, quantity=quantity
    )
    event.metadata.update({"region": "eu"})
    return event


def blocks_written_for(server: ServerProcess, meter: str) -> list[dict[str, Any]]:
    return [e for e in server.log_events() if e.get("event") == "batch written" and meter in e.get("meters", ())]


def stored_keys_of_subject(client: Client, meter: str, subject: str) -> set[str]:
    request = query_pb2.ListEventsRequest(meter=meter, subjects=[subject], page_size=1000)
    return {e.idempotency_key for e in client.call(client.query.ListEvents, request).events}


def test_concurrent_single_events_share_blocks_and_each_answer_follows_its_commit(
    shared_server: ServerProcess, client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    meter = make_meter().name

    def caller(number: int) -> int:
        """Each answer is checked at once: its event must already be readable."""
        subject = f"caller-{number}"
        for _ in range(CALLS_PER_CALLER):
            event = one_event(meter, subject)
            assert client.call(client.usage.RecordUsage, event).outcome == usage_pb2.ACCEPTED
            assert event.idempotency_key in stored_keys_of_subject(client, meter, subject)
        return CALLS_PER_CALLER

    with ThreadPoolExecutor(CALLERS) as pool:
        answered = sum(pool.map(caller, range(CALLERS)))
    assert answered == CALLERS * CALLS_PER_CALLER
    time.sleep(0.5)  # the log reader thread catches up
    blocks = blocks_written_for(shared_server, meter)
    assert sum(1 for _ in blocks) < answered, "every call was its own insert"
    assert any(block["events"] > 1 for block in blocks)


def test_a_server_killed_mid_load_loses_no_acknowledged_single_event(tmp_path: Path) -> None:
    stop_sending = threading.Event()
    acknowledged: list[list[str]] = [[] for _ in range(16)]

    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))

        def keep_sending(number: int) -> None:
            sequence = 0
            while not stop_sending.is_set():
                key = f"c{number}-{sequence}"
                try:
                    answer = client.call(client.usage.RecordUsage, one_event("api_requests", "org", key), timeout=10)
                except grpc.RpcError:
                    return  # the server is gone
                assert answer.outcome == usage_pb2.ACCEPTED
                acknowledged[number].append(key)
                sequence += 1

        with ThreadPoolExecutor(len(acknowledged)) as pool:
            senders = [pool.submit(keep_sending, n) for n in range(len(acknowledged))]
            time.sleep(2.0)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            stop_sending.set()
            for sender in senders:
                sender.result()
        client.close()

    acked = {key for keys in acknowledged for key in keys}
    assert len(acked) > 50, "too little load to mean anything"
    with storage(server) as ch:
        stored = {
            row[0]
            for row in ch.query(
                "SELECT idempotency_key FROM usage_events FINAL WHERE meter = 'api_requests'"
            ).result_rows
        }
        count, _ = stored_totals(ch, "api_requests")
    assert acked <= stored
    assert count == len(stored)


def retry_delay_seconds(error: grpc.RpcError) -> float:
    """The google.rpc.RetryInfo delay of a gRPC error (rich status trailer)."""
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.ToMilliseconds() / 1000
    raise AssertionError("no RetryInfo in the error")


def post_usage(server: ServerProcess, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        server.base_url + "/v1/usages",
        data=json.dumps(event).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _lower(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read())


def _lower(headers: Any) -> dict[str, str]:
    """Header names are case-insensitive; the server sends them in lowercase."""
    return {name.lower(): value for name, value in headers.items()}


def test_past_the_pending_bound_a_unary_call_is_refused_with_a_retry_delay(tmp_path: Path) -> None:
    """A long linger holds a bulk call's events pending, so the server is full while it waits."""
    bound = 10
    with running_server(
        tmp_path, OPENSPANNER_MAX_PENDING_EVENTS=str(bound), OPENSPANNER_BATCH_LINGER_MS="4000"
    ) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.ParseDict(METER, meter_pb2.Meter()))
        # Written at once (the writer is idle); the next write may start 4 s later.
        first = one_event("api_requests", "org")
        assert client.call(client.usage.RecordUsage, first).outcome == usage_pb2.ACCEPTED
        bulk = usage_pb2.RecordUsagesRequest(events=[one_event("api_requests", "org") for _ in range(bound)])
        with ThreadPoolExecutor(1) as pool:
            pending_bulk = pool.submit(client.call, client.usage.RecordUsages, bulk)
            time.sleep(0.5)
            refused_event = one_event("api_requests", "org")
            with pytest.raises(grpc.RpcError) as refused:
                client.call(client.usage.RecordUsage, refused_event)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_pending_events" in refused.value.details()
            assert 0 < retry_delay_seconds(refused.value) <= 10
            code, headers, body = post_usage(
                server,
                {"idempotency_key": "http-1", "subject": "org", "meter": "api_requests", "quantity": 1,
                 "metadata": {"region": "eu"}},
            )
            assert (code, body["error"]["code"]) == (429, "rate_limited"), body
            assert body["error"]["retry_after_seconds"] > 0
            assert int(headers["retry-after"]) >= 1
            assert pending_bulk.result(timeout=30).accepted == bound
        # Room again: the refused event, sent again, is stored once.
        assert client.call(client.usage.RecordUsage, refused_event).outcome == usage_pb2.ACCEPTED
        client.close()
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == (bound + 2, bound + 2.0)
