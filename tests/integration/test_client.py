"""openspanner.client's Client and AsyncClient against a real server: every method, typed errors, retries.

Each scenario runs twice, once with Client and once with AsyncClient (through
`Blocking`, which runs the async methods to completion), so both are held to
the same behaviour.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest

from openspanner.client import (
    AlreadyExistsError,
    AsyncClient,
    Client,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RetryAttempt,
    RetryPolicy,
    UnauthenticatedError,
    UnavailableError,
)
from tests.harness import ADMIN_KEY, ServerProcess, free_port, running_server

BERLIN = ZoneInfo("Europe/Berlin")
KINDS = ["sync", "async"]


class Blocking:
    """An AsyncClient whose methods are run to completion on a loop of its own."""

    def __init__(self, server: str, api_key: str | None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client: AsyncClient = self._loop.run_until_complete(self._open(server, api_key, options))

    @staticmethod
    async def _open(server: str, api_key: str | None, options: dict[str, Any]) -> AsyncClient:
        return AsyncClient(server, api_key, **options)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isasyncgen(result):
                return iter(self._loop.run_until_complete(_collect(result)))
            return self._loop.run_until_complete(result)

        return call

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


Connect = Callable[..., Any]


@pytest.fixture(params=KINDS)
def connect(request: pytest.FixtureRequest, shared_server: ServerProcess) -> Iterator[Connect]:
    """Makes clients of one kind (a parameter); `server` defaults to the shared server."""
    made: list[Any] = []

    def make(api_key: str | None = ADMIN_KEY, server: str | None = None, **options: Any) -> Any:
        kind = Client if request.param == "sync" else Blocking
        client = kind(server or shared_server.address, api_key, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def api(connect: Connect) -> Any:
    return connect()


def a_meter(api: Any, **fields: Any) -> str:
    name = f"c_{uuid.uuid4().hex[:10]}"
    api.create_meter({
        "name": name,
        "aggregation": "sum",
        "dimensions": [
            {"name": "region", "type": "string", "required": True},
            {"name": "cached", "type": "boolean", "required": False},
            {"name": "tokens.in", "type": "number", "required": False},
        ],
        **fields,
    })
    return name


def an_event(meter: str, **fields: Any) -> dict[str, Any]:
    return {
        "idempotency_key": uuid.uuid4().hex,
        "subject": "org_a",
        "meter": meter,
        "quantity": 1.0,
        "metadata": {"region": "eu"},
        **fields,
    }


def test_meters_create_get_list_update_delete(api: Any) -> None:
    name = a_meter(api, unit="token", description="tokens used")
    meter = api.get_meter(name)
    assert (meter["name"], meter["aggregation"], meter["unit"], meter["description"]) == (
        name, "sum", "token", "tokens used"
    )
    assert [(d["name"], d["type"], d["required"]) for d in meter["dimensions"]] == [
        ("region", "string", True), ("cached", "boolean", False), ("tokens.in", "number", False)
    ]
    assert meter["create_time"] is not None and meter["create_time"].tzinfo is not None
    assert api.get_meter(meter["id"]) == meter
    assert meter in api.list_meters()
    with pytest.raises(AlreadyExistsError) as taken:
        api.create_meter({"name": name, "aggregation": "count"})
    assert taken.value.code == grpc.StatusCode.ALREADY_EXISTS

    added = {"name": "model", "type": "string", "required": False}
    updated = api.update_meter(name, {"description": "tokens", "dimensions": [*meter["dimensions"], added]})
    assert updated["description"] == "tokens" and updated["unit"] == "token", "only the fields given change"
    assert [d["name"] for d in updated["dimensions"]] == ["region", "cached", "tokens.in", "model"]
    assert api.get_meter(name) == updated
    with pytest.raises(InvalidArgumentError) as refused:
        api.update_meter(name, {"event_retention_days": 99_999})
    assert refused.value.field == "event_retention_days"

    api.record_usage(an_event(name))
    with pytest.raises(FailedPreconditionError):
        api.delete_meter(name)
    assert api.delete_meter(name, force=True) == 1
    with pytest.raises(NotFoundError):
        api.get_meter(name)


def test_a_recorded_event_and_its_duplicate(api: Any) -> None:
    meter = a_meter(api)
    at = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=123456)
    event = an_event(meter, quantity=1842, timestamp=at, metadata={"region": "eu", "cached": True, "tokens.in": 12})
    first = api.record_usage(event)
    assert (first["idempotency_key"], first["outcome"], first["conflicting_fields"]) == (
        event["idempotency_key"], "ACCEPTED", []
    )
    stored = first["event"]
    assert (stored["subject"], stored["meter"], stored["quantity"], stored["timestamp"]) == ("org_a", meter, 1842, at)
    assert stored["metadata"] == {"region": "eu", "cached": True, "tokens.in": 12.0}
    assert stored["ingest_time"].tzinfo is not None

    again = api.record_usage({**event, "quantity": 5, "timestamp": at.astimezone(BERLIN)})
    assert again["outcome"] == "DUPLICATE"
    assert again["event"] == stored, "the event stored first is the one that counts"
    assert again["conflicting_fields"] == ["quantity"], "a timestamp in another zone is the same instant"


def test_a_refused_event_raises_a_typed_error_naming_the_field(api: Any) -> None:
    meter = a_meter(api)
    with pytest.raises(InvalidArgumentError) as nan:
        api.record_usage(an_event(meter, quantity=math.nan))
    assert (nan.value.code, nan.value.field) == (grpc.StatusCode.INVALID_ARGUMENT, "quantity")
    assert str(nan.value).startswith("INVALID_ARGUMENT: quantity: ")
    assert nan.value.retry_delay is None
    with pytest.raises(InvalidArgumentError) as missing:
        api.record_usage(an_event(meter, metadata={}))
    assert missing.value.field == "metadata.region"
    with pytest.raises(NotFoundError) as unknown:
        api.record_usage(an_event(f"no_{uuid.uuid4().hex[:8]}"))
    assert unknown.value.field == "meter"
    with pytest.raises(ValueError, match="time zone"):
        api.record_usage(an_event(meter, timestamp=datetime(2026, 1, 1)))
    assert list(api.list_events(meter)) == [], "nothing refused was stored"


def test_record_usages_with_a_refused_event_a_batch_key_replay_and_validate_only(api: Any) -> None:
    meter = a_meter(api)
    events = [an_event(meter), an_event(meter, metadata={"region": 7}), an_event(meter, quantity=2.5)]

    checked = api.record_usages(events, validate_only=True)
    assert [r["outcome"] for r in checked["results"]] == ["ACCEPTED", "REJECTED", "ACCEPTED"]
    assert list(api.list_events(meter)) == [], "validate_only stores nothing"

    batch_key = uuid.uuid4().hex
    answer = api.record_usages(events, idempotency_key=batch_key)
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (2, 0, 1)
    assert [r["index"] for r in answer["results"]] == [0, 1, 2]
    assert [r["idempotency_key"] for r in answer["results"]] == [e["idempotency_key"] for e in events]
    refused = answer["results"][1]
    assert refused["rejection"] is not None
    assert (refused["rejection"]["code"], refused["rejection"]["field"]) == ("INVALID_ARGUMENT", "metadata.region")
    assert answer["results"][0]["rejection"] is None

    assert api.record_usages(events, idempotency_key=batch_key) == answer, "a batch key replays its first answer"
    resent = api.record_usages([events[2]])
    assert resent["results"][0]["outcome"] == "DUPLICATE"
    assert resent["results"][0]["event"]["quantity"] == 2.5
    assert sorted(e["idempotency_key"] for e in api.list_events(meter)) == sorted(
        [events[0]["idempotency_key"], events[2]["idempotency_key"]]
    )


def test_query_usage_with_windows_time_zone_group_by_and_filters(api: Any) -> None:
    meter = a_meter(api)
    today = datetime.now(BERLIN).date()
    first_day = datetime(today.year, today.month, today.day, tzinfo=BERLIN) - timedelta(days=3)
    start = first_day.astimezone(UTC)
    end = (first_day + timedelta(days=2)).replace(tzinfo=BERLIN).astimezone(UTC)
    events = []
    for n, (hours, subject, region, cached) in enumerate([
        (1, "org_a", "eu", True), (5, "org_b", "eu", True), (6, "org_a", "us", True), (23.5, "org_a", "eu", False),
        (25, "org_a", "eu", True), (30, "org_b", "us", True), (31, "org_c", "eu", True), (49, "org_a", "eu", True),
    ]):
        at = (first_day + timedelta(hours=hours)).astimezone(UTC)
        metadata = {"region": region, "cached": cached}
        events.append(an_event(meter, subject=subject, quantity=n + 1.5, timestamp=at, metadata=metadata))
    assert api.record_usages(events)["accepted"] == len(events)

    answer = api.query_usage(
        meter, start, end, window_size="day", time_zone="Europe/Berlin", subjects=["org_a", "org_b"],
        filters={"cached": True}, group_by=["region", "subject"],
    )
    expected: dict[tuple[datetime, str, str], list[float]] = defaultdict(list)
    for event in events:
        local = event["timestamp"].astimezone(BERLIN)
        included = start <= event["timestamp"] < end and event["subject"] != "org_c" and event["metadata"]["cached"]
        if included:
            midnight = datetime(local.year, local.month, local.day, tzinfo=BERLIN).astimezone(UTC)
            expected[(midnight, event["metadata"]["region"], event["subject"])].append(event["quantity"])
    assert (answer["aggregation"], answer["time_zone"]) == ("sum", "Europe/Berlin")
    assert {
        (row["window_start"], row["group"]["region"], row["subject"]): (row["value"], row["event_count"])
        for row in answer["rows"]
    } == {key: (sum(quantities), len(quantities)) for key, quantities in expected.items()}
    for row in answer["rows"]:
        assert row["window_start"].astimezone(BERLIN).hour == 0
        assert row["window_end"] - row["window_start"] in {timedelta(hours=h) for h in (23, 24, 25)}

    total = api.query_usage(meter, start, end, filters={"region": ["eu", "us"]})
    assert [(r["window_start"], r["window_end"], r["subject"], r["group"]) for r in total["rows"]] == [
        (start, end, None, {})
    ]
    assert total["rows"][0]["value"] == sum(e["quantity"] for e in events if start <= e["timestamp"] < end)
    with pytest.raises(InvalidArgumentError) as unknown_zone:
        api.query_usage(meter, start, end, time_zone="Mars/Base")
    assert unknown_zone.value.field == "time_zone"


def test_list_events_pages_across_pages_newest_first(api: Any) -> None:
    meter = a_meter(api)
    now = datetime.now(UTC).replace(microsecond=0)
    events = [an_event(meter, timestamp=now - timedelta(minutes=10 - n), quantity=n) for n in range(7)]
    api.record_usages(events)
    listed = list(api.list_events(meter, page_size=2))
    assert [e["idempotency_key"] for e in listed] == [e["idempotency_key"] for e in reversed(events)]
    ranged = api.list_events(meter, start_time=events[2]["timestamp"], end_time=events[5]["timestamp"], page_size=2)
    assert [e["quantity"] for e in ranged] == [4, 3, 2]
    assert [e["quantity"] for e in api.list_events(meter, filters={"region": "eu"}, subjects=["org_a"])] == [
        6, 5, 4, 3, 2, 1, 0
    ]
    assert list(api.list_events(meter, subjects=["nobody"])) == []


def test_api_keys_create_list_revoke_and_a_revoked_key_is_refused(api: Any, connect: Connect) -> None:
    created = api.create_api_key("read", name=f"reader-{uuid.uuid4().hex[:6]}")
    key = created["api_key"]
    assert key["scope"] == "READ" and key["revoke_time"] is None
    reader = connect(created["secret"])
    assert isinstance(reader.list_meters(), list)
    with pytest.raises(PermissionDeniedError):
        reader.create_meter({"name": f"r_{uuid.uuid4().hex[:8]}", "aggregation": "sum"})
    assert key["id"] in [k["id"] for k in api.list_api_keys()]

    revoked = api.revoke_api_key(key["id"])
    assert revoked["id"] == key["id"] and revoked["revoke_time"] is not None
    assert key["id"] not in [k["id"] for k in api.list_api_keys()]
    assert key["id"] in [k["id"] for k in api.list_api_keys(include_revoked=True)]
    with pytest.raises(UnauthenticatedError):
        reader.list_meters()
    with pytest.raises(ValueError, match="scope"):
        api.create_api_key("superuser")


def test_without_retry_info_the_client_backs_off_exponentially_with_jitter(connect: Connect) -> None:
    attempts: list[RetryAttempt] = []
    policy = RetryPolicy(max_attempts=5, initial_backoff_seconds=0.01, max_backoff_seconds=0.03,
                         on_retry=attempts.append)
    nowhere = connect(server=f"127.0.0.1:{free_port()}", retry=policy)
    with pytest.raises(UnavailableError) as unreachable:
        nowhere.list_meters()
    assert unreachable.value.retry_delay is None
    assert [a.attempt for a in attempts] == [1, 2, 3, 4], "5 attempts, 4 waits"
    for attempt in attempts:
        step = min(0.01 * 2 ** (attempt.attempt - 1), 0.03)
        assert not attempt.from_server and step / 2 <= attempt.delay <= step
        assert attempt.method == "ListMeters" and attempt.error.code == grpc.StatusCode.UNAVAILABLE


def test_the_total_deadline_bounds_attempts_and_waits(connect: Connect) -> None:
    attempts: list[RetryAttempt] = []
    policy = RetryPolicy(max_attempts=10_000, deadline_seconds=0.3, initial_backoff_seconds=0.02,
                         max_backoff_seconds=0.05, on_retry=attempts.append)
    with pytest.raises(UnavailableError):
        connect(server=f"127.0.0.1:{free_port()}", retry=policy).get_meter("x")
    assert 0 < len(attempts) < 10_000
    assert sum(a.delay for a in attempts) < 0.3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A peer that takes TCP connections and never answers, so every call runs into its deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_deadline_exceeded_is_retried_only_for_calls_that_may_be_repeated(
    connect: Connect, silent_server: str
) -> None:
    attempts: list[RetryAttempt] = []
    policy = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.01, on_retry=attempts.append)
    api = connect(server=silent_server, retry=policy, timeout=0.2)
    with pytest.raises(DeadlineExceededError):
        api.get_meter("anything")
    with pytest.raises(DeadlineExceededError):
        api.record_usage(an_event("anything"))
    assert [(a.method, a.attempt, a.error.code) for a in attempts] == [
        ("GetMeter", 1, grpc.StatusCode.DEADLINE_EXCEEDED), ("GetMeter", 2, grpc.StatusCode.DEADLINE_EXCEEDED),
        ("RecordUsage", 1, grpc.StatusCode.DEADLINE_EXCEEDED), ("RecordUsage", 2, grpc.StatusCode.DEADLINE_EXCEEDED),
    ]
    attempts.clear()
    for call in (
        lambda: api.create_meter({"name": "t", "aggregation": "sum"}),
        lambda: api.delete_meter("t"),
        lambda: api.create_api_key("read"),
        lambda: api.revoke_api_key("k"),
    ):
        with pytest.raises(DeadlineExceededError):
            call()
    assert attempts == [], "a call that may have been carried out is not repeated"


def test_a_calls_timeout_overrides_the_clients(connect: Connect, silent_server: str) -> None:
    """Were the override ignored, the call would wait the client's hour (and the test time out)."""
    patient = connect(server=silent_server, retry=RetryPolicy(max_attempts=1), timeout=3600)
    with pytest.raises(DeadlineExceededError):
        patient.list_meters(timeout=0.2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_call_is_retried_after_the_servers_retry_info_delay(tmp_path: Path, kind: str) -> None:
    """A long linger holds a bulk call's events pending, so the server is full while it waits
    (as in test_group_commit), and a unary call is refused with RESOURCE_EXHAUSTED and RetryInfo."""
    bound = 10
    with running_server(
        tmp_path, OPENSPANNER_MAX_PENDING_EVENTS=str(bound), OPENSPANNER_BATCH_LINGER_MS="4000"
    ) as server, Client(server.address, ADMIN_KEY) as admin:
        meter = a_meter(admin)
        # Written at once (the writer is idle); the next write may start 4 s later.
        admin.record_usage(an_event(meter))
        once = Client(server.address, ADMIN_KEY, retry=RetryPolicy(max_attempts=1))
        attempts: list[RetryAttempt] = []
        policy = RetryPolicy(max_attempts=1_000, deadline_seconds=60, on_retry=attempts.append)
        patient = Client(server.address, ADMIN_KEY, retry=policy) if kind == "sync" else Blocking(
            server.address, ADMIN_KEY, retry=policy
        )
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(admin.record_usages, [an_event(meter) for _ in range(bound)])
            time.sleep(0.5)
            with pytest.raises(ResourceExhaustedError) as refused:
                once.record_usage(an_event(meter))
            assert refused.value.retry_delay is not None and 0 < refused.value.retry_delay <= 10
            assert "max_pending_events" in refused.value.message

            recorded = patient.record_usage(an_event(meter, idempotency_key="patient"))
            assert recorded["outcome"] == "ACCEPTED"
            assert pending.result(timeout=60)["accepted"] == bound
        once.close()
        patient.close()
        assert attempts, "the first attempt was refused too"
        assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
        for attempt in attempts:
            assert isinstance(attempt.error, ResourceExhaustedError)
            assert attempt.from_server and attempt.delay == attempt.error.retry_delay, "waited the server's delay"
        stored = [e["idempotency_key"] for e in admin.list_events(meter)]
        assert len(stored) == bound + 2 and stored.count("patient") == 1, "refused attempts stored nothing"


def test_the_client_is_usable_from_threads(shared_server: ServerProcess) -> None:
    """One Client (one channel) shared by threads, as a web service would."""
    with Client(shared_server.address, ADMIN_KEY) as api:
        meter = a_meter(api)
        barrier = threading.Barrier(8)

        def record(n: int) -> str:
            barrier.wait()
            return str(api.record_usage(an_event(meter, idempotency_key=f"t{n}"))["outcome"])

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(record, range(8))) == ["ACCEPTED"] * 8
        assert len(list(api.list_events(meter))) == 8
