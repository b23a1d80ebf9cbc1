"""The limits service: plans, assignments, check, consume, decisions, states, progress.

Transports (REST, gRPC) call this with domain types and convert its answers.
Usage comes from the ledger (ledger.py), so a check in the steady state
reads memory only; consume evaluates and reserves in one step under the
ledger's lock, then records its event through the ordinary ingest pipeline,
whose commit listener turns the reservation into committed usage. Its
decision is stored under its idempotency key, one consume per key at a time
on this server, so a repeat replays it (docs/limits.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from openspanner.catalog import MeterCatalog
from openspanner.domain.distinct import counted_value
from openspanner.domain.entitlements import (
    MESSAGE_EVALUATION_FAILED,
    CheckResult,
    ConsumeAnswer,
    ConsumeDecision,
    EntitlementEvent,
    EntitlementState,
    EntitlementStateName,
    PeriodSnapshot,
    PreviewLine,
    ProgressItem,
    UsageTotals,
    Window,
    progress_item,
    quota_result,
    unlimited_result,
)
from openspanner.domain.events import StoredEvent, UsageEvent, event_id
from openspanner.domain.meters import Meter
from openspanner.domain.plans import Assignment, Enforcement, FailurePolicy, Limit, Plan, PlanDraft, period_window
from openspanner.errors import InvalidArgument, NotFound, OpenSpannerError
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.ingest.validate import MAX_KEY_LENGTH, check_subject, validate_event
from openspanner.limits.grouped import GroupedCall
from openspanner.limits.ledger import EntryKey, UsageLedger, WindowUsage, fresh_entry
from openspanner.limits.plans import PlanBook
from openspanner.limits.states import StateTracker
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.entitlements import DecisionFilter, EntitlementStore, usage_totals_of_many
from openspanner.storage.events import key_hash
from openspanner.storage.key_filter import KeyFilter

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    # Ledger entries kept in memory, (subject, meter, window) each; past it the least recently used go.
    max_ledger_entries: int = 200_000
    # Re-read an entry from storage when older than this; None: never (this server is the only
    # writer, as with the embedded engine). Other servers' commits are seen only by a re-read.
    refresh_seconds: float | None = None
    # How often states, entitlement events and period snapshots are brought up to date.
    state_flush_seconds: float = 0.5
    # How often plans and assignments written by other servers are re-read.
    plan_refresh_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class SubjectPreview:
    assignment: Assignment
    lines: list[PreviewLine]


class LimitsService:
    def __init__(
        self, storage: Storage, catalog: MeterCatalog, pipeline: IngestPipeline, settings: LimitsSettings
    ) -> None:
        self.settings = settings
        self.plans = PlanBook(storage, catalog, settings.plan_refresh_seconds)
        self.ledger = UsageLedger(settings.max_ledger_entries)
        self._storage = storage
        self._catalog = catalog
        self._pipeline = pipeline
        self._store = EntitlementStore(storage.client)
        self._decision_reads = GroupedCall(self._read_decisions, "decision-reads")
        self._decision_writes = GroupedCall(self._write_decisions, "decision-writes")
        self._loads: GroupedCall[EntryKey, WindowUsage] = GroupedCall(self._load_many, "ledger-loads")
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        # Entries being read again in the background (_entry), and those reads.
        self._refreshing: set[EntryKey] = set()
        self._refresh_tasks: set[asyncio.Task[None]] = set()
        # Every decision key stored, when this server is the only writer (see _may_be_decided).
        self._decided: KeyFilter | None = None
        self.states = StateTracker(storage, self._store, self._current_usage, settings.state_flush_seconds)
        self.ledger.follow(self.plans.limited_meters)
        pipeline.add_commit_listener(self.ledger.committed)
        self.plans.on_subject_change(self.ledger.forget)

    async def start(self) -> None:
        if self.settings.refresh_seconds is None:  # the only writer
            hashes = await self._storage.run(self._store.decision_key_hashes)
            self._decided = KeyFilter(len(hashes))
            self._decided.add(hashes)
        await self.plans.start()
        await self.states.start(self.ledger)

    async def stop(self) -> None:
        for task in list(self._refresh_tasks):
            task.cancel()
        await self.states.stop()
        self.plans.stop()

    # --- plans and assignments (PlanBook) ---

    async def create_plan(self, draft: PlanDraft) -> Plan:
        return await self.plans.create(draft)

    async def get_plan(self, plan_id: str) -> Plan:
        return await self.plans.lookup(plan_id)

    def list_plans(self) -> list[Plan]:
        return self.plans.current_plans()

    async def update_plan(self, plan_id: str, draft: PlanDraft) -> Plan:
        return await self.plans.update(plan_id, draft)

    async def delete_plan(self, plan_id: str) -> None:
        await self.plans.delete(plan_id)

    async def preview_plan(self, plan_id: str, draft: PlanDraft) -> tuple[Plan, Plan, list[SubjectPreview]]:
        """Each subject assigned to a current plan, its usage now under the proposed version's
        limits beside the current ones; nothing is stored."""
        current = await self.plans.lookup(plan_id)
        name, description, limits = await self.plans.validated(draft)
        proposed = Plan("", name, limits, description, version=current.version + 1, parent_plan_id=current.id)
        now = datetime.now(UTC)
        previews = []
        for assignment in self.plans.active_subjects_of(current.id):
            lines = await self._preview_lines(assignment, current, proposed, now)
            previews.append(SubjectPreview(assignment, lines))
        return current, proposed, previews

    async def _preview_lines(
        self, assignment: Assignment, current: Plan, proposed: Plan, now: datetime
    ) -> list[PreviewLine]:
        old_limits = {(limit.meter, limit.period): limit for limit in current.limits}
        new_keys = {(limit.meter, limit.period) for limit in proposed.limits}
        lines = []
        for limit in proposed.limits:
            item = await self._progress_item(assignment, limit, now)
            if item is None:
                continue
            old = old_limits.get((limit.meter, limit.period))
            old_item = None if old is None else await self._progress_item(assignment, old, now)
            lines.append(PreviewLine(
                item, old.limit if old else 0.0, limit.limit, old_item.state if old_item else None, item.state,
                removed=False, existing_limit_found=old is not None,
            ))
        for key, old in old_limits.items():
            if key not in new_keys and (old_item := await self._progress_item(assignment, old, now)):
                lines.append(PreviewLine(old_item, old.limit, 0.0, old_item.state, None, True, True))
        return lines

    async def assign(self, subject: str, plan_id: str, effective_at: datetime | None) -> Assignment:
        return await self.plans.assign(subject, plan_id, effective_at)

    async def unassign(self, subject: str) -> list[Assignment]:
        return await self.plans.unassign(subject)

    def list_assignments(self, subject: str, plan_id: str, include_history: bool, limit: int) -> list[Assignment]:
        return self.plans.assignments(subject, plan_id, include_history, limit)

    # --- check and consume ---

    async def check(self, subject: str, meter: str, quantity: float) -> CheckResult:
        """What a consume of `quantity` now would be told; stores nothing. projected = current + quantity."""
        check_subject(subject)
        _require(meter, "meter")
        quantity = checked_quantity(quantity)
        now = datetime.now(UTC)
        limited = self._limited(subject, meter, now)
        if isinstance(limited, CheckResult):
            return replace(limited, quantity=quantity)
        assignment, plan, limit = limited
        definition = await self._catalog.get(meter, field="meter")
        window = _window(now, assignment, limit)
        entry = await self._entry(subject, meter, window)
        current = self.ledger.committed_copy(entry).value(definition.aggregation, window.seconds)
        return quota_result(subject, quantity, plan, limit, window, current, current + quantity, now)

    async def consume(self, event: UsageEvent) -> ConsumeAnswer:
        """Check and record in one step, keyed by the event's idempotency key (see the module docstring)."""
        key = event.idempotency_key
        if not key:
            raise InvalidArgument("is required: a consume is replayed by its key", field="idempotency_key")
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidArgument(f"must be at most {MAX_KEY_LENGTH} characters", field="idempotency_key")
        _require(event.subject, "subject")
        _require(event.meter, "meter")
        event.quantity = checked_quantity(event.quantity)
        async with self._key_lock(key):
            stored = await self._decision_reads.call(key) if self._may_be_decided(key) else None
            if stored is not None:
                log.info("consume repeated, decision replayed", idempotency_key=key, subject=event.subject)
                return ConsumeAnswer(stored, True, await self._replayed_event(event, stored))
            return await self._consume_once(event)

    def _may_be_decided(self, key: str) -> bool:
        """Whether a decision may be stored under `key`. Only a sole writer knows every stored key
        (its filter, loaded at start, takes each key it decides); otherwise storage is asked."""
        if self._decided is None:
            return True
        return bool(self._decided.might_contain(np.array([key_hash(key)], dtype=np.uint64))[0])

    async def _save_decision(self, decision: ConsumeDecision) -> None:
        if self._decided is not None:  # before the write: a write that fails midway may have stored it
            self._decided.add(np.array([key_hash(decision.idempotency_key)], dtype=np.uint64))
        await self._decision_writes.call(decision)

    async def _consume_once(self, event: UsageEvent) -> ConsumeAnswer:
        now = datetime.now(UTC)
        if event.timestamp_us is None:
            # Fixed here, so the window judged is the one the event is stored in.
            event.timestamp_us = int(now.timestamp() * 1_000_000)
        # Judged first, as ingest will judge it: an event it would refuse is refused before any
        # evaluation, so the decision written beside the event never accepts one that is not stored.
        row = validate_event(event, await self._catalog.lookup(event.meter), event.timestamp_us)
        limited = self._limited(event.subject, event.meter, now)
        if isinstance(limited, CheckResult):  # no plan, or the meter not in it: advisory
            return await self._record(event, replace(limited, quantity=event.quantity), None, False, now)
        assignment, plan, limit = limited
        definition = await self._catalog.get(event.meter, field="meter")
        at = datetime.fromtimestamp(event.timestamp_us / 1_000_000, UTC)
        window = _window(at, assignment, limit)
        try:
            entry = await self._entry(event.subject, event.meter, window)
        except OpenSpannerError as failure:
            return await self._evaluation_failed(event, plan, limit, window, failure, now)

        value = counted_value(definition, row.metadata)

        def evaluate(usage: UsageTotals) -> CheckResult:
            current = usage.value(definition.aggregation, window.seconds)
            usage.add(event.timestamp_us or 0, event.idempotency_key, event.quantity, value)
            projected = usage.value(definition.aggregation, window.seconds)
            quota = quota_result(event.subject, event.quantity, plan, limit, window, current, projected, now)
            if quota.allowed or limit.enforcement is Enforcement.ADVISORY:
                UsageLedger.reserve_locked(entry, event.idempotency_key, event.timestamp_us or 0, event.quantity, value)
            return quota

        quota = self.ledger.decide(entry, evaluate)
        if not quota.allowed and limit.enforcement is Enforcement.HARD:
            decision = ConsumeDecision(event.idempotency_key, False, False, quota, now)
            await self._save_decision(decision)
            log.info("consume refused", idempotency_key=event.idempotency_key, subject=event.subject,
                     meter=event.meter, projected=quota.projected, limit=limit.limit)
            return ConsumeAnswer(decision, False, None)
        return await self._record(event, quota, entry, False, now)

    async def _record(
        self, event: UsageEvent, quota: CheckResult, entry: WindowUsage | None, evaluation_failed: bool, now: datetime
    ) -> ConsumeAnswer:
        """Write the event through the pipeline (an ordinary event everywhere) and its decision, together.

        One storage round trip instead of two. Should the event's write fail after the decision was
        stored, the client's retry replays the decision and records the event then (_replayed_event).
        """
        key = event.idempotency_key
        decision = ConsumeDecision(key, True, evaluation_failed, quota, now, event_id=event_id(event.meter, key))
        try:
            result, _ = await asyncio.gather(self._pipeline.record_one(event), self._save_decision(decision))
        finally:
            if entry is not None:
                self.ledger.release(entry, event.idempotency_key)
        return ConsumeAnswer(decision, False, result.event)

    async def _evaluation_failed(
        self, event: UsageEvent, plan: Plan, limit: Limit, window: Window, failure: OpenSpannerError, now: datetime
    ) -> ConsumeAnswer:
        """Usage could not be read: the limit's failure policy decides, and the decision says so."""
        log.warning("consume evaluation failed", idempotency_key=event.idempotency_key, subject=event.subject,
                    meter=event.meter, failure_policy=limit.failure_policy.value, error=str(failure))
        quota = replace(
            quota_result(event.subject, event.quantity, plan, limit, window, 0.0, event.quantity, now),
            message=MESSAGE_EVALUATION_FAILED,
        )
        if limit.failure_policy is FailurePolicy.FAIL_OPEN:
            return await self._record(event, replace(quota, allowed=True), None, True, now)
        refused = replace(quota, allowed=False, state=EntitlementStateName.EXCEEDED,
                          retry_after_seconds=max(math.ceil((window.end - now).total_seconds()), 0))
        decision = ConsumeDecision(event.idempotency_key, False, True, refused, now)
        with contextlib.suppress(OpenSpannerError):  # storage is likely down: the refusal stands unstored
            await self._save_decision(decision)
        return ConsumeAnswer(decision, False, None)

    async def _replayed_event(self, event: UsageEvent, decision: ConsumeDecision) -> StoredEvent | None:
        """The event an accepted decision recorded. Sent again through the pipeline: stored, it is
        answered as the duplicate it is; not stored (its write failed after the decision's), it is
        recorded now. Only for the same subject and meter: another body under a used key stores nothing."""
        if not decision.accepted:
            return None
        if (event.subject, event.meter) != (decision.quota.subject, decision.quota.meter):
            (found,) = await self._pipeline.ingest([event], batch_id="consume-replay", store=False)
            return found.event
        return (await self._pipeline.record_one(event)).event

    # --- decisions, states, progress ---

    async def get_decision(self, key: str) -> ConsumeDecision:
        decision = await self._storage.run(self._store.get_decision, key)
        if decision is None:
            raise NotFound(f"no consumption decision for key {key!r}", field="idempotency_key")
        return decision

    async def list_decisions(
        self, where: DecisionFilter, limit: int, cursor: str
    ) -> tuple[list[ConsumeDecision], str]:
        return await self._storage.run(self._store.list_decisions, where, limit, cursor)

    async def list_states(self, subject: str, meter: str, state: str, limit: int) -> list[EntitlementState]:
        await self.states.flush()
        return await self._storage.run(self._store.list_states, subject, meter, state, limit)

    async def list_events(self, subject: str, meter: str, event_type: str, limit: int) -> list[EntitlementEvent]:
        await self.states.flush()
        return await self._storage.run(self._store.list_events, subject, meter, event_type, limit)

    async def list_periods(self, subject: str, meter: str, limit: int) -> list[PeriodSnapshot]:
        await self.states.flush()
        return await self._storage.run(self._store.list_periods, subject, meter, limit)

    async def progress(self, subject: str) -> tuple[Plan, list[ProgressItem]]:
        """The subject's plan and each limit's usage now; NotFound without a plan."""
        _require(subject, "subject")
        now = datetime.now(UTC)
        assignment = self.plans.assignment_of(subject, now)
        if assignment is None:
            raise NotFound(f"subject {subject!r} is not assigned to a plan", field="subject")
        plan = self.plans.get(assignment.plan_id)
        items = [item for limit in plan.limits if (item := await self._progress_item(assignment, limit, now))]
        return plan, items

    async def _progress_item(self, assignment: Assignment, limit: Limit, now: datetime) -> ProgressItem | None:
        definition: Meter | None = await self._catalog.lookup(limit.meter)
        if definition is None:  # the meter was deleted after the plan named it
            return None
        window = _window(now, assignment, limit)
        entry = await self._entry(assignment.subject, limit.meter, window)
        totals = self.ledger.committed_copy(entry)
        return progress_item(limit, window, totals, definition.aggregation, definition.unit)

    async def _current_usage(self, subject: str, meter: str) -> tuple[Plan, ProgressItem] | None:
        """The state tracker's evaluation: the (subject, meter)'s current window under its plan."""
        now = datetime.now(UTC)
        limited = self._limited(subject, meter, now)
        if isinstance(limited, CheckResult):
            return None
        assignment, plan, limit = limited
        item = await self._progress_item(assignment, limit, now)
        return None if item is None else (plan, item)

    # --- the ledger ---

    def _limited(self, subject: str, meter: str, now: datetime) -> tuple[Assignment, Plan, Limit] | CheckResult:
        """The assignment, plan and limit governing (subject, meter) now, or the no_plan /
        not_in_plan answer."""
        assignment = self.plans.assignment_of(subject, now)
        if assignment is None:
            return unlimited_result(subject, meter, 0.0, None)
        plan = self.plans.get(assignment.plan_id)
        limit = plan.limit_for(meter)
        if limit is None:
            return unlimited_result(subject, meter, 0.0, plan)
        return assignment, plan, limit

    async def _entry(self, subject: str, meter: str, window: Window) -> WindowUsage:
        """The ledger's entry of a window, read from storage when absent. A stale one (other servers
        write too) is answered as it is while a read in the background refreshes it, so a check
        never waits on storage for an entry it has."""
        key = (subject, meter, _us(window.start), _us(window.end))
        entry = self.ledger.get(key)
        if entry is None:
            return await self._loads.call(key)
        refresh = self.settings.refresh_seconds
        if refresh is not None and time.monotonic() - entry.loaded_at >= refresh and key not in self._refreshing:
            self._refreshing.add(key)
            task = asyncio.get_running_loop().create_task(self._refresh(key), name="ledger-refresh")
            self._refresh_tasks.add(task)
            task.add_done_callback(self._refresh_tasks.discard)
        return entry

    async def _refresh(self, key: EntryKey) -> None:
        try:
            await self._loads.call(key)
        except OpenSpannerError as error:  # the entry stays as it was; the next use tries again
            log.warning("ledger refresh failed", subject=key[0], meter=key[1], error=str(error))
        finally:
            self._refreshing.discard(key)

    async def _read_decisions(self, keys: list[str]) -> list[ConsumeDecision | None]:
        return await self._storage.run(self._store.get_decisions, keys)

    async def _write_decisions(self, decisions: list[ConsumeDecision]) -> list[None]:
        return await self._storage.run(self._store.save_decisions, decisions)

    async def _load_many(self, keys: list[EntryKey]) -> list[WindowUsage]:
        """Entries of concurrent misses, read together, with no commit between read and install."""
        counted: dict[str, str] = {}
        for meter in {key[1] for key in keys}:
            definition = await self._catalog.lookup(meter)
            counted[meter] = definition.unique_dimension if definition is not None else ""
        return await self._pipeline.read_between_commits(functools.partial(self._read_and_install, keys, counted))

    def _read_and_install(self, keys: list[EntryKey], counted: dict[str, str]) -> list[WindowUsage]:
        """Blocking, under the writer's lock: one query per meter."""
        by_meter: dict[str, list[EntryKey]] = {}
        for key in keys:
            by_meter.setdefault(key[1], []).append(key)
        installed: dict[EntryKey, WindowUsage] = {}
        for meter, meter_keys in by_meter.items():
            windows = [(subject, start, end) for subject, _, start, end in meter_keys]
            totals = usage_totals_of_many(self._storage.client, meter, windows, counted[meter])
            for key, usage in zip(meter_keys, totals, strict=True):
                entry = fresh_entry(key[0], meter, key[2], key[3], usage, counted[meter])
                installed[key] = self.ledger.install(entry)
        return [installed[key] for key in keys]

    @contextlib.asynccontextmanager
    async def _key_lock(self, key: str) -> AsyncIterator[None]:
        """One consume per key at a time on this server, so a repeat racing its first waits and replays."""
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)


def checked_quantity(quantity: float) -> float:
    """0 means 1, as in the product; negative, NaN and infinite are refused."""
    if quantity == 0:
        return 1.0
    if not (math.isfinite(quantity) and quantity > 0):
        raise InvalidArgument(f"must be a finite number greater than 0, got {quantity}", field="quantity")
    return quantity


def _require(value: str, field_name: str) -> None:
    if not value.strip():
        raise InvalidArgument("is required", field=field_name)


def _window(at: datetime, assignment: Assignment, limit: Limit) -> Window:
    start, end = period_window(at, assignment.period_anchor_at, limit.period)
    return Window(start, end)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)
