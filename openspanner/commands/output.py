"""How the operator commands print answers: aligned tables, JSON, CSV."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMATS = ("table", "json", "csv")


def zone(name: str) -> tzinfo:
    """The zone answers are printed in; UTC when this machine's zone database lacks it."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def time_text(value: datetime, in_zone: tzinfo = UTC) -> str:
    """RFC 3339 in `in_zone`, `Z` for a zero offset."""
    text = value.astimezone(in_zone).isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def cell(value: Any, missing: str = "-") -> str:
    """A value as a table or CSV cell: whole numbers without `.0`, booleans as JSON spells them."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> str:
    """Columns two spaces apart, each as wide as its widest cell; `right[i]` aligns column i right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    aligned = list(right) + [False] * (len(headers) - len(right))

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, aligned, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def write_csv(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO = sys.stdout) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)


def json_text(value: Any, in_zone: tzinfo = UTC, indent: int | None = 2) -> str:
    """JSON with datetimes as RFC 3339 strings."""

    def encode(item: Any) -> str:
        if isinstance(item, datetime):
            return time_text(item, in_zone)
        raise TypeError(f"cannot print {type(item).__name__} as JSON")

    return json.dumps(value, default=encode, indent=indent, ensure_ascii=False)
