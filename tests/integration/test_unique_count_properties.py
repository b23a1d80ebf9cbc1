"""unique_count over QueryUsage agrees with a plain-Python reference on random events and queries.

The events, queries and windows are those of test_query_properties.py (its
reference windows come from calendar arithmetic on zoneinfo), with a `user`
dimension counted by the meter, absent from some events, string or number
typed (1 and 1.0 are one user). Time zones include the 30- and 45-minute
offsets. A second property draws a month of activity and checks that the
month's count is the number of distinct users of the month, which the sum
of its days' counts exceeds exactly when some user was active on two days.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import Client
from tests.integration.test_query import record_request
from tests.integration.test_query_properties import (
    ANCHORS,
    DIMENSION_VALUES,
    DIMENSIONS,
    KEYS,
    SUBJECTS,
    US,
    Event,
    Query,
    RowKey,
    all_windows,
    answer,
    matches,
    module_client,
    quantities,
    query_for,
    same,
    window_of,
)

__all__ = ["module_client"]  # the fixture, shared with the module it comes from

USER = "user"
USERS = {"string": ["u1", "u2", "U1", "", "ü-3"], "number": [1, 1.0, 2, 2.5, -7]}
# Whole-hour zones, and the 30- and 45-minute offsets (Chatham is +12:45 / +13:45 with DST).
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Eucla", "Pacific/Chatham", "America/St_Johns"]


def user_metadata(user_type: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={USER: st.sampled_from(USERS[user_type]),
                      **{name: st.sampled_from(values) for name, values in DIMENSION_VALUES.items()}},
    )


@st.composite
def events_near(draw: st.DrawFn, anchor: int, user_type: str) -> list[Event]:
    instants = draw(st.lists(
        st.builds(lambda s, u: (anchor + s) * US + u,
                  st.integers(-2 * 86400, 2 * 86400) | st.integers(-3600, 3600), st.sampled_from([0, 1, 999_999])),
        min_size=1, max_size=8,
    ))
    return draw(st.lists(
        st.builds(Event, st.sampled_from(KEYS), st.sampled_from(SUBJECTS), st.sampled_from(instants),
                  quantities, user_metadata(user_type)),
        min_size=1, max_size=30,
    ))


def distinct_users(events: list[Event]) -> float:
    """The reference: distinct values of `user` (== across types: 1 == 1.0); events without it add none."""
    return float(len({e.metadata[USER] for e in events if USER in e.metadata}))


def reference(stored: list[Event], q: Query) -> dict[RowKey, tuple[float | None, int]]:
    dims = [name for name in q.group_by if name != "subject"]
    groups: dict[RowKey, list[Event]] = {}
    for e in stored:
        if matches(e, q):
            subject = e.subject if "subject" in q.group_by else ""
            groups.setdefault((*window_of(e.ts_us, q), subject, tuple(e.metadata.get(d) for d in dims)), []).append(e)
    if q.fill:
        series = {(k[2], k[3]) for k in groups} or ({("", ())} if not q.group_by else set())
        for start, end in all_windows(q):
            for subject, values in series:
                groups.setdefault((start, end, subject, values), [])
    return {k: (distinct_users(v), len(v)) for k, v in groups.items()}


def store(client: Client, user_type: str, events: list[Event]) -> tuple[str, list[Event]]:
    """A unique_count meter of `user` holding `events`; returns it and the events that count."""
    meter = f"u_{uuid.uuid4().hex[:12]}"
    dimensions = [{"name": n, "type": t, "required": False} for n, t in DIMENSIONS.items()]
    client.call(client.meters.CreateMeter, json_format.ParseDict({
        "name": meter, "aggregation": "unique_count", "unique_dimension": USER, "event_retention_days": 3650,
        "dimensions": [*dimensions, {"name": USER, "type": user_type, "required": False}],
    }, meter_pb2.Meter()))
    request = usage_pb2.RecordUsagesRequest()
    for e in events:
        message = request.events.add(idempotency_key=e.key, subject=e.subject, meter=meter, quantity=e.quantity)
        message.timestamp.FromMicroseconds(e.ts_us)
        message.metadata.update(e.metadata)
    record_request(client, request)
    first_of_key: dict[str, Event] = {}
    for e in events:
        first_of_key.setdefault(e.key, e)
    return meter, list(first_of_key.values())


def assert_matches(actual: dict[RowKey, tuple[float | None, int]], expected: dict[RowKey, tuple[float | None, int]],
                   q: Query) -> None:
    assert actual.keys() == expected.keys(), (q, sorted(actual), sorted(expected))
    for key, (value, count) in expected.items():
        assert actual[key][1] == count, (q, key)
        assert same(actual[key][0], value), (q, key, actual[key][0], value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_unique_count_matches_the_reference(module_client: Client, data: st.DataObject) -> None:
    user_type = data.draw(st.sampled_from(sorted(USERS)), label="user type")
    events = data.draw(events_near(data.draw(st.sampled_from(ANCHORS), label="anchor"), user_type), label="events")
    meter, stored = store(module_client, user_type, events)
    for window in (None, "minute", "hour", "day", "month"):
        q = data.draw(query_for(window, events), label=f"query ({window or 'no'} window)")
        q = replace(q, zone=data.draw(st.sampled_from(ZONES), label="zone"))
        assert_matches(answer(module_client, meter, q), reference(stored, q), q)


def _month_start(zone: ZoneInfo, months_back: int) -> datetime:
    today = datetime.now(zone)
    year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
    return datetime(year, month + 1, 1, tzinfo=zone)


@st.composite
def a_month_of_activity(draw: st.DrawFn) -> tuple[str, datetime, datetime, list[Event]]:
    """Users active on some days of a whole past month of a zone (local days 1..28, any hour)."""
    zone_name = draw(st.sampled_from(ZONES), label="zone")
    zone = ZoneInfo(zone_name)
    start = _month_start(zone, draw(st.integers(1, 3), label="months back"))
    end = (start + timedelta(days=32)).replace(day=1)
    activity = draw(st.lists(
        st.tuples(st.sampled_from(["ana", "bo", "cy", "dee"]), st.integers(0, 27), st.integers(0, 23),
                  st.sampled_from(["o1", "o2"])),
        min_size=1, max_size=25,
    ), label="activity")
    events = [
        Event(f"{user}-{day}-{hour}-{n}", subject, int((start + timedelta(days=day, hours=hour)).timestamp()) * US,
              1.0, {USER: user})
        for n, (user, day, hour, subject) in enumerate(activity)
    ]
    return zone_name, start, end, events


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month=a_month_of_activity(), by_subject=st.booleans())
def test_a_month_counts_its_distinct_users_not_the_sum_of_its_days(
    module_client: Client, month: tuple[str, datetime, datetime, list[Event]], by_subject: bool
) -> None:
    zone, start, end, events = month
    meter, stored = store(module_client, "string", events)
    group_by = ("subject",) if by_subject else ()
    bounds = int(start.astimezone(UTC).timestamp()) * US, int(end.astimezone(UTC).timestamp()) * US
    monthly = Query(*bounds, "month", zone, group_by, (), (), False)
    daily = replace(monthly, window="day")
    month_rows, day_rows = answer(module_client, meter, monthly), answer(module_client, meter, daily)
    assert_matches(month_rows, reference(stored, monthly), monthly)
    assert_matches(day_rows, reference(stored, daily), daily)
    for (_, _, subject, _), (value, _) in month_rows.items():
        mine = [e for e in stored if not by_subject or e.subject == subject]
        users_days = {(e.metadata[USER], datetime.fromtimestamp(e.ts_us // US, ZoneInfo(zone)).date()) for e in mine}
        summed = sum(v or 0.0 for (_, _, s, _), (v, _) in day_rows.items() if s == subject)
        assert value == distinct_users(mine)
        assert summed == len(users_days)  # a user counts once on each day it was active
        assert (summed > value) == (len(users_days) > distinct_users(mine))
