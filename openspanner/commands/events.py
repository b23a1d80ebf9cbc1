"""`openspanner events METER`: a meter's raw events (ListEvents), one JSON object per line.

Without --follow: the newest --limit events, newest first, as ListEvents
answers. With --follow: the newest --limit events oldest first, then every
event stored afterwards as it shows up (polled every --interval seconds),
each printed once, until interrupted (Ctrl-C).

A poll lists the events whose timestamp is at most --lag seconds older than
the newest one printed (or than now, if that is earlier), and prints those it
has not printed, in timestamp order. So an event that arrives with a
timestamp older than that (a backfill, a client whose clock is behind) is not
shown; a larger --lag shows more of them, at the cost of reading more events
per poll.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from openspanner.client import Client, StoredEvent
from openspanner.commands.common import client_flags, connect, event_filter_flags, parse_filters, time_range
from openspanner.commands.output import json_text
from openspanner.errors import ConfigError

MAX_PAGE_SIZE = 1000


def add_events_command(commands: Any) -> None:
    events = commands.add_parser(
        "events", help="a meter's raw events, newest first, or --follow new ones (ListEvents)", description=__doc__
    )
    events.add_argument("meter")
    event_filter_flags(events, default_from=None)
    events.add_argument("--limit", type=int, default=100, help="how many events to print (default 100)")
    events.add_argument("--follow", action="store_true", help="keep printing new events until interrupted")
    events.add_argument("--interval", type=float, default=2.0, help="seconds between polls with --follow (default 2)")
    events.add_argument("--lag", type=float, default=30.0,
                        help="with --follow, how late (in event time) an event may arrive and still be shown"
                             " (seconds, default 30)")
    client_flags(events)
    events.set_defaults(func=_events)


def _events(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise ConfigError("--limit: must be 0 or more")
    start, end = time_range(args)
    if args.follow and end is not None:
        raise ConfigError("--to: --follow prints events as they arrive, with no end")
    with connect(args, "a read key") as client:
        listing = _Listing(client, args.meter, args.subjects, parse_filters(args.filters))
        if not args.follow:
            page_size = max(min(args.limit, MAX_PAGE_SIZE), 1)
            for event in islice(listing.events(start, end, page_size), args.limit):
                _print(event)
            return 0
        with contextlib.suppress(KeyboardInterrupt):  # how --follow ends
            _follow(listing, start, args.limit, timedelta(seconds=args.lag), args.interval)
    return 0


@dataclass
class _Listing:
    client: Client
    meter: str
    subjects: list[str]
    filters: dict[str, list[str | float | bool | None]]

    def events(self, start: datetime | None, end: datetime | None, page_size: int) -> Iterator[StoredEvent]:
        return self.client.list_events(
            self.meter, start_time=start, end_time=end, subjects=self.subjects, filters=self.filters,
            page_size=page_size,
        )


@dataclass
class Followed:
    """The events printed, as far back as a poll can list them again."""

    lag: timedelta
    newest: datetime | None = None
    printed: dict[str, datetime] = field(default_factory=dict)

    def horizon(self, now: datetime, newest: datetime | None = None) -> datetime:
        """The oldest event time a poll lists; it never moves back, as `newest` and `now` only grow."""
        newest = newest or self.newest
        return (min(newest, now) if newest else now) - self.lag

    def next_start(self, now: datetime, floor: datetime | None) -> datetime:
        """Where the next poll starts; forgets what it cannot list again."""
        start = self.horizon(now)
        if floor is not None:
            start = max(start, floor)
        self.printed = {key: at for key, at in self.printed.items() if at >= start}
        return start

    def new(self, events: Iterable[StoredEvent]) -> list[StoredEvent]:
        """The events not printed yet, oldest first, marked as printed."""
        fresh = sorted((e for e in events if e["id"] not in self.printed), key=_event_order)
        for event in fresh:
            self.printed[event["id"]] = event["timestamp"]
            self.newest = max(self.newest or event["timestamp"], event["timestamp"])
        return fresh


def _follow(listing: _Listing, start: datetime | None, limit: int, lag: timedelta, interval: float) -> None:
    followed = Followed(lag)
    now = datetime.now(UTC)
    # Everything a poll could list again counts as printed: only the newest `limit` are shown.
    latest: list[StoredEvent] = []
    for event in listing.events(start, None, page_size=MAX_PAGE_SIZE):
        newest = latest[0]["timestamp"] if latest else event["timestamp"]
        if len(latest) >= limit and event["timestamp"] < followed.horizon(now, newest):
            break
        latest.append(event)
    shown = followed.new(latest[:limit])
    followed.new(latest[limit:])
    for event in shown:
        _print(event)
    while True:
        time.sleep(interval)
        since = followed.next_start(datetime.now(UTC), start)
        for event in followed.new(listing.events(since, None, page_size=MAX_PAGE_SIZE)):
            _print(event)


def _event_order(event: StoredEvent) -> tuple[datetime, str]:
    """ListEvents' order (timestamp, then key), ascending."""
    return event["timestamp"], event["idempotency_key"]


def _print(event: StoredEvent) -> None:
    print(json_text(event, indent=None), flush=True)
