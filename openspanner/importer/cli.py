"""`openspanner import FILE --meter NAME`: flags, and the exit code of an import.

Exit codes: 0 every row stored (or already stored); 3 the import finished
but some rows were rejected (see the rejects file); 2 bad flags or input;
1 the server refused or could not be reached (re-run with --resume).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from openspanner.errors import ConfigError
from openspanner.importer.mapping import ColumnMap
from openspanner.importer.progress import format_summary, reporter_for
from openspanner.importer.run import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, ImportOptions, run_import
from openspanner.importer.send import ImportFailed
from openspanner.importer.source import Format

EXIT_REJECTED_ROWS = 3
DEFAULT_SERVER = "localhost:50051"
EPILOG = """\
key template placeholders: any column name; subject, quantity, timestamp (the
mapped columns); row_id (row number in the file, from 1); meter; source
(--source, default the file name without extensions). Example:
  --key '{source}:{subject}:{meter}:{row_id}'
"""


def add_import_command(commands: Any) -> None:
    parser = commands.add_parser(
        "import",
        help="import historical usage from a JSONL or CSV file (optionally .gz, '-' for stdin)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="usage.jsonl, usage.csv, either .gz, or '-' for stdin")
    parser.add_argument("--meter", required=True, help="meter to import into")
    parser.add_argument("--key", dest="key_template", help="idempotency key template for rows without a key")
    parser.add_argument("--format", choices=[f.value for f in Format], help="default: from the suffix or content")
    columns = parser.add_argument_group("columns (the rest become metadata)")
    columns.add_argument("--subject-column", default="subject")
    columns.add_argument("--quantity-column", default="quantity")
    columns.add_argument("--timestamp-column", default="timestamp", help="RFC 3339 or epoch seconds/milliseconds")
    columns.add_argument("--timestamp-unit", choices=["auto", "s", "ms"], default="auto",
                         help="unit of numeric timestamps; auto: ms if >= 1e11")
    columns.add_argument("--key-column", default="idempotency_key")
    columns.add_argument("--ignore-column", action="append", default=[], metavar="NAME", help="repeatable")
    columns.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                         help="dimension value for rows without one (repeatable)")
    columns.add_argument("--source", help="{source} in key templates (default: the file name without extensions)")
    sending = parser.add_argument_group("sending")
    sending.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="events per RecordUsages call")
    sending.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="calls in flight")
    sending.add_argument("--resume", action="store_true",
                         help="skip batches acknowledged by an earlier run (state in FILE.import-state)")
    sending.add_argument("--dry-run", action="store_true", help="validate every row on the server, store nothing")
    sending.add_argument("--rejects", type=Path, help="rejects file (default: <name>.rejects.<format> beside FILE)")
    sending.add_argument("--progress", choices=["auto", "bar", "log", "none"], default="auto",
                         help="auto: a bar on a terminal, log lines otherwise")
    sending.add_argument(
        "--server",
        default=os.environ.get("OPENSPANNER_SERVER") or os.environ.get("OPEN_SPANNER_BASE_URL") or DEFAULT_SERVER,
        help="host:port or http(s)://host:port (OPENSPANNER_SERVER, OPEN_SPANNER_BASE_URL;"
        f" default {DEFAULT_SERVER})",
    )
    sending.add_argument(
        "--api-key",
        default=os.environ.get("OPENSPANNER_API_KEY")
        or os.environ.get("OPEN_SPANNER_API_KEY")
        or os.environ.get("OPENSPANNER_ADMIN_API_KEY"),
        help="(OPENSPANNER_API_KEY, OPEN_SPANNER_API_KEY or OPENSPANNER_ADMIN_API_KEY)",
    )
    parser.set_defaults(func=import_command)


def import_command(args: argparse.Namespace) -> int:
    if not args.api_key:
        raise ConfigError("an API key is needed: pass --api-key or set OPENSPANNER_API_KEY")
    options = ImportOptions(
        path=args.file,
        meter=args.meter,
        server=args.server,
        api_key=args.api_key,
        key_template=args.key_template,
        columns=ColumnMap(
            subject=args.subject_column,
            quantity=args.quantity_column,
            timestamp=args.timestamp_column,
            key=args.key_column,
            ignore=frozenset(args.ignore_column),
            defaults=_pairs(args.metadata),
            timestamp_unit=args.timestamp_unit,
        ),
        format=Format(args.format) if args.format else None,
        source=args.source,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        resume=args.resume,
        dry_run=args.dry_run,
        rejects_path=args.rejects,
    )
    try:
        summary = asyncio.run(run_import(options, reporter_for(args.progress)))
    except ImportFailed as failure:
        print(f"error: import stopped: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Every batch the state file names was acknowledged; the rest are sent again.
        print("\ninterrupted: run the same command with --resume to continue", file=sys.stderr)
        return 130
    print(format_summary(summary), flush=True)
    return EXIT_REJECTED_ROWS if summary.rejects_total else 0


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--metadata: expected KEY=VALUE, got {item!r}")
        pairs[name] = value
    return pairs
