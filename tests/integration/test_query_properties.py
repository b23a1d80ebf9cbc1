"""QueryUsage agrees with a plain-Python reference on random meters, events and queries.

Hypothesis draws, for each of the eight aggregations: events (repeated
idempotency keys, equal timestamps, several subjects and dimension values)
around a daylight-saving change or a month end in the recent past, then one
query per window size (none, minute, hour, day, month) with a random time
zone, range, group_by, filters, subjects and fill. Every answer is compared
row by row with `reference`, written independently of the server's code
(its windows come from calendar arithmetic on zoneinfo, not from
openspanner.domain.windows).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openspanner.v1 import meter_pb2, query_pb2, usage_pb2
from tests.harness import Client, ServerProcess
from tests.integration.test_query import record_request

US = 1_000_000
AGGREGATIONS = ["sum", "count", "avg", "min", "max", "first", "last", "rate"]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]
DIMENSIONS = {"plan": "string", "flag": "boolean", "size": "number"}
DIMENSION_VALUES: dict[str, list[Any]] = {
    "plan": ["free", "pro", "", "entreprise-ü"],
    "flag": [True, False],
    "size": [1, 2.5, -3, 1e6],
}
SUBJECTS = ["s1", "s2", "ß3"]
KEYS = ["a", "b", "c", "d", "e", "f", "g", "h", "B", "é", "a1", "a10"]
# Longest range per window size, so that fill stays far below the row limit.
MAX_RANGE = {None: 200 * 86400, "minute": 6 * 3600, "hour": 5 * 86400, "day": 60 * 86400, "month": 400 * 86400}


def _recent_anchors() -> list[int]:
    """DST changes and month ends of the last ~13 months (at least 3 days ago), in epoch seconds."""
    now = int(time.time())
    found = []
    for name in ("America/New_York", "Europe/Berlin", "Australia/Sydney"):
        zone = ZoneInfo(name)
        previous = None
        for t in range(now - 400 * 86400, now - 3 * 86400, 1800):
            offset = datetime.fromtimestamp(t, zone).utcoffset()
            if previous is not None and offset != previous:
                found.append(t)
            previous = offset
    today = datetime.now(UTC).date()
    for months_back in (1, 2, 3, 12):
        year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
        first = date(year, month + 1, 1)
        found.append(int(datetime(first.year, first.month, 1, tzinfo=UTC).timestamp()))
        found.append(int(datetime(first.year, first.month, 1, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp()))
    return sorted(found)


ANCHORS = _recent_anchors()


@dataclass(frozen=True)
class Event:
    key: str
    subject: str
    ts_us: int
    quantity: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Query:
    start_us: int
    end_us: int
    window: str | None
    zone: str
    group_by: tuple[str, ...]
    filters: tuple[tuple[str, tuple[Any, ...]], ...]
    subjects: tuple[str, ...]
    fill: bool


quantities = st.one_of(st.integers(-50, 1000).map(float), st.sampled_from([0.5, 0.25, -1.75, 1e9]))
metadata = st.fixed_dictionaries(
    {}, optional={name: st.sampled_from(values) for name, values in DIMENSION_VALUES.items()}
)


@st.composite
def events_near(draw: st.DrawFn, anchor: int) -> list[Event]:
    # Few distinct instants, so that many events share a timestamp.
    instants = draw(st.lists(
        st.builds(
            lambda s, u: (anchor + s) * US + u,
            st.integers(-2 * 86400, 2 * 86400) | st.integers(-3600, 3600),
            st.sampled_from([0, 0, 1, 500_000, 999_999]),
        ),
        min_size=1, max_size=8,
    ))
    return draw(st.lists(
        st.builds(Event, st.sampled_from(KEYS), st.sampled_from(SUBJECTS), st.sampled_from(instants),
                  quantities, metadata),
        min_size=1, max_size=30,
    ))


@st.composite
def query_for(draw: st.DrawFn, window: str | None, events: list[Event]) -> Query:
    near = draw(st.sampled_from(events)).ts_us // US
    start = near - draw(st.integers(0, MAX_RANGE[window] // 2))
    if draw(st.booleans()):
        start -= start % 3600  # often whole hours, like real queries
    length = draw(st.integers(1, MAX_RANGE[window]))
    filter_names = draw(st.lists(st.sampled_from([*DIMENSIONS, "subject"]), unique=True, max_size=2))
    filters = []
    for name in filter_names:
        domain = SUBJECTS if name == "subject" else [*DIMENSION_VALUES[name], None]
        filters.append((name, tuple(draw(st.lists(st.sampled_from(domain), min_size=1, max_size=3, unique=True)))))
    return Query(
        start_us=start * US + draw(st.sampled_from([0, 0, 1])),
        end_us=(start + length) * US,
        window=window,
        zone=draw(st.sampled_from(ZONES)),
        group_by=tuple(draw(st.lists(st.sampled_from(["subject", *DIMENSIONS]), unique=True, max_size=3))),
        filters=tuple(filters),
        subjects=tuple(draw(st.lists(st.sampled_from(SUBJECTS), unique=True, max_size=2))),
        fill=draw(st.booleans()),
    )


# ---- the reference ----------------------------------------------------------


def window_of(ts_us: int, q: Query) -> tuple[int, int]:
    """The window holding ts_us, clipped to the query range, by calendar arithmetic."""
    if q.window is None:
        return q.start_us, q.end_us
    zone = ZoneInfo(q.zone)
    seconds = ts_us // US
    local = datetime.fromtimestamp(seconds, zone)
    if q.window == "minute":
        start, end = seconds - seconds % 60, seconds - seconds % 60 + 60
    elif q.window == "hour":
        start = int(local.replace(minute=0, second=0).timestamp())
        end = start + 3600
    elif q.window == "day":
        day = local.date()
        start = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
        following = day + timedelta(days=1)
        end = int(datetime(following.year, following.month, following.day, tzinfo=zone).timestamp())
    else:
        year, month = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
        start = int(datetime(local.year, local.month, 1, tzinfo=zone).timestamp())
        end = int(datetime(year, month, 1, tzinfo=zone).timestamp())
    return max(start * US, q.start_us), min(end * US, q.end_us)


def all_windows(q: Query) -> set[tuple[int, int]]:
    """Every window of the range: sample it more finely than the shortest whole window, plus its ends."""
    step = {None: 86400, "minute": 60, "hour": 900, "day": 900, "month": 3600}[q.window] * US
    return {window_of(t, q) for t in [*range(q.start_us, q.end_us, step), q.end_us - 1]}


def matches(e: Event, q: Query) -> bool:
    if not q.start_us <= e.ts_us < q.end_us or (q.subjects and e.subject not in q.subjects):
        return False
    for name, wanted in q.filters:
        # Filter values come from the dimension's own domain, so == is the typed comparison.
        value = e.subject if name == "subject" else e.metadata.get(name)
        if value not in wanted:
            return False
    return True


def aggregate(aggregation: str, events: list[Event], seconds: float) -> float | None:
    if not events:
        return 0.0 if aggregation in ("sum", "count", "rate") else None
    quantities = [e.quantity for e in events]
    ordered = sorted(events, key=lambda e: (e.ts_us, e.key))
    return {
        "sum": lambda: sum(quantities),
        "count": lambda: float(len(events)),
        "avg": lambda: sum(quantities) / len(quantities),
        "min": lambda: min(quantities),
        "max": lambda: max(quantities),
        "first": lambda: ordered[0].quantity,
        "last": lambda: ordered[-1].quantity,
        "rate": lambda: sum(quantities) / seconds,
    }[aggregation]()


RowKey = tuple[int, int, str, tuple[Any, ...]]


def reference(aggregation: str, stored: list[Event], q: Query) -> dict[RowKey, tuple[float | None, int]]:
    dims = [name for name in q.group_by if name != "subject"]
    groups: dict[RowKey, list[Event]] = {}
    for e in stored:
        if matches(e, q):
            subject = e.subject if "subject" in q.group_by else ""
            key = (*window_of(e.ts_us, q), subject, tuple(e.metadata.get(d) for d in dims))
            groups.setdefault(key, []).append(e)
    if q.fill:
        series = {(k[2], k[3]) for k in groups} or ({("", ())} if not q.group_by else set())
        for start, end in all_windows(q):
            for subject, values in series:
                groups.setdefault((start, end, subject, values), [])
    return {k: (aggregate(aggregation, v, (k[1] - k[0]) / US), len(v)) for k, v in groups.items()}


# ---- the server -------------------------------------------------------------


@pytest.fixture(scope="module")
def module_client(shared_server: ServerProcess) -> Iterator[Client]:
    client = Client(shared_server.address)
    yield client
    client.close()


def store(client: Client, aggregation: str, events: list[Event]) -> tuple[str, list[Event]]:
    """A new meter holding `events`; returns it and the events that count (the first of each key)."""
    meter = f"p_{uuid.uuid4().hex[:12]}"
    client.call(client.meters.CreateMeter, json_format.ParseDict({
        "name": meter, "aggregation": aggregation, "event_retention_days": 3650,
        "dimensions": [{"name": n, "type": t, "required": False} for n, t in DIMENSIONS.items()],
    }, meter_pb2.Meter()))
    halves = [events[: len(events) // 2], events[len(events) // 2 :]]  # dedup within and across calls
    for part in filter(None, halves):
        request = usage_pb2.RecordUsagesRequest()
        for e in part:
            message = request.events.add(idempotency_key=e.key, subject=e.subject, meter=meter, quantity=e.quantity)
            message.timestamp.FromMicroseconds(e.ts_us)
            message.metadata.update(e.metadata)
        record_request(client, request)
    first_of_key: dict[str, Event] = {}
    for e in events:
        first_of_key.setdefault(e.key, e)
    return meter, list(first_of_key.values())


def answer(client: Client, meter: str, q: Query) -> dict[RowKey, tuple[float | None, int]]:
    request = query_pb2.QueryUsageRequest(
        meter=meter, time_zone=q.zone, group_by=list(q.group_by), subjects=list(q.subjects), fill=q.fill,
        window_size=query_pb2.WindowSize.Value(q.window) if q.window else 0,
    )
    request.start_time.FromMicroseconds(q.start_us)
    request.end_time.FromMicroseconds(q.end_us)
    for name, wanted in q.filters:
        json_format.ParseDict({"dimension": name, "values": list(wanted)}, request.filters.add())
    dims = [name for name in q.group_by if name != "subject"]
    result: dict[RowKey, tuple[float | None, int]] = {}
    for row in client.call(client.query.QueryUsage, request).rows:
        group = json_format.MessageToDict(row.group)
        key = (row.window_start.ToMicroseconds(), row.window_end.ToMicroseconds(), row.subject,
               tuple(group.get(d) for d in dims))
        assert key not in result, f"row {key} returned twice"
        result[key] = (row.value if row.HasField("value") else None, row.event_count)
    return result


def same(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_query_usage_matches_the_reference(module_client: Client, aggregation: str, data: st.DataObject) -> None:
    anchor = data.draw(st.sampled_from(ANCHORS), label="anchor")
    events = data.draw(events_near(anchor), label="events")
    meter, stored = store(module_client, aggregation, events)
    for window in (None, "minute", "hour", "day", "month"):
        q = data.draw(query_for(window, events), label=f"query ({window or 'no'} window)")
        expected = reference(aggregation, stored, q)
        actual = answer(module_client, meter, q)
        assert actual.keys() == expected.keys(), (q, sorted(actual), sorted(expected))
        for key, (value, count) in expected.items():
            assert actual[key][1] == count, (q, key)
            assert same(actual[key][0], value), (q, key, actual[key][0], value)
