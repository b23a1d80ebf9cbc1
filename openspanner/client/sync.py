"""Client: every unary call of the API, blocking.

    with Client("localhost:50051", api_key) as client:
        client.record_usage({"idempotency_key": "req-1", "subject": "org_1", "meter": "api_requests",
                             "quantity": 1, "metadata": {"region": "eu"}})

AsyncClient (aio.py) has the same methods with the same arguments. Requests
are built and answers converted by convert.py; retries are decided by
retry.py; this module only makes the calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from openspanner.client import convert
from openspanner.client.calls import (
    CREATE_API_KEY,
    CREATE_METER,
    DEFAULT_TIMEOUT_SECONDS,
    DELETE_METER,
    GET_METER,
    LIST_API_KEYS,
    LIST_EVENTS,
    LIST_METERS,
    QUERY_USAGE,
    RECORD_USAGE,
    RECORD_USAGES,
    REVOKE_API_KEY,
    UPDATE_METER,
    Rpc,
    auth_metadata,
    channel_arguments,
    serialize,
)
from openspanner.client.convert import (
    ApiKey,
    BulkResult,
    CreatedApiKey,
    Filters,
    Meter,
    RecordResult,
    StoredEvent,
    UsageAnswer,
)
from openspanner.client.errors import api_error
from openspanner.client.retry import Attempts, RetryPolicy


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
        self._metadata = auth_metadata(api_key)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
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
        return convert.meter(self._call(CREATE_METER, convert.meter_message(definition), timeout))

    def get_meter(self, name: str, *, timeout: float | None = None) -> Meter:
        """A meter by name or id."""
        return convert.meter(self._call(GET_METER, convert.get_meter_request(name), timeout))

    def list_meters(self, *, timeout: float | None = None) -> list[Meter]:
        """Every meter, by name (all pages)."""
        pages = self._pages(LIST_METERS, convert.list_meters_request(), timeout)
        return [m for page in pages for m in convert.meters(page)]

    def update_meter(self, name: str, changes: Mapping[str, Any], *, timeout: float | None = None) -> Meter:
        """Change only the fields in `changes` (description, unit, event_retention_days, dimensions, ...)."""
        return convert.meter(self._call(UPDATE_METER, convert.update_meter_request(name, changes), timeout))

    def delete_meter(self, name: str, *, force: bool = False, timeout: float | None = None) -> int:
        """Delete a meter; with `force` its events too. Returns the number of events deleted."""
        return convert.deleted_events(self._call(DELETE_METER, convert.delete_meter_request(name, force), timeout))

    # Usage.

    def record_usage(self, event: Mapping[str, Any], *, timeout: float | None = None) -> RecordResult:
        """Record one event (idempotency_key, subject, meter, quantity, optional timestamp and metadata)."""
        return convert.record_result(self._call(RECORD_USAGE, convert.usage_event(event), timeout))

    def record_usages(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        idempotency_key: str = "",
        validate_only: bool = False,
        timeout: float | None = None,
    ) -> BulkResult:
        """Record many events, one result each; a batch `idempotency_key` makes a repeat change nothing."""
        request = convert.record_usages_request(events, idempotency_key, validate_only)
        return convert.bulk_result(self._call(RECORD_USAGES, request, timeout))

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
        """The meter's aggregate over [start_time, end_time), per window and group (README "Queries")."""
        request = convert.query_usage_request(
            meter, start_time, end_time, window_size=window_size, time_zone=time_zone, subjects=subjects,
            filters=filters, group_by=group_by, fill=fill,
        )
        return convert.usage_answer(self._call(QUERY_USAGE, request, timeout))

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
        request = convert.list_events_request(
            meter, start_time=start_time, end_time=end_time, subjects=subjects, filters=filters, page_size=page_size
        )
        for page in self._pages(LIST_EVENTS, request, timeout):
            yield from convert.stored_events(page)

    # API keys.

    def create_api_key(self, scope: str, *, name: str = "", timeout: float | None = None) -> CreatedApiKey:
        """A new key of scope ingest, read or admin; its secret is in this answer only."""
        return convert.created_api_key(self._call(CREATE_API_KEY, convert.create_api_key_request(scope, name), timeout))

    def list_api_keys(self, *, include_revoked: bool = False, timeout: float | None = None) -> list[ApiKey]:
        return convert.api_keys(self._call(LIST_API_KEYS, convert.list_api_keys_request(include_revoked), timeout))

    def revoke_api_key(self, key_id: str, *, timeout: float | None = None) -> ApiKey:
        return convert.api_key(self._call(REVOKE_API_KEY, convert.revoke_api_key_request(key_id), timeout))

    # Calling.

    def _pages(self, rpc: Rpc, request: Any, timeout: float | None) -> Iterator[Any]:
        while request is not None:
            response = self._call(rpc, request, timeout)
            yield response
            request = convert.next_page(request, response)

    def _call(self, rpc: Rpc, request: Message, timeout: float | None) -> Any:
        attempts = Attempts(self._retry, rpc.method, rpc.repeatable, self._timeout if timeout is None else timeout)
        while True:
            try:
                return self._callable(rpc)(request, metadata=self._metadata, timeout=attempts.timeout())
            except grpc.RpcError as failure:
                error = api_error(failure)
                delay = attempts.delay_before_retry(error)
                if delay is None:
                    raise error from failure
            time.sleep(delay)

    def _callable(self, rpc: Rpc) -> Any:
        if rpc not in self._callables:
            self._callables[rpc] = self._channel.unary_unary(
                rpc.path, request_serializer=serialize, response_deserializer=rpc.response.FromString
            )
        return self._callables[rpc]
