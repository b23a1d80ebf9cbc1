"""When the unary clients send a call again, and how long they wait first.

Retried codes:

- RESOURCE_EXHAUSTED (the server's pending-events bound) and UNAVAILABLE
  (the server is draining, its storage did not answer in time, or the
  connection failed): the server stored nothing, so any call may go again.
  (A connection that breaks after a call reached the server is UNAVAILABLE
  too; a CreateMeter retried then answers ALREADY_EXISTS for its own
  success. That is rare, and GetMeter tells.)
- DEADLINE_EXCEEDED only for calls that give the same answer when repeated:
  reads, RecordUsage and RecordUsages (every event carries its idempotency
  key, so a resent event that was stored is answered DUPLICATE with the
  stored event and counted once; a batch key replays the first answer) and
  UpdateMeter (the same change twice leaves the same meter). Not for
  CreateMeter, DeleteMeter, CreateApiKey and RevokeApiKey: a timed-out call
  may have been carried out, and repeating it would answer ALREADY_EXISTS
  or NOT_FOUND for the caller's own success, or mint a second key whose
  secret the first answer carried. Those raise DeadlineExceededError and the
  caller decides (GetMeter tells whether the meter exists).

The wait is the server's `google.rpc.RetryInfo` delay when it sent one (it
always does with RESOURCE_EXHAUSTED and UNAVAILABLE), else exponential
backoff with jitter. Attempts are bounded by `max_attempts`, and all
attempts and waits of one call by `deadline_seconds`: a wait that would end
past it is not started, and each attempt's timeout is cut to what is left.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from openspanner.client.errors import ApiError

ALWAYS_RETRIED = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class RetryAttempt:
    """What `RetryPolicy.on_retry` is told before each wait."""

    method: str
    # The attempt that failed, from 1.
    attempt: int
    error: ApiError
    # Seconds the client waits before the next attempt.
    delay: float
    # True when the delay is the server's RetryInfo, False when it is backoff.
    from_server: bool


@dataclass(frozen=True)
class RetryPolicy:
    """`RetryPolicy(max_attempts=1)` turns retries off."""

    max_attempts: int = 5
    deadline_seconds: float = 120.0
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    backoff_multiplier: float = 2.0
    # Called before each wait, e.g. to log or count retries.
    on_retry: Callable[[RetryAttempt], None] | None = None

    def backoff(self, failed_attempt: int) -> float:
        """Seconds before the attempt after `failed_attempt` (from 1), without a server delay:
        between half and all of the exponential step, so clients refused together spread out."""
        step = self.initial_backoff_seconds * self.backoff_multiplier ** (failed_attempt - 1)
        return random.uniform(0.5, 1.0) * min(step, self.max_backoff_seconds)


class Attempts:
    """The attempts of one call: each one's timeout, and whether (and after what wait) to try again."""

    def __init__(self, policy: RetryPolicy, method: str, repeatable: bool, timeout: float) -> None:
        self._policy = policy
        self._method = method
        self._repeatable = repeatable
        self._timeout = timeout
        self._deadline = time.monotonic() + policy.deadline_seconds
        self._failed = 0

    def timeout(self) -> float:
        """The call's timeout, cut to what is left of the deadline."""
        return max(min(self._timeout, self._deadline - time.monotonic()), 0.0)

    def delay_before_retry(self, error: ApiError) -> float | None:
        """Seconds to wait before trying again, or None when `error` is the answer."""
        self._failed += 1
        if not self._retried(error) or self._failed >= self._policy.max_attempts:
            return None
        from_server = error.retry_delay is not None
        delay = error.retry_delay if error.retry_delay is not None else self._policy.backoff(self._failed)
        if time.monotonic() + delay >= self._deadline:
            return None
        if self._policy.on_retry is not None:
            self._policy.on_retry(RetryAttempt(self._method, self._failed, error, delay, from_server))
        return delay

    def _retried(self, error: ApiError) -> bool:
        if error.code in ALWAYS_RETRIED:
            return True
        return error.code == grpc.StatusCode.DEADLINE_EXCEEDED and self._repeatable
