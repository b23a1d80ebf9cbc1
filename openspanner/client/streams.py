"""A Python client for the ingest streams, with exactly-once delivery.

    async with StreamClient("localhost:50051", api_key, DeviceTelemetry(meter="readings")) as stream:
        await stream.send(usage_pb2.DeviceReading(idempotency_key="d1-0001", device_id="d1", ...))
    # leaving the block waits until every event is acknowledged

The client keeps one stream open, packs events into batch messages, and keeps
every event until the server acknowledges it (after commit). When the stream
breaks (server restart, deploy, connection age) it reconnects and resends the
unacknowledged events with their original idempotency keys and timestamps, so
the server answers them ACCEPTED or DUPLICATE, never counts them twice. Events
answered RETRY (storage was down) are resent the same way. Reconnects follow
the one retry policy (openspanner/retry.py): after the server's RetryInfo
delay when the stream ended with one, else with backoff and jitter; by
default without end, since every event is kept until acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from openspanner.client.calls import parse_target
from openspanner.client.errors import api_error
from openspanner.retry import Attempts, RetryPolicy
from openspanner.v1 import usage_pb2, usage_pb2_grpc

# Stream-level answers that resending cannot fix: raise them to the caller.
FATAL_CODES = frozenset({
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.INVALID_ARGUMENT,
})


@dataclass(frozen=True)
class StreamKind:
    """How one stream type is spelled on the wire."""

    method: str
    request: type
    batch: type
    events_field: str
    start_field: str = "start"


USAGE = StreamKind("StreamUsage", usage_pb2.StreamUsageRequest, usage_pb2.UsageEventBatch, "events")
DEVICE_TELEMETRY = StreamKind(
    "StreamDeviceTelemetry", usage_pb2.DeviceTelemetryRequest, usage_pb2.DeviceReadingBatch, "readings"
)
WEBSOCKET_SESSIONS = StreamKind(
    "StreamWebSocketSessions", usage_pb2.WebSocketSessionRequest, usage_pb2.WebSocketSessionBatch, "events"
)
QUEUE_THROUGHPUT = StreamKind(
    "StreamQueueThroughput", usage_pb2.QueueThroughputRequest, usage_pb2.QueueThroughputBatch, "events"
)
# Reconnects: quick at first, then every few seconds, for as long as it takes.
RECONNECT_POLICY = RetryPolicy(
    max_attempts=None, deadline_seconds=None, initial_backoff_seconds=0.1, max_backoff_seconds=5.0, jitter=(0.5, 1.5)
)
_KIND_BY_START = {
    usage_pb2.StreamUsageStart: USAGE,
    usage_pb2.DeviceTelemetryStart: DEVICE_TELEMETRY,
    usage_pb2.WebSocketSessionStart: WEBSOCKET_SESSIONS,
    usage_pb2.QueueThroughputStart: QUEUE_THROUGHPUT,
}


class StreamError(Exception):
    """The server ended the stream for a reason resending cannot fix."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


@dataclass
class StreamStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    # (sequence, field, message) of every rejected event.
    rejections: list[tuple[int, str, str]] = field(default_factory=list)
    reconnects: int = 0


