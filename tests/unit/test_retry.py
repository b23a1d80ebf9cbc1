"""The one retry policy (openspanner/retry.py): its schedule, the server's delay, its bounds.

No server and no sleeping: the clock is a fake, the jitter a seeded or fixed
random source, and the loops' waits are recorded instead of slept.
"""

from __future__ import annotations

import asyncio
import random
import socket
from dataclasses import replace

import grpc
import pytest

from openspanner.client.errors import ApiError, DeadlineExceededError, ResourceExhaustedError, UnavailableError
from openspanner.client.retry import verdict
from openspanner.client.streams import RECONNECT_POLICY, StreamClient, StreamError
from openspanner.importer.send import retry_policy
from openspanner.importer.send import verdict as importer_verdict
from openspanner.ingest.batch import STORAGE_RETRY
from openspanner.retry import (
    Attempts,
    RetryAttempt,
    RetryPolicy,
    Verdict,
    acall_with_retries,
    call_with_retries,
)
from openspanner.v1 import usage_pb2


class FixedRandom:
    """Jitter that always draws the same point of its range: 0 the low end, 1 the high end."""

    def __init__(self, at: float) -> None:
        self.at = at

    def uniform(self, a: float, b: float, /) -> float:
        return a + (b - a) * self.at


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


POLICY = RetryPolicy(
    max_attempts=6, deadline_seconds=None, initial_backoff_seconds=0.1, max_backoff_seconds=1.0, backoff_multiplier=3.0
)


def test_the_backoff_grows_by_the_multiplier_up_to_its_cap() -> None:
    assert [POLICY.step(n) for n in range(1, 6)] == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])
    assert list(POLICY.delays(FixedRandom(1.0))) == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])
    assert list(POLICY.delays(FixedRandom(0.0))) == pytest.approx([0.05, 0.15, 0.45, 0.5, 0.5])


def test_the_jitter_spreads_each_wait_over_its_range_reproducibly() -> None:
    first = list(POLICY.delays(random.Random(7)))
    assert first == list(POLICY.delays(random.Random(7))), "the same seed, the same schedule"
    assert first != list(POLICY.delays(random.Random(8)))
    for failed, delay in enumerate(first, start=1):
        assert POLICY.step(failed) / 2 <= delay <= POLICY.step(failed)
    symmetric = replace(POLICY, jitter=(0.5, 1.5))
    draws = [symmetric.backoff(2, random.Random(seed)) for seed in range(200)]
    assert min(draws) >= 0.15 and max(draws) <= 0.45
    assert min(draws) < 0.2 and max(draws) > 0.4, "the whole range is used"


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert POLICY.step(10_000) == 1.0


def test_max_attempts_counts_the_first_attempt() -> None:
    assert len(list(POLICY.delays())) == 5, "6 attempts, 5 waits"
    assert list(RetryPolicy(max_attempts=1).delays()) == [], "one attempt: retries off"
    assert POLICY.next_delay(6) is None


def test_the_servers_delay_replaces_the_backoff() -> None:
    assert POLICY.next_delay(1, hint=7.5, rng=FixedRandom(0.0)) == 7.5, "beyond max_backoff too"
    assert POLICY.next_delay(1, hint=0.0) == 0.0
    assert POLICY.next_delay(6, hint=0.1) is None, "but not beyond max_attempts"


def test_no_wait_is_started_that_would_end_past_the_deadline() -> None:
    assert POLICY.next_delay(1, hint=2.0, remaining=2.5) == 2.0
    assert POLICY.next_delay(1, hint=2.0, remaining=2.0) is None
    assert POLICY.next_delay(3, remaining=0.5, rng=FixedRandom(1.0)) is None, "0.9 of backoff, 0.5 left"
    assert POLICY.next_delay(3, remaining=0.5, rng=FixedRandom(0.0)) == pytest.approx(0.45)


def test_the_policy_refuses_settings_that_cannot_work_naming_each() -> None:
    with pytest.raises(ValueError, match="max_attempts") as refused:
        RetryPolicy(max_attempts=0, backoff_multiplier=0.5, jitter=(1.0, 0.5))
    assert "backoff_multiplier" in str(refused.value) and "jitter" in str(refused.value)
    with pytest.raises(ValueError, match="deadline_seconds"):
        RetryPolicy(deadline_seconds=0)


def unavailable(retry_delay: float | None = None) -> ApiError:
    return UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", retry_delay=retry_delay)


def test_attempts_tell_on_retry_each_wait_and_whose_it_is() -> None:
    told: list[RetryAttempt] = []
    policy = replace(POLICY, on_retry=told.append)
    attempts = Attempts(policy, "GetMeter", rng=FixedRandom(1.0))
    assert attempts.delay_before_retry(unavailable(), True) == pytest.approx(0.1)
    assert attempts.delay_before_retry(unavailable(4.0), True, hint=4.0) == 4.0
    assert [(t.method, t.attempt, t.delay, t.from_server) for t in told] == [
        ("GetMeter", 1, pytest.approx(0.1), False),
        ("GetMeter", 2, 4.0, True),
    ]
    assert attempts.delay_before_retry(unavailable(), False) is None, "not retryable: the answer"
    assert len(told) == 2


