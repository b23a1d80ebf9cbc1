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

The policy is the one of every retry loop (openspanner/retry.py). The wait is
the server's `google.rpc.RetryInfo` delay when it sent one (it always does
with RESOURCE_EXHAUSTED and UNAVAILABLE), else exponential backoff with
jitter. Attempts are bounded by `max_attempts`, and all attempts and waits
of one call by `deadline_seconds`: a wait that would end past it is not
started, and each attempt's timeout is cut to what is left. Which codes are
retried (`verdict`) is this module's; how long to wait is the policy's.
"""

from __future__ import annotations

import grpc

from openspanner.client.errors import ApiError, QuotaExceededError
from openspanner.retry import RetryAttempt, RetryPolicy, Verdict

__all__ = ["ALWAYS_RETRIED", "RetryAttempt", "RetryPolicy", "verdict"]

ALWAYS_RETRIED = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})


def verdict(repeatable: bool, error: ApiError) -> Verdict:
    """Whether a failed call is sent again, after the server's RetryInfo delay when it gave one.
    A Consume refused by a hard limit is RESOURCE_EXHAUSTED too, but final: its key replays the refusal."""
    if isinstance(error, QuotaExceededError):
        return Verdict(False, error.retry_delay)
    retried = error.code in ALWAYS_RETRIED or (error.code == grpc.StatusCode.DEADLINE_EXCEEDED and repeatable)
    return Verdict(retried, error.retry_delay)
