"""Plans and assignments: kept in storage, served from memory, changed under one lock.

Every server reads both tables whole and re-reads them every
`cache_refresh_seconds` (RefreshingTable), so a check never waits on a
plan look-up. Changes made here are written to storage first, then to
memory; this server's changes are serialised by one lock, so an update
that moves assignments never interleaves with an assignment of the
same plan.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from openspanner.catalog import MeterCatalog
from openspanner.domain.plans import (
    Assignment,
    AssignmentStatus,
    Limit,
    Plan,
    PlanDraft,
    plan_not_found,
    stamped_limits,
    validate_plan,
)
from openspanner.errors import FailedPrecondition, InvalidArgument, NotFound
from openspanner.logging import get_logger
from openspanner.refresh import RefreshingTable
from openspanner.storage.client import Storage
from openspanner.storage.plans import PlanStore

log = get_logger(__name__)

SubjectListener = Callable[[str], None]


class PlanBook:
    def __init__(self, storage: Storage, catalog: MeterCatalog, refresh_seconds: float) -> None:
        self._storage = storage
        self._catalog = catalog
        self._store = PlanStore(storage.client)
        self._plans: RefreshingTable[Plan] = RefreshingTable("plans", self._load_plans, refresh_seconds)
        # subject -> every assignment it had, oldest first
        self._assignments: RefreshingTable[tuple[Assignment, ...]] = RefreshingTable(
            "plan_assignments", self._load_assignments, refresh_seconds
        )
        self._lock = asyncio.Lock()
        self._subject_listeners: list[SubjectListener] = []
        # limited_meters(), and the (assignments, plans) tables it was built from.
        self._limited: dict[str, frozenset[str]] = {}
        self._limited_from: tuple[object, object] = (None, None)
        self._refresh_seconds = refresh_seconds
        self._follow_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._plans.start()
        await self._assignments.start()
        self._rebuild_limited()
        self._follow_task = asyncio.create_task(self._follow_refreshes(self._refresh_seconds), name="plans-follow")

    def stop(self) -> None:
        self._plans.stop()
        self._assignments.stop()
        if self._follow_task is not None:
            self._follow_task.cancel()

    def on_subject_change(self, listener: SubjectListener) -> None:
        """Tell `listener` a subject whose plan this server changed (its windows may differ now)."""
        self._subject_listeners.append(listener)

    async def _load_plans(self) -> dict[str, Plan]:
        return {plan.id: plan for plan in await self._storage.run(self._store.load_plans)}

    async def _load_assignments(self) -> dict[str, tuple[Assignment, ...]]:
        by_subject: dict[str, list[Assignment]] = defaultdict(list)
        for assignment in await self._storage.run(self._store.load_assignments):
            by_subject[assignment.subject].append(assignment)
        return {subject: tuple(items) for subject, items in by_subject.items()}

    # --- plans ---

    def get(self, plan_id: str) -> Plan:
        plan = self._plans.items.get(plan_id)
        if plan is None:
            raise plan_not_found(plan_id)
        return plan

    def find(self, plan_id: str) -> Plan | None:
        return self._plans.items.get(plan_id)

    async def lookup(self, plan_id: str) -> Plan:
        """`get`, re-reading storage once on a miss (another server may have just created it)."""
        plan = await self._plans.lookup(plan_id)
        if plan is None:
            raise plan_not_found(plan_id)
        return plan

    def current_plans(self) -> list[Plan]:
        return sorted((p for p in self._plans.items.values() if p.is_current), key=lambda p: (p.name, p.id))

    def versions_of(self, plan: Plan) -> list[Plan]:
        """Every version of a plan's lineage, newest first (the dashboard's version list)."""
        by_parent = {p.parent_plan_id: p for p in self._plans.items.values() if p.parent_plan_id}
        lineage = [plan]
        while lineage[-1].parent_plan_id and lineage[-1].parent_plan_id in self._plans.items:
            lineage.append(self._plans.items[lineage[-1].parent_plan_id])
        newer = by_parent.get(plan.id)
        while newer is not None:
            lineage.insert(0, newer)
            newer = by_parent.get(newer.id)
        return lineage

    async def create(self, draft: PlanDraft) -> Plan:
        name, description, limits = await self.validated(draft)
        now = datetime.now(UTC)
        plan_id = str(uuid.uuid4())
        plan = Plan(plan_id, name, stamped_limits(limits, plan_id, now), description, created_at=now, updated_at=now)
        async with self._lock:
            await self._storage.run(self._store.save_plans, [plan])
            self._plans.put(plan.id, plan)
        log.info("plan created", plan_id=plan.id, plan_name=plan.name)
        return plan

    async def update(self, plan_id: str, draft: PlanDraft) -> Plan:
        """A new version (version + 1) replacing a current one; its active assignments move to it."""
        name, description, limits = await self.validated(draft)
        async with self._lock:
            old = await self.lookup(plan_id)
            if not old.is_current:
                raise FailedPrecondition("plan version is not current; update its current version", field="id")
            now = datetime.now(UTC)
            new_id = str(uuid.uuid4())
            new = Plan(
                new_id, name, stamped_limits(limits, new_id, now), description, version=old.version + 1,
                parent_plan_id=old.id, created_at=now, updated_at=now,
            )
            retired = replace(old, is_current=False, updated_at=now)
            moved = self._moved_assignments(old.id, new.id, now)
            await self._storage.run(self._store.save_plans, [retired, new])
            await self._storage.run(self._store.save_assignments, [a for pair in moved for a in pair])
            self._plans.put(retired.id, retired)
            self._plans.put(new.id, new)
            for ended, started in moved:
                self._replace_assignments(started.subject, [ended, started])
        log.info("plan updated", plan_id=new.id, parent_plan_id=old.id, version=new.version, moved=len(moved))
        return new

    async def delete(self, plan_id: str) -> None:
        async with self._lock:
            plan = await self.lookup(plan_id)
            now = datetime.now(UTC)
            if self._assignments_of(plan.id, now, include_ended=False):
                raise FailedPrecondition("plan has assigned subjects; unassign them first", field="id")
            deleted = replace(plan, deleted=True, updated_at=now)
            await self._storage.run(self._store.save_plans, [deleted])
            self._plans.remove(plan.id)
        log.info("plan deleted", plan_id=plan_id)

    async def validated(self, draft: PlanDraft) -> tuple[str, str, tuple[Limit, ...]]:
        """The draft's name, description and limits by the write rules, meters looked up in the catalog."""
        known = {limit.meter.strip() for limit in draft.limits if await self._catalog.lookup(limit.meter.strip())}
        return validate_plan(draft, known.__contains__)

    # --- assignments ---

    def limited_meters(self) -> Mapping[str, frozenset[str]]:
        """subject -> the meters its plans limit, of every assignment not ended: the usage the
        ledger and the states follow. Read from the writer's thread, so never computed there:
        this server's changes update it one subject at a time, and a re-read of the tables by
        the refresh (other servers' changes) rebuilds it on the event loop."""
        return self._limited

    async def _follow_refreshes(self, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            if (self._assignments.items, self._plans.items) != self._limited_from:
                self._rebuild_limited()

    def _rebuild_limited(self) -> None:
        tables = (self._assignments.items, self._plans.items)
        limited: dict[str, frozenset[str]] = {}
        for subject, group in tables[0].items():
            if meters := self._meters_limited(group):
                limited[subject] = meters
        self._limited, self._limited_from = limited, tables

    def _meters_limited(self, group: tuple[Assignment, ...]) -> frozenset[str]:
        now = datetime.now(UTC)
        return frozenset(
            limit.meter
            for a in group if a.status_at(now) is not AssignmentStatus.ENDED
            and (plan := self._plans.items.get(a.plan_id)) is not None
            for limit in plan.limits
        )

    def assignment_of(self, subject: str, now: datetime) -> Assignment | None:
        """The subject's assignment in effect at `now`: the latest one started and not ended."""
        effective = None
        for assignment in self._assignments.items.get(subject, ()):
            if assignment.status_at(now) is AssignmentStatus.ACTIVE and (
                effective is None or assignment.assigned_at >= effective.assigned_at
            ):
                effective = assignment
        return effective

    async def assign(self, subject: str, plan_id: str, effective_at: datetime | None) -> Assignment:
        if not subject:
            raise InvalidArgument("is required", field="subject")
        if not plan_id:
            raise InvalidArgument("is required", field="plan_id")
        async with self._lock:
            plan = await self.lookup(plan_id)
            if not plan.is_current:
                raise FailedPrecondition("plan version is not current; assign its current version", field="plan_id")
            now = datetime.now(UTC)
            start = now if effective_at is None or effective_at < now else effective_at
            current = self.assignment_of(subject, now)
            anchor = current.period_anchor_at if current else start.replace(microsecond=0)
            new = Assignment(str(uuid.uuid4()), subject, plan.id, start, anchor, updated_at=now)
            # The one in effect, and any scheduled one, end when the new one starts.
            ended = [
                replace(a, unassigned_at=start, updated_at=now)
                for a in self._assignments.items.get(subject, ())
                if a.status_at(now) is not AssignmentStatus.ENDED
                and (a.unassigned_at is None or a.unassigned_at > start)
            ]
            await self._storage.run(self._store.save_assignments, [*ended, new])
            self._replace_assignments(subject, [*ended, new])
        log.info("plan assigned", subject=subject, plan_id=plan.id, effective_at=start.isoformat())
        self._tell(subject)
        return new

    async def unassign(self, subject: str) -> list[Assignment]:
        """End the subject's assignment in effect and any scheduled one; NotFound if it has none."""
        async with self._lock:
            now = datetime.now(UTC)
            ended = [
                replace(a, unassigned_at=now if a.assigned_at <= now else a.assigned_at, updated_at=now)
                for a in self._assignments.items.get(subject, ())
                if a.status_at(now) is not AssignmentStatus.ENDED
            ]
            if not ended:
                raise NotFound(f"subject {subject!r} is not assigned to a plan", field="subject")
            await self._storage.run(self._store.save_assignments, ended)
            self._replace_assignments(subject, ended)
        log.info("plan unassigned", subject=subject)
        self._tell(subject)
        return ended

    def assignments(self, subject: str, plan_id: str, include_history: bool, limit: int) -> list[Assignment]:
        """Newest first; without history, only assignments in effect or scheduled."""
        now = datetime.now(UTC)
        groups = [self._assignments.items.get(subject, ())] if subject else list(self._assignments.items.values())
        found = [
            a for group in groups for a in group
            if (not plan_id or a.plan_id == plan_id)
            and (include_history or a.status_at(now) is not AssignmentStatus.ENDED)
        ]
        found.sort(key=lambda a: (a.assigned_at, a.id), reverse=True)
        return found[:limit]

    def active_subjects_of(self, plan_id: str) -> list[Assignment]:
        return self._assignments_of(plan_id, datetime.now(UTC), include_ended=False, scheduled=False)

    def _assignments_of(
        self, plan_id: str, now: datetime, *, include_ended: bool, scheduled: bool = True
    ) -> list[Assignment]:
        wanted = {AssignmentStatus.ACTIVE}
        if scheduled:
            wanted.add(AssignmentStatus.SCHEDULED)
        if include_ended:
            wanted.add(AssignmentStatus.ENDED)
        return [
            a for group in self._assignments.items.values() for a in group
            if a.plan_id == plan_id and a.status_at(now) in wanted
        ]

    def _moved_assignments(self, old_id: str, new_id: str, now: datetime) -> list[tuple[Assignment, Assignment]]:
        """Each active assignment of the old version ended now, and its successor on the new one
        (same anchor, so usage windows carry on)."""
        moved = []
        for assignment in self._assignments_of(old_id, now, include_ended=False, scheduled=False):
            started = max(now, assignment.assigned_at)
            successor = Assignment(
                str(uuid.uuid4()), assignment.subject, new_id, started, assignment.period_anchor_at, updated_at=now
            )
            moved.append((replace(assignment, unassigned_at=started, updated_at=now), successor))
        return moved

    def _replace_assignments(self, subject: str, changed: list[Assignment]) -> None:
        by_id = {a.id: a for a in self._assignments.items.get(subject, ())}
        by_id.update((a.id, a) for a in changed)
        group = tuple(sorted(by_id.values(), key=lambda a: (a.assigned_at, a.id)))
        self._assignments.put(subject, group)
        # One key set in place: atomic for the writer's thread reading it.
        if meters := self._meters_limited(group):
            self._limited[subject] = meters
        else:
            self._limited.pop(subject, None)

    def _tell(self, subject: str) -> None:
        for listener in self._subject_listeners:
            listener(subject)