def test_the_deadline_cuts_each_attempts_timeout_and_ends_the_waits() -> None:
    clock = FakeClock()
    attempts = Attempts(replace(POLICY, deadline_seconds=10.0, max_attempts=None), clock=clock, rng=FixedRandom(1.0))
    assert attempts.timeout(30.0) == 10.0
    clock.now += 9.5
    assert attempts.timeout(30.0) == pytest.approx(0.5)
    assert attempts.delay_before_retry(unavailable(), True) == pytest.approx(0.1)
    assert attempts.delay_before_retry(unavailable(1.0), True, hint=1.0) is None, "would end past the deadline"
    clock.now += 1
    assert attempts.timeout(30.0) == 0.0


def test_the_loop_retries_until_an_answer_sleeping_the_servers_delay() -> None:
    clock = FakeClock()
    failures = [unavailable(), ResourceExhaustedError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", retry_delay=2.5)]
    timeouts: list[float] = []

    def attempt(timeout: float) -> str:
        timeouts.append(timeout)
        if failures:
            raise failures.pop(0)
        return "stored"

    attempts = Attempts(replace(POLICY, deadline_seconds=60.0), clock=clock, rng=FixedRandom(1.0))
    judge = lambda error: verdict(True, error)  # noqa: E731
    assert call_with_retries(attempt, attempts, 30.0, ApiError, judge, sleep=clock.sleep) == "stored"
    assert clock.now == pytest.approx(1000.0 + 0.1 + 2.5), "backoff first, then the server's 2.5 s"
    assert timeouts == pytest.approx([30.0, 30.0, 30.0])


def test_a_code_that_is_not_retryable_is_raised_at_once() -> None:
    calls = 0

    def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        raise DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "late")

    sleeps: list[float] = []
    with pytest.raises(DeadlineExceededError):
        call_with_retries(attempt, Attempts(POLICY), 1.0, ApiError, lambda e: verdict(False, e), sleeps.append)
    assert calls == 1 and sleeps == [], "a call that may have been carried out is not repeated"
    assert verdict(True, DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "late")).retryable
    assert not verdict(True, ApiError(grpc.StatusCode.INVALID_ARGUMENT, "bad")).retryable


def test_other_exceptions_pass_through_the_loop_untouched() -> None:
    def attempt(timeout: float) -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(attempt, Attempts(POLICY), 1.0, ApiError, lambda e: Verdict(True), lambda s: None)


def test_the_async_loop_gives_up_after_max_attempts_with_the_last_failure() -> None:
    sleeps: list[float] = []
    errors = [unavailable() for _ in range(6)]

    async def attempt(timeout: float) -> str:
        raise errors.pop(0)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    attempts = Attempts(POLICY, rng=FixedRandom(1.0))
    with pytest.raises(UnavailableError):
        asyncio.run(acall_with_retries(attempt, attempts, 1.0, ApiError, lambda e: Verdict(True), sleep))
    assert sleeps == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0]) and errors == []


def test_the_batchers_storage_waits_are_its_old_schedule() -> None:
    """0.1 s doubling to 5 s, times a factor in [0.5, 1.5]; no bound of its own (the block's deadline is)."""
    assert [STORAGE_RETRY.step(n) for n in range(1, 9)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert STORAGE_RETRY.backoff(3, FixedRandom(0.0)) == pytest.approx(0.2)
    assert STORAGE_RETRY.backoff(3, FixedRandom(1.0)) == pytest.approx(0.6)
    assert STORAGE_RETRY.next_delay(10_000) is not None



def test_the_importer_retries_transient_codes_after_the_servers_delay_until_its_deadline() -> None:
    policy = retry_policy(300.0)
    assert policy.max_attempts is None and policy.deadline_seconds == 300.0
    full = ResourceExhaustedError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", retry_delay=1.5)
    assert importer_verdict(full) == Verdict(True, 1.5)
    assert importer_verdict(ApiError(grpc.StatusCode.ABORTED, "conflict")) == Verdict(True, None)
    assert not importer_verdict(ApiError(grpc.StatusCode.INVALID_ARGUMENT, "bad")).retryable


def test_the_stream_client_reconnects_without_end_by_default() -> None:
    assert RECONNECT_POLICY.max_attempts is None and RECONNECT_POLICY.deadline_seconds is None
    assert [RECONNECT_POLICY.step(n) for n in (1, 2, 7, 8)] == pytest.approx([0.1, 0.2, 5.0, 5.0])


def test_a_bounded_reconnect_policy_ends_the_stream_with_the_last_error() -> None:
    """Nothing listens on the port: each connection fails UNAVAILABLE, and after three attempts
    the stream fails instead of reconnecting forever (the default)."""
    told: list[RetryAttempt] = []
    policy = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.01, on_retry=told.append)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    async def open_stream() -> None:
        async with StreamClient(f"127.0.0.1:{port}", "key", usage_pb2.StreamUsageStart(), retry=policy):
            pass

    with pytest.raises(StreamError) as failed:
        asyncio.run(asyncio.wait_for(open_stream(), 30))
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert [t.attempt for t in told] == [1, 2] and all(t.method == "StreamUsage" for t in told)
