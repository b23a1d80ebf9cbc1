"""The importer's gRPC side: read the meter, send prepared RecordUsages requests.

Requests arrive already serialized (batches.py builds the bytes once and
hashes them for the batch key), so the call passes bytes straight through.
A batch is retried only on errors that resending can fix, under the same
batch key (the server then stores nothing twice), as the one retry policy
says (openspanner/retry.py): after the server's RetryInfo delay when it sent
one (a full or draining server does), else with backoff and jitter, until
the retry deadline.
"""

from __future__ import annotations

import grpc

from openspanner.client.calls import parse_target
from openspanner.client.errors import ApiError, api_error
from openspanner.errors import ConfigError
from openspanner.retry import Attempts, RetryPolicy, Verdict, acall_with_retries
from openspanner.v1 import meter_pb2, meter_pb2_grpc, usage_pb2

RECORD_USAGES = "/openspanner.v1.UsageService/RecordUsages"
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
})
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CALL_TIMEOUT_SECONDS = 120.0


def retry_policy(retry_seconds: float) -> RetryPolicy:
    """No bound on attempts, only on time: an import outlasts a server restart."""
    return RetryPolicy(
        max_attempts=None,
        deadline_seconds=retry_seconds,
        initial_backoff_seconds=0.2,
        max_backoff_seconds=10.0,
        jitter=(0.5, 1.5),
    )


def verdict(error: ApiError) -> Verdict:
    """Every batch carries its key and its events theirs, so any transient failure may be resent."""
    return Verdict(error.code in RETRYABLE, error.retry_delay)


class ImportFailed(Exception):
    """The server refused a whole batch, or stayed unreachable past the retry deadline."""


class UsageSender:
    def __init__(
        self, server: str, api_key: str, retry_seconds: float = 300.0, retry: RetryPolicy | None = None
    ) -> None:
        """`retry` replaces the policy of `retry_seconds` (e.g. to watch the retries with `on_retry`)."""
        try:
            target, secure = parse_target(server)
        except ValueError as error:
            raise ConfigError(f"--{error}") from None
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
        self._channel = (
            grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
            if secure
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._retry = retry or retry_policy(retry_seconds)
        self._record = self._channel.unary_unary(
            RECORD_USAGES,
            request_serializer=None,
            response_deserializer=usage_pb2.RecordUsagesResponse.FromString,
        )

    async def get_meter(self, name: str) -> meter_pb2.Meter:
        stub = meter_pb2_grpc.MeterServiceStub(self._channel)  # type: ignore[no-untyped-call]
        try:
            meter: meter_pb2.Meter = await stub.GetMeter(
                meter_pb2.GetMeterRequest(name=name), metadata=self._metadata, timeout=30
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.PERMISSION_DENIED:
                raise ConfigError(
                    f"the key cannot read meter {name!r} ({error.details()}); import needs a key that may"
                    " read meters and record usage: an admin key"
                ) from None
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise ConfigError(
                    f"meter {name!r} does not exist; create it first (openspanner meters create)"
                ) from None
            raise
        return meter

    async def record(self, request: bytes) -> usage_pb2.RecordUsagesResponse:
        """The answer to one batch, retrying transient failures until the retry deadline."""

        async def attempt(timeout: float) -> usage_pb2.RecordUsagesResponse:
            try:
                response: usage_pb2.RecordUsagesResponse = await self._record(
                    request, metadata=self._metadata, timeout=timeout
                )
            except grpc.aio.AioRpcError as failure:
                raise api_error(failure) from None
            return response

        try:
            return await acall_with_retries(
                attempt, Attempts(self._retry, "RecordUsages"), CALL_TIMEOUT_SECONDS, ApiError, verdict
            )
        except ApiError as error:
            if error.code not in RETRYABLE:
                raise ImportFailed(f"{error.code.name}: {error.message}") from None
            limit = self._retry.deadline_seconds
            within = f" for {limit:.0f}s" if limit is not None else ""
            raise ImportFailed(
                f"server unreachable{within} ({error.code.name}: {error.message}); run again with --resume"
            ) from None

    async def close(self) -> None:
        await self._channel.close()
