"""Client: every unary call of the API, blocking.

    with Client("localhost:50051", api_key) as client:
        client.record_usage({"idempotency_key": "req-1", "subject": "org_1", "meter": "api_requests",
                             "quantity": 1, "metadata": {"region": "eu"}})

AsyncClient (aio.py) has the same methods with the same arguments. Each
method's request, answer and retry rules are calls.py's (the one core of
both clients); this module only carries a call over a blocking channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc

from openspanner.client import calls, exports, webhooks
from openspanner.client.calls import DEFAULT_TIMEOUT_SECONDS, Call, CallSettings, PagedCall, Rpc, channel_arguments
from openspanner.client.convert import (
    ApiKey,
    BulkResult,
    CreatedApiKey,
    Filters,
    Meter,
    RecordResult,
    StoredEvent,
    UsageAnswer,
    next_page,
)
from openspanner.client.errors import ApiError, api_error
from openspanner.client.retry import RetryPolicy
from openspanner.retry import call_with_retries

T = TypeVar("T")


class Client:
    """A connection to one server with one API key.

    `server` is `host:port`, or `https://host[:port]` for TLS (or pass
    `credentials`). `timeout` is each attempt's default timeout in seconds;
    every method takes `timeout=` to override it for that call. `retry`
    says which failures are retried and how long all attempts of a call
    may take (retry.py). Failures raise ApiError subclasses (errors.py).
    """

    def __init__(
        self,
        server: str,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        target, credentials, options = channel_arguments(server, credentials, channel_options)
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self._settings = CallSettings(api_key, timeout, retry)
        self._callables: dict[Rpc, Any] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    # Meters.

    def create_meter(self, definition: Mapping[str, Any], *, timeout: float | None = None) -> Meter:
        """Create a meter from its definition (the product documents' JSON as a dict)."""
        return self._run(calls.create_meter(definition), timeout)

    def get_meter(self, name: str, *, timeout: float | None = None) -> Meter:
        """A meter by name or id."""
        return self._run(calls.get_meter(name), timeout)

    def list_meters(self, *, timeout: float | None = None) -> list[Meter]:
        """Every meter, by name (all pages)."""
        return list(self._items(calls.list_meters(), timeout))

    def update_meter(self, name: str, changes: Mapping[str, Any], *, timeout: float | None = None) -> Meter:
        """Change only the fields in `changes` (description, unit, event_retention_days, dimensions, ...)."""
        return self._run(calls.update_meter(name, changes), timeout)

    def delete_meter(self, name: str, *, force: bool = False, timeout: float | None = None) -> int:
        """Delete a meter; with `force` its events too. Returns the number of events deleted."""
        return self._run(calls.delete_meter(name, force), timeout)

    # Usage.

    def record_usage(self, event: Mapping[str, Any], *, timeout: float | None = None) -> RecordResult:
        """Record one event (idempotency_key, subject, meter, quantity, optional timestamp and metadata)."""
        return self._run(calls.record_usage(event), timeout)

    def record_usages(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        idempotency_key: str = "",
        validate_only: bool = False,
        timeout: float | None = None,
    ) -> BulkResult:
        """Record many events, one result each; a batch `idempotency_key` makes a repeat change nothing."""
        return self._run(calls.record_usages(events, idempotency_key, validate_only), timeout)

    # Queries.

    def query_usage(
        self,
        meter: str,
        start_time: datetime,
        end_time: datetime,
        *,
        window_size: str | None = None,
        time_zone: str = "",
        subjects: Sequence[str] = (),
        filters: Filters | None = None,
        group_by: Sequence[str] = (),
        fill: bool = False,
        timeout: float | None = None,
    ) -> UsageAnswer:
        """The meter's aggregate over [start_time, end_time), per window and group (docs/queries.md)."""
        call = calls.query_usage(
            meter, start_time, end_time, window_size=window_size, time_zone=time_zone, subjects=subjects,
            filters=filters, group_by=group_by, fill=fill,
        )
        return self._run(call, timeout)

    def list_events(
        self,
        meter: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        subjects: Sequence[str] = (),
        filters: Filters | None = None,
        page_size: int = 100,
        timeout: float | None = None,
    ) -> Iterator[StoredEvent]:
        """The meter's raw events, newest first, fetched a page at a time as the iteration goes."""
        call = calls.list_events(
            meter, start_time=start_time, end_time=end_time, subjects=subjects, filters=filters, page_size=page_size
        )
        yield from self._items(call, timeout)

    # API keys.

    def create_api_key(self, scope: str, *, name: str = "", timeout: float | None = None) -> CreatedApiKey:
        """A new key of scope ingest, read or admin; its secret is in this answer only."""
        return self._run(calls.create_api_key(scope, name), timeout)

    def list_api_keys(self, *, include_revoked: bool = False, timeout: float | None = None) -> list[ApiKey]:
        return self._run(calls.list_api_keys(include_revoked), timeout)

    def revoke_api_key(self, key_id: str, *, timeout: float | None = None) -> ApiKey:
        return self._run(calls.revoke_api_key(key_id), timeout)

    # Webhook destinations and deliveries (docs/webhooks.md); answers in the proto's JSON form.

    def create_destination(
        self, name: str, webhook_url: str, *, enabled: bool = True, timeout: float | None = None
    ) -> dict[str, Any]:
        """`{destination, signing_secret}`: the secret, in both forms, is in this answer only."""
        return self._run(webhooks.create_destination(name, webhook_url, enabled), timeout)

    def list_destinations(
        self, *, enabled: bool | None = None, limit: int = 0, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        return self._run(webhooks.list_destinations(enabled, limit), timeout)

    def get_destination(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(webhooks.get_destination(destination_id), timeout)

    def update_destination(
        self, destination_id: str, *, name: str | None = None, webhook_url: str | None = None,
        enabled: bool | None = None, timeout: float | None = None,
    ) -> dict[str, Any]:
        return self._run(webhooks.update_destination(destination_id, name, webhook_url, enabled), timeout)

    def delete_destination(self, destination_id: str, *, timeout: float | None = None) -> None:
        self._run(webhooks.delete_destination(destination_id), timeout)

    def rotate_destination_secret(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """`{destination, signing_secret}` with the new secret, in this answer only."""
        return self._run(webhooks.rotate_destination_secret(destination_id), timeout)

    def test_destination(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The delivery job of a test event sent to the destination."""
        return self._run(webhooks.test_destination(destination_id), timeout)

    def list_delivery_jobs(
        self, *, status: str = "", destination_id: str = "", event_id: str = "", event_kind: str = "",
        limit: int = 0, timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        call = webhooks.list_delivery_jobs(status, destination_id, event_id, event_kind, limit)
        return self._run(call, timeout)

    def get_delivery_job(self, job_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """`{delivery_job, attempts}`: the job and its delivery log."""
        return self._run(webhooks.get_delivery_job(job_id), timeout)

    def retry_delivery_job(self, job_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(webhooks.retry_delivery_job(job_id), timeout)

    # Export jobs (docs/exports.md); answers in the proto's JSON form.

    def create_export(
        self, query: Mapping[str, Any], *, kind: str = "usage_buckets", format: str = "csv", gzip: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Queue an export: `query` is a search body (usage_buckets) or the events API's parameters (events)."""
        return self._run(exports.create_export(kind, format, query, gzip), timeout)

    def list_exports(self, *, limit: int = 0, cursor: str = "", timeout: float | None = None) -> dict[str, Any]:
        """`{exports, next_cursor}`, newest first."""
        return self._run(exports.list_exports(limit, cursor), timeout)

    def get_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(exports.get_export(export_id), timeout)

    def cancel_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(exports.cancel_export(export_id), timeout)

    def retry_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(exports.retry_export(export_id), timeout)

    def download_export(self, export_id: str, path: str | Path, *, timeout: float | None = None) -> int:
        """Write a completed export's artifact to `path` as its chunks come; returns the bytes written.
        Not retried: a download cut short raises, and is started again by calling again."""
        written = 0
        try:
            responses = exports.download_stub(self._channel)(
                exports.download_request(export_id), metadata=self._settings.metadata,
                timeout=timeout or DEFAULT_TIMEOUT_SECONDS * 60,
            )
            with open(path, "wb") as file:
                for response in responses:
                    file.write(response.chunk)
                    written += len(response.chunk)
        except grpc.RpcError as failure:
            raise api_error(failure) from failure
        return written

    # Calling.

    def _items(self, call: PagedCall[T], timeout: float | None) -> Iterator[T]:
        request: Any = call.request
        while request is not None:
            response = self._send(call.rpc, request, timeout)
            yield from call.items(response)
            request = next_page(request, response)

    def _run(self, call: Call[T], timeout: float | None) -> T:
        return call.answer(self._send(call.rpc, call.request, timeout))

    def _send(self, rpc: Rpc, request: Any, timeout: float | None) -> Any:
        """The answer of `rpc`, sent again as the retry policy says; a failure raises its ApiError."""

        def attempt(attempt_timeout: float) -> Any:
            try:
                return self._callable(rpc)(request, metadata=self._settings.metadata, timeout=attempt_timeout)
            except grpc.RpcError as failure:
                raise api_error(failure) from failure

        settings = self._settings
        return call_with_retries(
            attempt, settings.attempts(rpc), settings.per_attempt(timeout), ApiError, settings.judge(rpc)
        )

    def _callable(self, rpc: Rpc) -> Any:
        if rpc not in self._callables:
            self._callables[rpc] = calls.stub(self._channel, rpc)
        return self._callables[rpc]
