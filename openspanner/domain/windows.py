"""Time windows of a query, aligned in an IANA time zone. Pure code.

A window starts where the local clock of the zone reads a whole minute,
hour, day (00:00) or month (the 1st, 00:00) and lasts until the next such
point, so a day is 23 or 25 hours long when daylight saving time starts or
ends. Storage buckets events with ClickHouse's toStartOfMinute/Hour/Day/Month
in the same zone; `truncate` is the same rule in Python, and the window list
built here is what the answer is reported in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from openspanner.errors import InvalidArgument

MAX_WINDOWS = 10_000
US = 1_000_000


class WindowSize(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


# A step that, added to the start of a window, always lands inside the next
# one: the longest window is shorter than the step and two windows are longer.
_STEP_SECONDS = {
    WindowSize.MINUTE: 60,
    WindowSize.HOUR: 3600,
    WindowSize.DAY: 36 * 3600,  # days are 23..25 h
    WindowSize.MONTH: 32 * 86400,  # months are 28..31 days (+-1 h)
}


@dataclass(frozen=True, slots=True)
class Window:
    """[start_us, end_us), clipped to the query range; `bucket` is the unclipped start in seconds."""

    bucket: int
    start_us: int
    end_us: int

    @property
    def seconds(self) -> float:
        return (self.end_us - self.start_us) / US


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def time_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name ("" means UTC), or InvalidArgument naming time_zone."""
    name = name or "UTC"
    if name not in _zone_names():
        raise InvalidArgument(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'",
            field="time_zone",
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unreadable
        raise InvalidArgument(f"unknown time zone {name!r}", field="time_zone") from None


def truncate(seconds: int, size: WindowSize, zone: ZoneInfo) -> int:
    """Start (epoch seconds) of the window holding the instant `seconds`."""
    local = datetime.fromtimestamp(seconds, zone)
    if size is WindowSize.MINUTE:
        local = local.replace(second=0)
    elif size is WindowSize.HOUR:
        local = local.replace(minute=0, second=0)
    elif size is WindowSize.DAY:
        local = local.replace(hour=0, minute=0, second=0)
    else:
        local = local.replace(day=1, hour=0, minute=0, second=0)
    # replace() keeps `fold`, so the repeated hour of a DST fall-back keeps
    # its own offset.
    return int(local.timestamp())


def windows(start_us: int, end_us: int, size: WindowSize | None, zone: ZoneInfo) -> list[Window]:
    """The windows covering [start_us, end_us), clipped to it; at most MAX_WINDOWS.

    Without a size the range itself is the one window.
    """
    if size is None:
        return [Window(0, start_us, end_us)]
    result: list[Window] = []
    bucket = truncate(start_us // US, size, zone)
    while bucket * US < end_us:
        following = truncate(bucket + _STEP_SECONDS[size], size, zone)
        if following <= bucket:  # pragma: no cover - impossible for IANA zones
            raise RuntimeError(f"window after {bucket} in {zone} does not advance")
        if len(result) == MAX_WINDOWS:
            raise InvalidArgument(
                f"the range {_iso(start_us)} .. {_iso(end_us)} holds more than {MAX_WINDOWS:,}"
                f" {size} windows; use a larger window_size or a shorter range",
                field="window_size",
            )
        result.append(Window(bucket, max(bucket * US, start_us), min(following * US, end_us)))
        bucket = following
    return result


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us // US, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
