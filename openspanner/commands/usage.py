"""`openspanner usage METER`: QueryUsage, printed as a table, JSON or CSV.

Every format has the same rows: the window (in the answer's time zone), one
column per --group-by name in the order given, the value and the event count.
"""

from __future__ import annotations

import argparse
import io
from datetime import tzinfo
from typing import Any

from openspanner.client import UsageAnswer, UsageRow
from openspanner.commands.common import client_flags, connect, event_filter_flags, parse_filters, time_range
from openspanner.commands.output import FORMATS, cell, json_text, table, time_text, write_csv, zone

WINDOWS = ("minute", "hour", "day", "month")


def add_usage_command(commands: Any) -> None:
    usage = commands.add_parser(
        "usage", help="a meter's usage over a range, per window and group (QueryUsage)", description=__doc__
    )
    usage.add_argument("meter")
    event_filter_flags(usage, default_from="-24h")
    usage.add_argument("--window", choices=WINDOWS, help="one row per window (default: one for the whole range)")
    usage.add_argument("--time-zone", default="", help="IANA zone the windows are aligned in (default UTC)")
    usage.add_argument("--group-by", action="append", default=[], metavar="NAME",
                       help="a dimension or 'subject': one row per value (repeatable, at most 5)")
    usage.add_argument("--fill", action="store_true", help="also rows for windows without events")
    usage.add_argument("--format", choices=FORMATS, default="table")
    client_flags(usage)
    usage.set_defaults(func=_usage)


def _usage(args: argparse.Namespace) -> int:
    start, end = time_range(args)
    assert start is not None and end is not None  # both flags have defaults
    with connect(args, "a read key") as client:
        answer = client.query_usage(
            args.meter, start, end, window_size=args.window, time_zone=args.time_zone, subjects=args.subjects,
            filters=parse_filters(args.filters), group_by=args.group_by, fill=args.fill,
        )
    print(format_answer(answer, args.group_by, args.format), end="")
    return 0


def format_answer(answer: UsageAnswer, group_by: list[str], form: str) -> str:
    in_zone = zone(answer["time_zone"])
    if form == "json":
        return json_text(answer, in_zone) + "\n"
    missing = "" if form == "csv" else "-"
    headers = ["window_start", "window_end", *group_by, "value", "event_count"]
    rows = [_cells(row, group_by, in_zone, missing) for row in answer["rows"]]
    if form == "csv":
        text = io.StringIO()
        write_csv(headers, rows, text)
        return text.getvalue()
    right = [False] * (2 + len(group_by)) + [True, True]
    return table(headers, rows, right) + "\n"


def _cells(row: UsageRow, group_by: list[str], in_zone: tzinfo, missing: str) -> list[str]:
    groups = [row["subject"] if name == "subject" else row["group"].get(name) for name in group_by]
    return [
        time_text(row["window_start"], in_zone),
        time_text(row["window_end"], in_zone),
        *(cell(value, missing) for value in groups),
        cell(row["value"], missing),
        str(row["event_count"]),
    ]