class StreamClient:
    def __init__(
        self,
        target: str,
        api_key: str,
        start: Any,
        *,
        batch_size: int = 500,
        linger_seconds: float = 0.01,
        max_unacked: int = 20_000,
        channel_options: list[tuple[str, Any]] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        retry: RetryPolicy = RECONNECT_POLICY,
    ) -> None:
        """`start` is the stream's start message, e.g. usage_pb2.DeviceTelemetryStart(meter=...).

        `target` is `host:port`, or `https://host[:port]` for TLS with the system's roots;
        `credentials` (grpc.ssl_channel_credentials(...)) for TLS with others. `retry`
        paces reconnects; its attempts and deadline count from the last connection
        that was acknowledged, and when they run out the stream fails with the last error.
        """
        self._target, secure = parse_target(target)
        self._credentials = credentials or (grpc.ssl_channel_credentials() if secure else None)
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._start = start
        self._kind = _KIND_BY_START[type(start)]
        self._batch_size = batch_size
        self._linger = linger_seconds
        self._max_unacked = max_unacked
        self._channel_options = channel_options or [("grpc.keepalive_time_ms", 30_000)]
        self._unacked: dict[int, Any] = {}
        self._to_send: asyncio.Queue[int] = asyncio.Queue()
        self._next_sequence = 1
        self._changed = asyncio.Condition()
        self._failure: StreamError | None = None
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._retry = retry
        # Whether the current connection was acknowledged: then a break starts the backoff afresh.
        self._acked = False
        self.stats = StreamStats()

    async def __aenter__(self) -> StreamClient:
        """Open the stream; raises StreamError if the server refuses its start message."""
        self._runner = asyncio.create_task(self._run_forever())
        async with self._changed:
            await self._changed.wait_for(lambda: self._opened.is_set() or self._failure is not None)
        if self._failure:
            await self.close()
            raise self._failure
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                await self.flush()
        finally:
            await self.close()

    async def send(self, event: Any) -> int:
        """Queue an event; returns its sequence number. Waits while max_unacked are outstanding."""
        self._raise_failure()
        if event.DESCRIPTOR.fields_by_name.get("timestamp") and not event.HasField("timestamp"):
            # A resent copy must be identical to the first, so the time is fixed now.
            event.timestamp.GetCurrentTime()
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._unacked) < self._max_unacked or self._failure)
            self._raise_failure()
            sequence = self._next_sequence
            self._next_sequence += 1
            self._unacked[sequence] = event
        self._to_send.put_nowait(sequence)
        return sequence

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every event sent so far is acknowledged."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: not self._unacked or self._failure), timeout)
        self._raise_failure()

    async def close(self) -> None:
        self._closing = True
        if self._runner:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def _raise_failure(self) -> None:
        if self._failure:
            raise self._failure

    def _channel(self) -> grpc.aio.Channel:
        if self._credentials is None:
            return grpc.aio.insecure_channel(self._target, options=self._channel_options)
        return grpc.aio.secure_channel(self._target, self._credentials, options=self._channel_options)

    async def _run_forever(self) -> None:
        attempts = Attempts(self._retry, self._kind.method)
        while not self._closing:
            self._acked = False
            hint: float | None = None
            code, details = grpc.StatusCode.UNAVAILABLE, "the stream ended"
            try:
                async with self._channel() as channel:
                    await self._run_stream(channel)
            except grpc.aio.AioRpcError as error:
                if error.code() in FATAL_CODES:
                    await self._fail(StreamError(error.code(), error.details() or ""))
                    return
                hint = api_error(error).retry_delay
                code, details = error.code(), error.details() or ""
            except (OSError, asyncio.InvalidStateError, grpc.aio.UsageError) as error:
                details = repr(error)  # the connection broke in another way: reconnect all the same
            if self._acked:
                attempts = Attempts(self._retry, self._kind.method)
            delay = attempts.delay_before_retry(StreamError(code, details), True, hint)
            if delay is None:
                await self._fail(StreamError(code, details))
                return
            self.stats.reconnects += 1
            await asyncio.sleep(delay)

    async def _fail(self, failure: StreamError) -> None:
        async with self._changed:
            self._failure = failure
            self._changed.notify_all()

    async def _run_stream(self, channel: grpc.aio.Channel) -> None:
        # Each connection gets its own send queue, starting with every event
        # not yet acknowledged, in order: the request iterator of a broken
        # call may still be running and must not take events meant for this one.
        self._to_send = asyncio.Queue()
        for sequence in sorted(self._unacked):
            self._to_send.put_nowait(sequence)
        stub = usage_pb2_grpc.UsageServiceStub(channel)  # type: ignore[no-untyped-call]
        call = getattr(stub, self._kind.method)(self._requests(self._to_send), metadata=self._metadata)
        async for ack in call:
            await self._on_ack(ack)

    async def _requests(self, queue: asyncio.Queue[int]) -> AsyncIterator[Any]:
        yield self._kind.request(**{self._kind.start_field: self._start})
        while True:
            sequences = await self._next_run(queue)
            batch = self._kind.batch(first_sequence=sequences[0])
            getattr(batch, self._kind.events_field).extend(self._unacked[s] for s in sequences)
            yield self._kind.request(batch=batch)

    async def _next_run(self, queue: asyncio.Queue[int]) -> list[int]:
        """Up to batch_size queued sequence numbers that follow each other."""
        run = [await queue.get()]
        deadline = time.monotonic() + self._linger
        while len(run) < self._batch_size:
            if queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(remaining, 0.002))
                continue
            sequence = queue._queue[0]  # type: ignore[attr-defined]
            if sequence not in self._unacked:
                queue.get_nowait()  # acknowledged meanwhile
                continue
            if sequence != run[-1] + 1:
                break
            run.append(queue.get_nowait())
        return [s for s in run if s in self._unacked] or await self._next_run(queue)

    async def _on_ack(self, ack: usage_pb2.StreamAck) -> None:
        async with self._changed:
            self._opened.set()
            self._acked = True
            for item in ack.acks:
                outcome = usage_pb2.Outcome.Name(item.outcome)
                for sequence in range(item.first_sequence, item.last_sequence + 1):
                    if sequence not in self._unacked:
                        continue
                    if item.outcome == usage_pb2.RETRY:
                        self._to_send.put_nowait(sequence)
                        self.stats.outcomes[outcome] += 1
                        continue
                    del self._unacked[sequence]
                    self.stats.outcomes[outcome] += 1
                    if item.outcome == usage_pb2.REJECTED:
                        self.stats.rejections.append((sequence, item.rejection.field, item.rejection.message))
            self._changed.notify_all()
