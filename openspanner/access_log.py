"""The access log: one line per call, and the call counts of /metrics; the part no transport owns.

A unary gRPC call gets one line when it ends; a streaming call one when it
starts and one when it ends (the interceptor in grpc/access_log.py); an HTTP
request one when it is answered (the middleware in http/access_log.py). Each names the method, the status, the
duration in milliseconds and the id of the API key the call was let in with
(never its secret; null when no key was recognised). Lines are written by
the logger `openspanner.access` (the `logger` field of each JSON line), at
info, and at debug for health checks and scrapes, which load balancers and
Prometheus send every few seconds.

The key id reaches the line through `caller`: the call's access record is
set in a context variable before authentication runs, and ApiKeys.identify
notes the id it recognised there, whichever transport or route asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from openspanner.logging import get_logger
from openspanner.metrics import Metrics

LOGGER_NAME = "openspanner.access"
log = get_logger(LOGGER_NAME).bind(logger=LOGGER_NAME)


@dataclass(slots=True)
class Caller:
    """Who a call in progress is: filled in by authentication."""

    key_id: str | None = None


_caller: ContextVar[Caller | None] = ContextVar("openspanner_caller", default=None)


@contextmanager
def identifying() -> Iterator[Caller]:
    """Within it, a key recognised by ApiKeys.identify is noted on the Caller yielded."""
    caller = Caller()
    token = _caller.set(caller)
    try:
        yield caller
    finally:
        _caller.reset(token)


def note_key(key_id: str) -> None:
    """The key id the call in progress authenticated with (nothing outside a call)."""
    caller = _caller.get()
    if caller is not None:
        caller.key_id = key_id


def duration_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)


def count_call(metrics: Metrics, transport: str, label: str, status: str, elapsed_ms: float, *, timed: bool) -> None:
    """Count a finished call in openspanner_requests and, when `timed`, its latency: a stream's
    duration is how long its client kept it open, not latency, so streams are only counted."""
    metrics.requests.labels(transport, label, status).inc()
    if timed:
        metrics.request_seconds.labels(transport, label).observe(elapsed_ms / 1000)
