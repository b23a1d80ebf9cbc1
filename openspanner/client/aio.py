"""AsyncClient: every unary call of the API, on grpc.aio.

    async with AsyncClient("localhost:50051", api_key) as client:
        await client.record_usage({...})
        async for event in client.list_events("api_requests"):
            ...

The same methods with the same arguments as Client (sync.py), awaited: both
are calls.py's core, and only the calling differs. Create it inside the event loop that uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
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
from openspanner.retry import acall_with_retries

T = TypeVar("T")


class AsyncClient:
    """A connection to one server with one API key; arguments as Client's."""

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
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._settings = CallSettings(api_key, timeout, retry)
        self._callables: dict[Rpc, Any] = {}

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    # Meters.

    async def create_meter(self, definition: Mapping[str, Any], *, timeout: float | None = None) -> Meter:
        """Create a meter from its definition (the product documents' JSON as a dict)."""
        return await self._run(calls.create_meter(definition), timeout)

    async def get_meter(self, name: str, *, timeout: float | None = None) -> Meter:
        """A meter by name or id."""
        return await self._run(calls.get_meter(name), timeout)

    async def list_meters(self, *, timeout: float | None = None) -> list[Meter]:
        """Every meter, by name (all pages)."""
        return [meter async for meter in self._items(calls.list_meters(), timeout)]

    async def update_meter(self, name: str, changes: Mapping[str, Any], *, timeout: float | None = None) -> Meter:
        """Change only the fields in `changes` (description, unit, event_retention_days, dimensions, ...)."""
        return await self._run(calls.update_meter(name, changes), timeout)

    async def delete_meter(self, name: str, *, force: bool = False, timeout: float | None = None) -> int:
        """Delete a meter; with `force` its events too. Returns the number of events deleted."""
        return await self._run(calls.delete_meter(name, force), timeout)

    # Usage.

    async def record_usage(self, event: Mapping[str, Any], *, timeout: float | None = None) -> RecordResult:
        """Record one event (idempotency_key, subject, meter, quantity, optional timestamp and metadata)."""
        return await self._run(calls.record_usage(event), timeout)

    async def record_usages(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        idempotency_key: str = "",
        validate_only: bool = False,
        timeout: float | None = None,
    ) -> BulkResult:
        """Record many events, one result each; a batch `idempotency_key` makes a repeat change nothing."""
        return await self._run(calls.record_usages(events, idempotency_key, validate_only), timeout)

    # Queries.

    async def query_usage(
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
        return await self._run(call, timeout)

    async def list_events(
        self,
        meter: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        subjects: Sequence[str] = (),
        filters: Filters | None = None,
        page_size: int = 100,
        timeout: float | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """The meter's raw events, newest first, fetched a page at a time as the iteration goes."""
        call = calls.list_events(
            meter, start_time=start_time, end_time=end_time, subjects=subjects, filters=filters, page_size=page_size
        )
        async for event in self._items(call, timeout):
            yield event

    # API keys.

    async def create_api_key(self, scope: str, *, name: str = "", timeout: float | None = None) -> CreatedApiKey:
        """A new key of scope ingest, read or admin; its secret is in this answer only."""
        return await self._run(calls.create_api_key(scope, name), timeout)

    async def list_api_keys(self, *, include_revoked: bool = False, timeout: float | None = None) -> list[ApiKey]:
        return await self._run(calls.list_api_keys(include_revoked), timeout)

    async def revoke_api_key(self, key_id: str, *, timeout: float | None = None) -> ApiKey:
        return await self._run(calls.revoke_api_key(key_id), timeout)

    # Webhook destinations and deliveries (docs/webhooks.md); answers in the proto's JSON form.

    async def create_destination(
        self, name: str, webhook_url: str, *, enabled: bool = True, timeout: float | None = None
    ) -> dict[str, Any]:
        """`{destination, signing_secret}`: the secret, in both forms, is in this answer only."""
        return await self._run(webhooks.create_destination(name, webhook_url, enabled), timeout)

    async def list_destinations(
        self, *, enabled: bool | None = None, limit: int = 0, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        return await self._run(webhooks.list_destinations(enabled, limit), timeout)

    async def get_destination(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(webhooks.get_destination(destination_id), timeout)

    async def update_destination(
        self, destination_id: str, *, name: str | None = None, webhook_url: str | None = None,
        enabled: bool | None = None, timeout: float | None = None,
    ) -> dict[str, Any]:
        return await self._run(webhooks.update_destination(destination_id, name, webhook_url, enabled), timeout)

    async def delete_destination(self, destination_id: str, *, timeout: float | None = None) -> None:
        await self._run(webhooks.delete_destination(destination_id), timeout)

    async def rotate_destination_secret(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """`{destination, signing_secret}` with the new secret, in this answer only."""
        return await self._run(webhooks.rotate_destination_secret(destination_id), timeout)

    async def test_destination(self, destination_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The delivery job of a test event sent to the destination."""
        return await self._run(webhooks.test_destination(destination_id), timeout)

    async def list_delivery_jobs(
        self, *, status: str = "", destination_id: str = "", event_id: str = "", event_kind: str = "",
        limit: int = 0, timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        call = webhooks.list_delivery_jobs(status, destination_id, event_id, event_kind, limit)
        return await self._run(call, timeout)

    async def get_delivery_job(self, job_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """`{delivery_job, attempts}`: the job and its delivery log."""
        return await self._run(webhooks.get_delivery_job(job_id), timeout)

    async def retry_delivery_job(self, job_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(webhooks.retry_delivery_job(job_id), timeout)

    # Export jobs (docs/exports.md); answers in the proto's JSON form.

    async def create_export(
        self, query: Mapping[str, Any], *, kind: str = "usage_buckets", format: str = "csv", gzip: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Queue an export: `query` is a search body (usage_buckets) or the events API's parameters (events)."""
        return await self._run(exports.create_export(kind, format, query, gzip), timeout)

    async def list_exports(self, *, limit: int = 0, cursor: str = "", timeout: float | None = None) -> dict[str, Any]:
        """`{exports, next_cursor}`, newest first."""
        return await self._run(exports.list_exports(limit, cursor), timeout)

    async def get_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(exports.get_export(export_id), timeout)

    async def cancel_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(exports.cancel_export(export_id), timeout)

    async def retry_export(self, export_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(exports.retry_export(export_id), timeout)

    async def download_export(self, export_id: str, path: str | Path, *, timeout: float | None = None) -> int:
        """Write a completed export's artifact to `path` as its chunks come; returns the bytes written.
        Not retried: a download cut short raises, and is started again by calling again."""
        written = 0
        call = exports.download_stub(self._channel)(
            exports.download_request(export_id), metadata=self._settings.metadata,
            timeout=timeout or DEFAULT_TIMEOUT_SECONDS * 60,
        )
        try:
            with open(path, "wb") as file:
                async for response in call:
                    file.write(response.chunk)
                    written += len(response.chunk)
        except grpc.RpcError as failure:
            raise api_error(failure) from failure
        return written

    # Calling.

    async def _items(self, call: PagedCall[T], timeout: float | None) -> AsyncIterator[T]:
        request: Any = call.request
        while request is not None:
            response = await self._send(call.rpc, request, timeout)
            for item in call.items(response):
                yield item
            request = next_page(request, response)

    async def _run(self, call: Call[T], timeout: float | None) -> T:
        return call.answer(await self._send(call.rpc, call.request, timeout))

    async def _send(self, rpc: Rpc, request: Any, timeout: float | None) -> Any:
        """The answer of `rpc`, sent again as the retry policy says; a failure raises its ApiError."""

        async def attempt(attempt_timeout: float) -> Any:
            try:
                return await self._callable(rpc)(request, metadata=self._settings.metadata, timeout=attempt_timeout)
            except grpc.RpcError as failure:
                raise api_error(failure) from failure

        settings = self._settings
        return await acall_with_retries(
            attempt, settings.attempts(rpc), settings.per_attempt(timeout), ApiError, settings.judge(rpc)
        )

    def _callable(self, rpc: Rpc) -> Any:
        if rpc not in self._callables:
            self._callables[rpc] = calls.stub(self._channel, rpc)
        return self._callables[rpc]
