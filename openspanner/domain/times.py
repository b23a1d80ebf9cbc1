"""RFC 3339 text of instants, read and written as the product's REST API does. Pure code.

Instants are microseconds since the epoch everywhere else in Open Spanner
(storage keeps DateTime64(6)); these two functions are the only place that
text becomes one or the other way round, so filter values, `from`/`to` and
exported bucket starts agree on one format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from openspanner.errors import InvalidArgument

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 section 5.6, strictly: datetime.fromisoformat would also take
# dates without a time, week dates and times without an offset, which are
# not instants (or not RFC 3339) and would be read in an unstated zone.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)


def parse_rfc3339_us(text: str, *, field: str) -> int:
    """Microseconds since the epoch of RFC 3339 text such as 2026-06-19T00:00:00Z or ...T02:00:00.5+02:00.

    A fraction finer than a microsecond is refused rather than rounded:
    events are stored to the microsecond, and rounding would move `gt`/`lte`
    bounds across events stored at that very microsecond.
    """
    match = _RFC3339.fullmatch(text)
    example = "2026-06-19T00:00:00Z or 2026-06-19T02:00:00+02:00"
    if match is None:
        raise InvalidArgument(f"must be an RFC 3339 time such as {example}, got {text!r}", field=field)
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, utc, sign, offset_hours, offset_minutes = match.groups()[6:]
    digits = (fraction or "").ljust(9, "0")
    if digits[6:] != "000":
        raise InvalidArgument(
            f"is finer than a microsecond (events are stored to the microsecond), got {text!r}", field=field
        )
    offset = timedelta(0)
    if not utc:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise InvalidArgument(f"has an impossible UTC offset, got {text!r}", field=field)
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        offset = -offset if sign == "-" else offset
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        raise InvalidArgument(f"is not a calendar date and time, got {text!r}", field=field) from None
    return (moment - EPOCH) // timedelta(microseconds=1) + int(digits[:6])


def format_rfc3339(us: int) -> str:
    """RFC 3339 in UTC with `Z`, whole seconds unless the instant has a fraction (then as few digits as it needs).

    Whole seconds is what the product's server writes (Go's time.RFC3339);
    a fraction is kept rather than dropped so that distinct instants never
    print alike.
    """
    moment = EPOCH + timedelta(microseconds=us)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
