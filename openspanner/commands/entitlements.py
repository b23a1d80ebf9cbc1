"""`openspanner check SUBJECT METER` and `openspanner consume SUBJECT METER --key KEY`.

Both print the quota (a table, or JSON with --format json) and exit 0 when
the quantity fits (check) or was recorded (consume), and EXIT_NOT_ALLOWED
when it does not fit or a hard limit refused it, so scripts can branch on
the answer; errors exit 1 as in every command.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from openspanner.client import QuotaExceededError
from openspanner.client.limits_convert import Quota
from openspanner.commands.common import client_flags, connect
from openspanner.commands.output import cell, json_text, table, time_text
from openspanner.errors import ConfigError

# Not 1 (an error) nor 2 (bad command line): the call worked and said no.
EXIT_NOT_ALLOWED = 3


def add_entitlement_commands(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="would QUANTITY more of METER fit SUBJECT's plan? (stores nothing)", description=__doc__
    )
    check.add_argument("subject")
    check.add_argument("meter")
    check.add_argument("--quantity", type=float, default=1.0, help="default 1")
    check.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(check)
    check.set_defaults(func=_check)

    consume = commands.add_parser(
        "consume", help="check and record one event in one step (refused past a hard limit)", description=__doc__
    )
    consume.add_argument("subject")
    consume.add_argument("meter")
    consume.add_argument("--key", required=True, dest="idempotency_key",
                         help="the event's idempotency key: a repeat replays the first decision")
    consume.add_argument("--quantity", type=float, default=1.0, help="default 1")
    consume.add_argument("--metadata", action="append", default=[], metavar="DIMENSION=VALUE",
                         help="a dimension value of the event (repeatable)")
    consume.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(consume)
    consume.set_defaults(func=_consume)


def _check(args: argparse.Namespace) -> int:
    with connect(args, "a read or ingest key") as client:
        quota = client.check(args.subject, args.meter, args.quantity)
    print(json_text(quota) if args.format == "json" else format_quota(quota))
    return 0 if quota["allowed"] else EXIT_NOT_ALLOWED


def _consume(args: argparse.Namespace) -> int:
    event = {
        "idempotency_key": args.idempotency_key, "subject": args.subject, "meter": args.meter,
        "quantity": args.quantity, "metadata": parse_metadata(args.metadata),
    }
    with connect(args, "an ingest key") as client:
        try:
            answer = client.consume(event)
        except QuotaExceededError as refused:
            answer = refused.decision
    if args.format == "json":
        print(json_text(answer))
    else:
        outcome = "accepted" if answer["accepted"] else "refused"
        print(f"{outcome}" + (" (replayed)" if answer["replayed"] else "") + "\n" + format_quota(answer["quota"]))
    return 0 if answer["accepted"] else EXIT_NOT_ALLOWED


def parse_metadata(pairs: list[str]) -> dict[str, str | float | bool]:
    """`dimension=value` pairs; `true`, `false` and numbers are sent as such (boolean and number
    dimensions refuse text), anything else as text."""
    metadata: dict[str, str | float | bool] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise ConfigError(f"--metadata: expected DIMENSION=VALUE, got {pair!r}")
        metadata[name] = _typed(value)
    return metadata


def _typed(text: str) -> str | float | bool:
    if text in ("true", "false"):
        return text == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def format_quota(quota: Quota) -> str:
    """One line of headers and one of values; the message below."""
    resets = quota["window_end"]
    headers = ["ALLOWED", "STATE", "CURRENT", "QUANTITY", "LIMIT", "REMAINING", "PLAN", "PERIOD", "RESETS"]
    row = [
        cell(quota["allowed"]), quota["state"] or "-", cell(quota["current"]), cell(quota["quantity"]),
        cell(quota["limit"]), cell(quota["remaining"]), quota["plan_name"] or "-", quota["period"] or "-",
        time_text(resets.replace(microsecond=0)) if resets else "-",
    ]
    message: str = quota["message"]
    return table(headers, [row]) + "\n" + message
