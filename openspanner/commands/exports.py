"""`openspanner exports ...`: export jobs over the API (docs/exports.md), with a read or admin key."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from openspanner.commands.common import client_flags, connect
from openspanner.commands.output import json_text, table

_READ_KEY = "a read or admin key"


def add_export_commands(commands: Any) -> None:
    exports = commands.add_parser("exports", help="export jobs: start, list, show, cancel, retry, download")
    actions = exports.add_subparsers(required=True, metavar="ACTION")
    start = actions.add_parser("start", help="queue an export and print its job")
    start.add_argument("kind", choices=["usage_buckets", "events"])
    start.add_argument("query", help="the query as JSON: a search body (usage_buckets) or"
                       ' {"meter", "subject", "start_time", "end_time", "filter": ["dim:value"]} (events)')
    start.add_argument("--format", default="csv", choices=["csv", "jsonl"], dest="export_format")
    start.add_argument("--gzip", action="store_true", help="gzip the artifact")
    client_flags(start)
    start.set_defaults(func=_start)

    listing = actions.add_parser("list", help="list export jobs, newest first")
    listing.add_argument("--limit", type=int, default=0)
    listing.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(listing)
    listing.set_defaults(func=_list)

    for action, help_text, func in (
        ("show", "print an export job as JSON", _show),
        ("cancel", "cancel a queued or running export", _cancel),
        ("retry", "queue a failed or canceled export again", _retry),
    ):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("id")
        client_flags(parser)
        parser.set_defaults(func=func)

    download = actions.add_parser("download", help="write a completed export's artifact to a file")
    download.add_argument("id")
    download.add_argument("output", help="the file to write")
    client_flags(download)
    download.set_defaults(func=_download)


def _start(args: argparse.Namespace) -> int:
    try:
        query = json.loads(args.query)
    except ValueError as exc:
        print(f"error: the query is not JSON: {exc}", file=sys.stderr)
        return 2
    with connect(args, needs=_READ_KEY) as client:
        job = client.create_export(query, kind=args.kind, format=args.export_format, gzip=args.gzip)
    print(json_text(job))
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        found = client.list_exports(limit=args.limit)["exports"]
    if args.format == "json":
        print(json_text(found))
        return 0
    rows = [[j["id"], j["status"], j["kind"], j["format"] + (".gz" if j["gzip"] else ""), str(j["rows_written"]),
             j["error"] or "-"] for j in found]
    print(table(["ID", "STATUS", "KIND", "FORMAT", "ROWS", "ERROR"], rows, right=[False, False, False, False, True]))
    return 0


def _show(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        print(json_text(client.get_export(args.id)))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        print(json_text(client.cancel_export(args.id)))
    return 0


def _retry(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        print(json_text(client.retry_export(args.id)))
    return 0


def _download(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        written = client.download_export(args.id, args.output)
    print(f"{written} bytes written to {args.output}", file=sys.stderr)
    return 0
