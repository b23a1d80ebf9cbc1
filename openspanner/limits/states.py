"""Entitlement states, their events and period snapshots, kept current off the ingest path.

The ledger tells which (subject, meter) pairs a commit changed, from the
writer's thread; they are only marked here (a call scheduled on the event
loop), and a background task evaluates them every `flush_seconds` and
writes the rows in one insert per table. So whatever path usage comes by,
states follow within about that delay, and the ingest path never waits on
them. A list call flushes first, so it sees every commit acknowledged before it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from openspanner.domain.entitlements import (
    STATE_MESSAGES,
    EntitlementEvent,
    EntitlementState,
    PeriodSnapshot,
    ProgressItem,
    event_type_of,
)
from openspanner.domain.plans import Plan
from openspanner.limits.ledger import UsageLedger
from openspanner.logging import get_logger
from openspanner.storage.client import Storage
from openspanner.storage.entitlements import EntitlementStore

log = get_logger(__name__)

Pair = tuple[str, str]
# The plan and the current window's usage of (subject, meter), or None when no limit applies.
Evaluate = Callable[[str, str], Awaitable[tuple[Plan, ProgressItem] | None]]


class StateTracker:
    def __init__(self, storage: Storage, store: EntitlementStore, evaluate: Evaluate, flush_seconds: float) -> None:
        self._storage = storage
        self._store = store
        self._evaluate = evaluate
        self._flush_seconds = flush_seconds
        self._dirty: set[Pair] = set()
        self._states: dict[Pair, EntitlementState] = {}
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, ledger: UsageLedger) -> None:
        self._loop = asyncio.get_running_loop()
        loaded = await self._storage.run(self._store.load_states)
        self._states = {(s.subject, s.meter): s for s in loaded}
        ledger.on_change(self._changed_from_writer)
        self._task = asyncio.create_task(self._run(), name="entitlement-states")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._dirty:
            try:
                await self.flush()
            except Exception as exc:
                log.warning("entitlement states not written at shutdown", pairs=len(self._dirty), error=repr(exc))

    def mark(self, pairs: set[Pair]) -> None:
        self._dirty |= pairs
        self._wake.set()

    def _changed_from_writer(self, pairs: set[Pair]) -> None:
        """From the writer's thread, inside its lock: only schedule the mark."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.mark, pairs)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # kept marked; tried again at the next change or flush
                log.warning("entitlement states not written, will retry", error=repr(exc))
                await asyncio.sleep(self._flush_seconds)

    async def flush(self) -> None:
        """Evaluate the marked pairs and write their states, events and snapshots."""
        async with self._flush_lock:
            self._wake.clear()
            pairs, self._dirty = self._dirty, set()
            if not pairs:
                return
            try:
                await self._write(pairs)
            except BaseException:
                self._dirty |= pairs
                raise

    async def _write(self, pairs: set[Pair]) -> None:
        now = datetime.now(UTC)
        states: list[EntitlementState] = []
        events: list[EntitlementEvent] = []
        snapshots: list[PeriodSnapshot] = []
        for subject, meter in sorted(pairs):
            evaluated = await self._evaluate(subject, meter)
            if evaluated is None:
                continue
            plan, item = evaluated
            previous = self._states.get((subject, meter))
            state = _state(subject, plan, item, now, previous)
            states.append(state)
            snapshots.append(_snapshot(subject, plan, item, now))
            event_type = event_type_of(previous.state if previous else None, state.state)
            if event_type is not None:
                events.append(EntitlementEvent(
                    str(uuid.uuid4()), subject, meter, plan.id, plan.name, event_type,
                    previous.state.value if previous else "", state.state, state.current, state.limit,
                    state.message, now,
                ))
        if states:
            await self._storage.run(self._store.save_states, states)
            await self._storage.run(self._store.save_periods, snapshots)
        if events:
            await self._storage.run(self._store.save_events, events)
        for state in states:
            self._states[(state.subject, state.meter)] = state
        if events:
            log.info("entitlement states changed", events=len(events))


def _state(
    subject: str, plan: Plan, item: ProgressItem, now: datetime, previous: EntitlementState | None
) -> EntitlementState:
    unchanged = previous is not None and previous.state is item.state
    return EntitlementState(
        subject=subject,
        meter=item.meter,
        plan_id=plan.id,
        plan_name=plan.name,
        period=item.period,
        state=item.state,
        current=item.current,
        limit=item.limit,
        remaining=item.remaining,
        warning_percent=item.warning_percent,
        message=STATE_MESSAGES.get(item.state, ""),
        evaluated_at=now,
        updated_at=previous.updated_at if unchanged and previous else now,
    )


def _snapshot(subject: str, plan: Plan, item: ProgressItem, now: datetime) -> PeriodSnapshot:
    return PeriodSnapshot(
        subject=subject,
        meter=item.meter,
        plan_id=plan.id,
        plan_name=plan.name,
        plan_version=plan.version,
        period=item.period,
        window=item.window,
        state=item.state,
        current=item.current,
        limit=item.limit,
        included=max(min(item.current, item.limit), 0.0),
        overage=item.overage,
        remaining=item.remaining,
        warning_percent=item.warning_percent,
        event_count=item.event_count,
        updated_at=now,
    )
