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

from openspanner.client import calls, exports, limits_calls, webhooks
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
from openspanner.client.limits_convert import (
    Assignment,
    ConsumeResult,
    Decision,
    EntitlementEvent,
    EntitlementState,
    PeriodSnapshot,
    Plan,
    Preview,
    Progress,
    Quota,
)
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

    # Alert rules (docs/alerts.md): rules are dicts shaped as the REST API's JSON.

    async def create_alert_rule(self, rule: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """A new rule; `enabled` is true unless given."""
        return await self._run(calls.create_alert_rule(rule), timeout)

    async def get_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return await self._run(calls.get_alert_rule(rule_id), timeout)

    async def list_alert_rules(
        self, *, meter: str = "", enabled: bool | None = None, limit: int = 0, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        return await self._run(calls.list_alert_rules(meter, enabled, limit), timeout)

    async def update_alert_rule(
        self, rule_id: str, changes: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Change only the fields in `changes`."""
        return await self._run(calls.update_alert_rule(rule_id, changes), timeout)

    async def delete_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> None:
        await self._run(calls.delete_alert_rule(rule_id), timeout)

    async def evaluate_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Evaluate now: {rule, state, events} (events: what this evaluation made)."""
        return await self._run(calls.evaluate_alert_rule(rule_id), timeout)

    async def list_alert_events(
        self, *, rule_id: str = "", page_size: int = 0, timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Alert events, newest first, fetched a page at a time as the iteration goes."""
        async for item in self._items(calls.list_alert_events(rule_id, page_size), timeout):
            yield item

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
    # Plans (PlanService; docs/grpc.md, "Plans and entitlements").

    async def create_plan(self, definition: Mapping[str, Any], *, timeout: float | None = None) -> Plan:
        """Version 1 of a plan: `{"name", "description", "limits": [{"meter", "period", "limit",
        "warning_percent", "enforcement", "failure_policy"}]}` (periods day, week, month, year;
        enforcement advisory or hard; failure_policy fail_open or fail_closed)."""
        return await self._run(limits_calls.create_plan(definition), timeout)

    async def get_plan(self, plan_id: str, *, timeout: float | None = None) -> Plan:
        return await self._run(limits_calls.get_plan(plan_id), timeout)

    async def list_plans(self, *, include_retired: bool = False, timeout: float | None = None) -> list[Plan]:
        """Plans, newest first; versions replaced by newer ones only with `include_retired`."""
        return await self._run(limits_calls.list_plans(include_retired), timeout)

    async def update_plan(self, plan_id: str, definition: Mapping[str, Any], *, timeout: float | None = None) -> Plan:
        """The plan's next version (the whole definition, as create_plan's); its subjects move to it."""
        return await self._run(limits_calls.update_plan(plan_id, definition), timeout)

    async def delete_plan(self, plan_id: str, *, timeout: float | None = None) -> None:
        """Refused (FailedPreconditionError) while subjects are assigned to it."""
        await self._run(limits_calls.delete_plan(plan_id), timeout)

    async def preview_plan(
        self, plan_id: str, definition: Mapping[str, Any], *, timeout: float | None = None
    ) -> Preview:
        """What each assigned subject would look like under `definition` (current, proposed, summary, subjects)."""
        return await self._run(limits_calls.preview_plan(plan_id, definition), timeout)

    async def assign_plan(
        self, subject: str, plan_id: str, *, effective_at: datetime | None = None, timeout: float | None = None
    ) -> Assignment:
        """Assign a subject to a current plan version, now or at `effective_at`."""
        return await self._run(limits_calls.assign_plan(subject, plan_id, effective_at), timeout)

    async def unassign_plan(self, subject: str, *, timeout: float | None = None) -> Assignment:
        """End the subject's assignment; returns it, ended."""
        return await self._run(limits_calls.unassign_plan(subject), timeout)

    async def list_assignments(
        self,
        *,
        subject: str = "",
        plan_id: str = "",
        include_history: bool = False,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[Assignment]:
        """Assignments, newest first (at most `limit`, 200); ended ones with `include_history`."""
        return await self._run(limits_calls.list_assignments(subject, plan_id, include_history, limit), timeout)

    async def get_subject_progress(self, subject: str, *, timeout: float | None = None) -> Progress:
        """`{subject, plan, items}`: per limit, current usage, state, percent and the window."""
        return await self._run(limits_calls.get_subject_progress(subject), timeout)

    # Entitlements (EntitlementService).

    async def check(self, subject: str, meter: str, quantity: float = 1, *, timeout: float | None = None) -> Quota:
        """Would `quantity` more fit? `{allowed, state, current, projected, limit, remaining, ...}`;
        stores nothing."""
        return await self._run(limits_calls.check(subject, meter, quantity), timeout)

    async def consume(self, event: Mapping[str, Any], *, timeout: float | None = None) -> ConsumeResult:
        """Check and record one event (as record_usage takes it; idempotency_key required):
        `{accepted, replayed, evaluation_failed, event, quota}`. A hard limit's refusal raises
        QuotaExceededError carrying the same answer (`decision`) and `retry_after`."""
        return await self._run(limits_calls.consume(event), timeout)

    async def get_decision(self, idempotency_key: str, *, timeout: float | None = None) -> Decision:
        return await self._run(limits_calls.get_decision(idempotency_key), timeout)

    async def list_decisions(
        self,
        *,
        subject: str = "",
        meter: str = "",
        outcome: str | None = None,
        evaluation_failed: bool | None = None,
        enforcement: str | None = None,
        state: str | None = None,
        page_size: int = 50,
        timeout: float | None = None,
    ) -> AsyncIterator[Decision]:
        """Consume decisions, newest first, a page at a time as the iteration goes; `outcome`
        accepted, rejected or all."""
        call = limits_calls.list_decisions(
            subject=subject, meter=meter, outcome=outcome, evaluation_failed=evaluation_failed,
            enforcement=enforcement, state=state, page_size=page_size,
        )
        async for item in self._items(call, timeout):
            yield item

    async def list_states(
        self,
        *,
        subject: str = "",
        meter: str = "",
        state: str | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[EntitlementState]:
        """The latest state of each (subject, meter) of a plan."""
        return await self._run(limits_calls.list_states(subject, meter, state, limit), timeout)

    async def list_entitlement_events(
        self,
        *,
        subject: str = "",
        meter: str = "",
        event_type: str | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[EntitlementEvent]:
        """State changes, newest first; `event_type` warning, exceeded or recovered."""
        return await self._run(limits_calls.list_entitlement_events(subject, meter, event_type, limit), timeout)

    async def list_periods(
        self, *, subject: str = "", meter: str = "", limit: int = 50, timeout: float | None = None
    ) -> list[PeriodSnapshot]:
        """One snapshot per subject, meter and window."""
        return await self._run(limits_calls.list_periods(subject, meter, limit), timeout)

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
