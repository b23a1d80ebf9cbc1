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

    # Alert rules (docs/alerts.md): rules are dicts shaped as the REST API's JSON.

    def create_alert_rule(self, rule: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """A new rule; `enabled` is true unless given."""
        return self._run(calls.create_alert_rule(rule), timeout)

    def get_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self._run(calls.get_alert_rule(rule_id), timeout)

    def list_alert_rules(
        self, *, meter: str = "", enabled: bool | None = None, limit: int = 0, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        return self._run(calls.list_alert_rules(meter, enabled, limit), timeout)

    def update_alert_rule(
        self, rule_id: str, changes: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Change only the fields in `changes`."""
        return self._run(calls.update_alert_rule(rule_id, changes), timeout)

    def delete_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> None:
        self._run(calls.delete_alert_rule(rule_id), timeout)

    def evaluate_alert_rule(self, rule_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Evaluate now: {rule, state, events} (events: what this evaluation made)."""
        return self._run(calls.evaluate_alert_rule(rule_id), timeout)

    def list_alert_events(
        self, *, rule_id: str = "", page_size: int = 0, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Alert events, newest first, fetched a page at a time as the iteration goes."""
        yield from self._items(calls.list_alert_events(rule_id, page_size), timeout)

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
    # Plans (PlanService; docs/grpc.md, "Plans and entitlements").

    def create_plan(self, definition: Mapping[str, Any], *, timeout: float | None = None) -> Plan:
        """Version 1 of a plan: `{"name", "description", "limits": [{"meter", "period", "limit",
        "warning_percent", "enforcement", "failure_policy"}]}` (periods day, week, month, year;
        enforcement advisory or hard; failure_policy fail_open or fail_closed)."""
        return self._run(limits_calls.create_plan(definition), timeout)

    def get_plan(self, plan_id: str, *, timeout: float | None = None) -> Plan:
        return self._run(limits_calls.get_plan(plan_id), timeout)

    def list_plans(self, *, include_retired: bool = False, timeout: float | None = None) -> list[Plan]:
        """Plans, newest first; versions replaced by newer ones only with `include_retired`."""
        return self._run(limits_calls.list_plans(include_retired), timeout)

    def update_plan(self, plan_id: str, definition: Mapping[str, Any], *, timeout: float | None = None) -> Plan:
        """The plan's next version (the whole definition, as create_plan's); its subjects move to it."""
        return self._run(limits_calls.update_plan(plan_id, definition), timeout)

    def delete_plan(self, plan_id: str, *, timeout: float | None = None) -> None:
        """Refused (FailedPreconditionError) while subjects are assigned to it."""
        self._run(limits_calls.delete_plan(plan_id), timeout)

    def preview_plan(
        self, plan_id: str, definition: Mapping[str, Any], *, timeout: float | None = None
    ) -> Preview:
        """What each assigned subject would look like under `definition` (current, proposed, summary, subjects)."""
        return self._run(limits_calls.preview_plan(plan_id, definition), timeout)

    def assign_plan(
        self, subject: str, plan_id: str, *, effective_at: datetime | None = None, timeout: float | None = None
    ) -> Assignment:
        """Assign a subject to a current plan version, now or at `effective_at`."""
        return self._run(limits_calls.assign_plan(subject, plan_id, effective_at), timeout)

    def unassign_plan(self, subject: str, *, timeout: float | None = None) -> Assignment:
        """End the subject's assignment; returns it, ended."""
        return self._run(limits_calls.unassign_plan(subject), timeout)

    def list_assignments(
        self,
        *,
        subject: str = "",
        plan_id: str = "",
        include_history: bool = False,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[Assignment]:
        """Assignments, newest first (at most `limit`, 200); ended ones with `include_history`."""
        return self._run(limits_calls.list_assignments(subject, plan_id, include_history, limit), timeout)

    def get_subject_progress(self, subject: str, *, timeout: float | None = None) -> Progress:
        """`{subject, plan, items}`: per limit, current usage, state, percent and the window."""
        return self._run(limits_calls.get_subject_progress(subject), timeout)

    # Entitlements (EntitlementService).

    def check(self, subject: str, meter: str, quantity: float = 1, *, timeout: float | None = None) -> Quota:
        """Would `quantity` more fit? `{allowed, state, current, projected, limit, remaining, ...}`;
        stores nothing."""
        return self._run(limits_calls.check(subject, meter, quantity), timeout)

    def consume(self, event: Mapping[str, Any], *, timeout: float | None = None) -> ConsumeResult:
        """Check and record one event (as record_usage takes it; idempotency_key required):
        `{accepted, replayed, evaluation_failed, event, quota}`. A hard limit's refusal raises
        QuotaExceededError carrying the same answer (`decision`) and `retry_after`."""
        return self._run(limits_calls.consume(event), timeout)

    def get_decision(self, idempotency_key: str, *, timeout: float | None = None) -> Decision:
        return self._run(limits_calls.get_decision(idempotency_key), timeout)

    def list_decisions(
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
    ) -> Iterator[Decision]:
        """Consume decisions, newest first, a page at a time as the iteration goes; `outcome`
        accepted, rejected or all."""
        call = limits_calls.list_decisions(
            subject=subject, meter=meter, outcome=outcome, evaluation_failed=evaluation_failed,
            enforcement=enforcement, state=state, page_size=page_size,
        )
        yield from self._items(call, timeout)

    def list_states(
        self,
        *,
        subject: str = "",
        meter: str = "",
        state: str | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[EntitlementState]:
        """The latest state of each (subject, meter) of a plan."""
        return self._run(limits_calls.list_states(subject, meter, state, limit), timeout)

    def list_entitlement_events(
        self,
        *,
        subject: str = "",
        meter: str = "",
        event_type: str | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[EntitlementEvent]:
        """State changes, newest first; `event_type` warning, exceeded or recovered."""
        return self._run(limits_calls.list_entitlement_events(subject, meter, event_type, limit), timeout)

    def list_periods(
        self, *, subject: str = "", meter: str = "", limit: int = 50, timeout: float | None = None
    ) -> list[PeriodSnapshot]:
        """One snapshot per subject, meter and window."""
        return self._run(limits_calls.list_periods(subject, meter, limit), timeout)

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
