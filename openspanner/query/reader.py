"""Reading usage back: the one service behind QueryService and the REST read routes.

A request is planned against its meter in domain/queries.py and run by
storage/queries.py; this module only joins the two and pages, so gRPC and
REST answer the same rows for the same request. Each read is timed here,
by kind, for /metrics (openspanner_query_seconds{query}), so both APIs count alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from openspanner.catalog import MeterCatalog
from openspanner.domain.breakdowns import Breakdown, BreakdownRow, DimensionValueRow, DimensionValues
from openspanner.domain.meters import Meter
from openspanner.domain.queries import Cursor, EventListing, UsageQuery, UsageRow, next_page_token, usage_rows
from openspanner.errors import FailedPrecondition, InvalidArgument
from openspanner.metrics import Metrics
from openspanner.storage.client import Storage
from openspanner.storage.queries import EventRecord, QueryStore


class UsageReader:
    def __init__(self, catalog: MeterCatalog, storage: Storage, metrics: Metrics) -> None:
        self._catalog = catalog
        self._storage = storage
        self._store = QueryStore(storage.client)
        kinds = ("usage", "events", "breakdown", "dimension_values", "meter_summaries")
        self._timed = {kind: metrics.query_seconds.labels(kind) for kind in kinds}

    async def meter(self, name: str, field: str = "meter") -> Meter:
        if not name:
            raise InvalidArgument("is required", field=field)
        return await self._catalog.get(name, field=field)

    async def usage(self, query: UsageQuery) -> list[UsageRow]:
        with self._timed["usage"].time():
            groups = await self._storage.run(self._store.usage, query)
            rows = usage_rows(query, groups)
        _check_finite(query.meter, (row.value for row in rows))
        return rows

    async def events(self, listing: EventListing) -> tuple[list[EventRecord], str]:
        """One page of events, newest first, and the token of the next page ("" on the last)."""
        with self._timed["events"].time():
            records = await self._storage.run(self._store.events, listing)
        page = records[: listing.page_size]
        if len(records) <= listing.page_size:
            return page, ""
        last = page[-1]
        return page, next_page_token(listing, Cursor(last.timestamp_us, last.idempotency_key))

    async def breakdown(self, plan: Breakdown) -> list[BreakdownRow]:
        with self._timed["breakdown"].time():
            rows = await self._storage.run(self._store.breakdown, plan)
        _check_finite(plan.meter, (row.quantity for row in rows))
        return rows

    async def dimension_values(self, plan: DimensionValues) -> list[DimensionValueRow]:
        with self._timed["dimension_values"].time():
            return await self._storage.run(self._store.dimension_values, plan)

    async def meter_summaries(self) -> dict[str, tuple[int, int]]:
        """Per meter: stored events and the latest event's timestamp in microseconds."""
        with self._timed["meter_summaries"].time():
            return await self._storage.run(self._store.meter_summaries)


def _check_finite(meter: Meter, values: Iterable[float | None]) -> None:
    """Refuse to answer a total that is no number, rather than answer it as null (JSON has no
    infinity) or inf. Ingest bounds each quantity (validate.MAX_QUANTITY) so that no sum
    overflows; events stored before that bound existed still can."""
    if not all(value is None or math.isfinite(value) for value in values):
        raise FailedPrecondition(
            f"the {meter.aggregation.value} of meter {meter.name!r} over this range is beyond what a 64-bit float"
            " holds (events stored before quantities were bounded); ask for a shorter range or more groups"
        )
