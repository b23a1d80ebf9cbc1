"""One retry policy for every loop that sends something again: the unary
clients, the stream client's reconnects, the importer and the batcher's
storage writes.

Shaped like gRPC's service-config retry policy and OpenTelemetry's exporters:
an exponential backoff (initial, multiplier, maximum) with jitter, bounded by
a number of attempts and by an overall deadline, and a delay the server gave
(gRPC `google.rpc.RetryInfo`) taken as the next wait
when there is one. Which failures are retried is the caller's part (a set of
status codes, or a predicate): the policy says how long to wait and when to
stop.

Pure arithmetic (`RetryPolicy.backoff`, `RetryPolicy.next_delay`) and a small
per-operation state (`Attempts`) with an injectable clock and random source,
so the schedule is tested without sleeping; `call_with_retries` and
`acall_with_retries` are the sync and async loops on top. Nothing here needs
the server install.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Random(Protocol):
    """What the jitter draws from: `random` itself, or a seeded `random.Random` in tests."""

    def uniform(self, a: float, b: float, /) -> float: ...


@dataclass(frozen=True)
class RetryAttempt:
    """What `RetryPolicy.on_retry` is told before each wait."""

    method: str
    # The attempt that failed, from 1.
    attempt: int
    # The failure (the unary clients: an ApiError).
    error: Any
    # Seconds before the next attempt.
    delay: float
    # True when the delay is the server's (RetryInfo, Retry-After), False when it is backoff.
    from_server: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts, and when to stop.

    `RetryPolicy(max_attempts=1)` turns retries off; `max_attempts=None` or
    `deadline_seconds=None` lifts that bound. The backoff of the wait after
    failed attempt n is `initial * multiplier**(n-1)`, capped at `max`, then
    scaled by a factor drawn uniformly from `jitter` (the default draws
    between half and all of the step, so clients refused together spread out).
    """

    max_attempts: int | None = 5
    deadline_seconds: float | None = 120.0
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    backoff_multiplier: float = 2.0
    # Called before each wait, e.g. to log or count retries.
    on_retry: Callable[[RetryAttempt], None] | None = None
    jitter: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        problems = [
            problem
            for problem, wrong in (
                ("max_attempts must be at least 1", self.max_attempts is not None and self.max_attempts < 1),
                ("deadline_seconds must be positive", self.deadline_seconds is not None and self.deadline_seconds <= 0),
                ("initial_backoff_seconds must not be negative", self.initial_backoff_seconds < 0),
                ("max_backoff_seconds must not be negative", self.max_backoff_seconds < 0),
                ("backoff_multiplier must be at least 1", self.backoff_multiplier < 1),
                ("jitter must be (low, high) with 0 <= low <= high", not 0 <= self.jitter[0] <= self.jitter[1]),
            )
            if wrong
        ]
        if problems:
            raise ValueError("RetryPolicy: " + "; ".join(problems))

    def step(self, failed_attempt: int) -> float:
        """The backoff after `failed_attempt` (from 1) before jitter: exponential, capped."""
        exponent = min(failed_attempt - 1, 1024)  # beyond that the cap has long applied
        try:
            step = self.initial_backoff_seconds * self.backoff_multiplier**exponent
        except OverflowError:
            step = math.inf
        return min(step, self.max_backoff_seconds)

    def backoff(self, failed_attempt: int, rng: Random = random) -> float:
        """Seconds before the attempt after `failed_attempt`, without a server delay."""
        return rng.uniform(*self.jitter) * self.step(failed_attempt)

    def next_delay(
        self, failed_attempt: int, hint: float | None = None, remaining: float | None = None, rng: Random = random
    ) -> float | None:
        """Seconds before the next attempt, or None when the attempts are over.

        `hint` is the server's delay (RetryInfo, Retry-After): taken as it is,
        instead of the backoff. `remaining` is what is left of the deadline:
        a wait that would end at or past it is not started, since no attempt
        could follow it.
        """
        if self.max_attempts is not None and failed_attempt >= self.max_attempts:
            return None
        delay = max(hint, 0.0) if hint is not None else self.backoff(failed_attempt, rng)
        if remaining is not None and delay >= remaining:
            return None
        return delay

    def delays(self, rng: Random = random) -> Iterator[float]:
        """The backoff schedule with no server delays and no deadline: one wait per retry."""
        failed = 1
        while (delay := self.next_delay(failed, rng=rng)) is not None:
            yield delay
            failed += 1


class Attempts:
    """The attempts of one operation under a policy: its deadline, and the wait after each failure."""

    def __init__(
        self,
        policy: RetryPolicy,
        method: str = "",
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Random = random,
    ) -> None:
        self._policy = policy
        self._method = method
        self._clock = clock
        self._rng = rng
        self._deadline = math.inf if policy.deadline_seconds is None else clock() + policy.deadline_seconds
        self.failed = 0

    def remaining(self) -> float:
        """Seconds left of the deadline (inf without one), never negative."""
        return max(self._deadline - self._clock(), 0.0)

    def timeout(self, per_attempt: float) -> float:
        """An attempt's timeout, cut to what is left of the deadline."""
        return min(per_attempt, self.remaining())

    def delay_before_retry(self, error: object, retryable: bool, hint: float | None = None) -> float | None:
        """Seconds to wait before trying again after `error`, or None when it is the answer."""
        self.failed += 1
        if not retryable:
            return None
        remaining = self.remaining() if math.isfinite(self._deadline) else None
        delay = self._policy.next_delay(self.failed, hint, remaining, self._rng)
        if delay is not None and self._policy.on_retry is not None:
            self._policy.on_retry(RetryAttempt(self._method, self.failed, error, delay, hint is not None))
        return delay


@dataclass(frozen=True)
class Verdict:
    """How a loop helper treats a failure: retried or not, after the server's delay if it gave one."""

    retryable: bool
    hint: float | None = None


E = TypeVar("E", bound=BaseException)


def call_with_retries(
    attempt: Callable[[float], T],
    attempts: Attempts,
    per_attempt_timeout: float,
    failure: type[E],
    judge: Callable[[E], Verdict],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`attempt(timeout)` until it returns, or raises a failure `judge` does not retry (re-raised),
    or the policy's attempts or deadline run out (the last failure re-raised)."""
    while True:
        try:
            return attempt(attempts.timeout(per_attempt_timeout))
        except failure as error:
            verdict = judge(error)
            delay = attempts.delay_before_retry(error, verdict.retryable, verdict.hint)
            if delay is None:
                raise
        sleep(delay)


async def acall_with_retries(
    attempt: Callable[[float], Awaitable[T]],
    attempts: Attempts,
    per_attempt_timeout: float,
    failure: type[E],
    judge: Callable[[E], Verdict],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`call_with_retries` for coroutines: the waits are `asyncio.sleep`, so other tasks run."""
    while True:
        try:
            return await attempt(attempts.timeout(per_attempt_timeout))
        except failure as error:
            verdict = judge(error)
            delay = attempts.delay_before_retry(error, verdict.retryable, verdict.hint)
            if delay is None:
                raise
        await sleep(delay)

