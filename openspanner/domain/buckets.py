"""Bucket search and CSV export of the product's REST API: its bucket sizes, range limits and CSV format. Pure code.

POST /v1/usages/search and /v1/usages/export ask for usage per bucket
(`bucket_size` hour, day or month; day when not given) over [from, to). The
buckets themselves are our usage windows (queries.plan_usage_query with
that window size); this module holds what the product adds on top: the
longest range each bucket size may cover, and the CSV the export answers.

`minute` is accepted too, as our extension (our usage queries have minute
windows); it may cover at most one day (1,440 buckets), which keeps it at
the scale of the product's own limits (an hour covers at most 31 days,
744 buckets).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from openspanner.domain.meters import DimensionType
from openspanner.domain.times import EPOCH, format_rfc3339
from openspanner.domain.values import SUBJECT, GroupValue, check_range, stored_text
from openspanner.domain.windows import US, WindowSize
from openspanner.errors import InvalidArgument

DEFAULT_BUCKET_SIZE = WindowSize.DAY
DAY_US = 86_400 * US
# The longest range per bucket size, as the product's server has them
# (month: five calendar years, below).
MAX_RANGE_US = {
    WindowSize.MINUTE: 1 * DAY_US,
    WindowSize.HOUR: 31 * DAY_US,
    WindowSize.DAY: 366 * DAY_US,
}
MAX_MONTH_RANGE_YEARS = 5
_LIMIT_TEXT = {
    WindowSize.MINUTE: "1 day",
    WindowSize.HOUR: "31 days",
    WindowSize.DAY: "366 days",
    WindowSize.MONTH: f"{MAX_MONTH_RANGE_YEARS} years",
}
_LARGER = {WindowSize.MINUTE: "hour", WindowSize.HOUR: "day", WindowSize.DAY: "month"}

CSV_HEADER = ("bucket_start", "subject", "meter", "bucket_size", "aggregation", "unit", "quantity")


def bucket_window_size(bucket_size: str | None, *, field: str = "bucket_size") -> WindowSize:
    """The window size of a request's bucket_size: hour, day (also when not given or empty), month, or minute."""
    if not bucket_size:
        return DEFAULT_BUCKET_SIZE
    try:
        return WindowSize(bucket_size)
    except ValueError:
        raise InvalidArgument(
            f"must be hour, day or month (or minute), got {bucket_size!r}", field=field
        ) from None


def check_bucket_range(
    start_us: int | None,
    end_us: int | None,
    size: WindowSize,
    *,
    names: tuple[str, str] = ("from", "to"),
) -> tuple[int, int]:
    """[from, to) if both are given, storage holds them, and the range is no longer than `size` allows.

    Checked before planning the usage query, so that the REST request's own
    names (from, to) are the ones its errors name.
    """
    start, end = check_range(start_us, end_us, required=True, names=names)
    assert start is not None and end is not None
    if size is WindowSize.MONTH:
        too_long = end > _add_years(start, MAX_MONTH_RANGE_YEARS)
    else:
        too_long = end - start > MAX_RANGE_US[size]
    if too_long:
        larger = f"a larger bucket_size ({_LARGER[size]}) or " if size in _LARGER else ""
        raise InvalidArgument(
            f"is too far after {names[0]}: {size} buckets cover at most {_LIMIT_TEXT[size]};"
            f" use {larger}a shorter range",
            field=names[1],
        )
    return start, end


def _add_years(us: int, years: int) -> int:
    """The same UTC wall-clock time `years` later; Feb 29 becomes Mar 1, as Go's AddDate normalizes it."""
    moment = EPOCH + timedelta(microseconds=us)
    try:
        later = moment.replace(year=moment.year + years)
    except ValueError:  # Feb 29 in a year without one
        later = moment.replace(year=moment.year + years, month=3, day=1)
    return (later - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class BucketCsvRow:
    """One bucket as the export writes it; `group` maps group_by names (not subject) to values."""

    bucket_start_us: int
    subject: str
    meter: str
    bucket_size: str
    aggregation: str
    unit: str
    quantity: float | None
    group: Mapping[str, GroupValue] = field(default_factory=dict)


def bucket_csv(rows: Iterable[BucketCsvRow], group_by: Sequence[str]) -> str:
    """The product's export CSV: its header, then a column per group_by name other than subject.

    Written as Go's encoding/csv writes it (the product's server), byte for
    byte: LF line ends, a field quoted when it holds a comma, quote, CR or LF,
    or starts with a space, with quotes doubled. Python's csv module differs
    in two of these (it leaves a CR unquoted when lines end in LF, and does
    not quote a leading space), and a bare CR would split a row for many
    readers, hence the few lines below.
    """
    columns = [name for name in group_by if name != SUBJECT]
    lines = [csv_line([*CSV_HEADER, *columns])]
    for row in rows:
        cells = [
            format_rfc3339(row.bucket_start_us),
            row.subject,
            row.meter,
            row.bucket_size,
            row.aggregation,
            row.unit,
            format_quantity(row.quantity),
        ]
        cells.extend(group_value_text(row.group.get(name)) for name in columns)
        lines.append(csv_line(cells))
    return "".join(lines)


# unicode.IsSpace of Go: the fields starting with one of these are quoted.
_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line as Go's encoding/csv writes it (see bucket_csv); raw event exports use it too."""
    return ",".join(_csv_cell(cell) for cell in cells) + "\n"


def _csv_cell(cell: str) -> str:
    needs_quotes = cell == "\\." or any(c in cell for c in ',"\r\n') or (cell != "" and cell[0] in _GO_SPACES)
    return '"' + cell.replace('"', '""') + '"' if needs_quotes else cell


def format_quantity(quantity: float | None) -> str:
    """The shortest decimal that reads back as `quantity`, never with an exponent: 1842, 0.5, 1000000000000000000000.

    Go's strconv.FormatFloat(q, 'f', -1, 64), as the product's export; a
    missing value (an empty window of min, max, avg, first or last) is empty.
    """
    if quantity is None:
        return ""
    if math.isnan(quantity):
        return "NaN"
    if math.isinf(quantity):
        return "+Inf" if quantity > 0 else "-Inf"
    return format(Decimal(repr(quantity)).normalize(), "f")


def group_value_text(value: GroupValue) -> str:
    """A group value as text, as the product's buckets carry them (group values are strings there).

    Numbers take ingest's canonical text (1.0 is "1"), booleans true/false; a
    missing value (the event had no such dimension) is empty.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return stored_text(value, DimensionType.NUMBER) or ""
    return value
