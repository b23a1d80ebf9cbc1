"""What the operator commands share: the server and key flags, the client, times and filters."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from openspanner.client import Client
from openspanner.errors import ConfigError

DEFAULT_SERVER = "localhost:50051"
_RELATIVE = re.compile(r"^-(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TIME_HELP = "RFC 3339 with an offset (2026-06-01T00:00:00Z), 'now', or relative to now: -30m, -24h, -7d"


def client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=os.environ.get("OPENSPANNER_SERVER", DEFAULT_SERVER),
        help=f"host:port of the server, https://host:port for TLS (OPENSPANNER_SERVER, default {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OPENSPANNER_API_KEY") or os.environ.get("OPENSPANNER_ADMIN_API_KEY"),
        help="API key (OPENSPANNER_API_KEY, else OPENSPANNER_ADMIN_API_KEY)",
    )


def connect(args: argparse.Namespace, needs: str = "an admin key") -> Client:
    """The client of `--server` with `--api-key`; `needs` says which key the command wants."""
    if not args.api_key:
        raise ConfigError(f"{needs} is needed: pass --api-key or set OPENSPANNER_API_KEY")
    try:
        return Client(args.server, args.api_key)
    except ValueError as error:
        raise ConfigError(f"--{error}") from None


def event_filter_flags(parser: argparse.ArgumentParser, *, default_from: str | None) -> None:
    """--from, --to, --subject and --filter of `usage` and `events`."""
    parser.add_argument(
        "--from", dest="start", default=default_from, metavar="WHEN",
        help=f"start of the range, included; {TIME_HELP}" + (f" (default {default_from})" if default_from else ""),
    )
    parser.add_argument(
        "--to", dest="end", default="now" if default_from else None, metavar="WHEN",
        help="end of the range, excluded" + (" (default now)" if default_from else ""),
    )
    parser.add_argument("--subject", dest="subjects", action="append", default=[], metavar="SUBJECT",
                        help="only this subject (repeatable)")
    parser.add_argument("--filter", dest="filters", action="append", default=[], metavar="DIMENSION=VALUE",
                        help="only events whose dimension has this value; repeated for one dimension: any of them")


def join_relative_times(argv: Sequence[str]) -> list[str]:
    """`--from -24h` as `--from=-24h`: argparse takes a value starting with `-` for an option."""
    joined: list[str] = []
    for token in argv:
        if joined and joined[-1] in ("--from", "--to") and _RELATIVE.match(token):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def parse_time(text: str, now: datetime, flag: str) -> datetime:
    """A time of the command line: RFC 3339 with an offset, `now`, or `-<n><unit>` before now."""
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag}: expected {TIME_HELP}; got {text!r}") from None
    if value.tzinfo is None:
        raise ConfigError(f"{flag}: {text!r} has no offset; add one, e.g. {text}Z for UTC")
    return value


def time_range(args: argparse.Namespace, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    now = now or datetime.now(UTC)
    start = parse_time(args.start, now, "--from") if args.start else None
    end = parse_time(args.end, now, "--to") if args.end else None
    return start, end


def parse_filters(pairs: list[str]) -> dict[str, list[str | float | bool | None]]:
    """`dimension=value` pairs; values stay text, which the server reads in the dimension's type."""
    filters: dict[str, list[str | float | bool | None]] = {}
    for pair in pairs:
        dimension, equals, value = pair.partition("=")
        if not equals or not dimension:
            raise ConfigError(f"--filter: expected DIMENSION=VALUE, got {pair!r}")
        filters.setdefault(dimension, []).append(value)
    return filters
