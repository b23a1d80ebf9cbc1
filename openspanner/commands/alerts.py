"""`openspanner alerts create|list|get|update|delete|evaluate|events`: alert rules over the API,
with an admin key (a read key for list, get and events). Rules are the REST API's JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openspanner.commands.common import client_flags, connect
from openspanner.commands.output import cell, json_text, table
from openspanner.errors import ConfigError

# Flags of create and update, as (flag, rule field, type).
_RULE_FLAGS: tuple[tuple[str, str, type], ...] = (
    ("--name", "name", str),
    ("--meter", "meter", str),
    ("--destination", "destination_id", str),
    ("--threshold", "threshold", float),
    ("--comparator", "comparator", str),
    ("--window", "window_seconds", int),
    ("--interval", "evaluation_interval_seconds", int),
    ("--subject", "subject", str),
    ("--group-by", "group_by", str),
)


def add_alerts_commands(commands: Any) -> None:
    alerts = commands.add_parser("alerts", help="manage alert rules").add_subparsers(required=True, metavar="ACTION")

    create = alerts.add_parser("create", help="create a rule from flags or a JSON file (flags win)")
    _rule_flags(create)
    client_flags(create)
    create.set_defaults(func=_create)

    listing = alerts.add_parser("list", help="list rules with their state")
    listing.add_argument("--meter", default="", help="only the rules of this meter")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(listing)
    listing.set_defaults(func=_list)

    get = alerts.add_parser("get", help="print a rule and its states as JSON")
    get.add_argument("id")
    client_flags(get)
    get.set_defaults(func=_get)

    update = alerts.add_parser("update", help="change a rule: only the fields given change")
    update.add_argument("id")
    _rule_flags(update)
    client_flags(update)
    update.set_defaults(func=_update)

    delete = alerts.add_parser("delete", help="delete a rule")
    delete.add_argument("id")
    client_flags(delete)
    delete.set_defaults(func=_delete)

    evaluate = alerts.add_parser("evaluate", help="evaluate a rule now; prints its state and what it sent")
    evaluate.add_argument("id")
    client_flags(evaluate)
    evaluate.set_defaults(func=_evaluate)

    events = alerts.add_parser("events", help="list alert events, newest first, with their latest delivery")
    events.add_argument("--rule", default="", help="only this rule's events")
    events.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    events.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(events)
    events.set_defaults(func=_events)


def _rule_flags(parser: argparse.ArgumentParser) -> None:
    for flag, field, kind in _RULE_FLAGS:
        parser.add_argument(flag, dest=field, type=kind, default=None)
    parser.add_argument("--filter", dest="filters", action="append", default=[], metavar="DIMENSION=VALUE",
                        help="count only events whose dimension has this value (repeatable)")
    enabled = parser.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_true", default=None)
    enabled.add_argument("--disable", dest="enabled", action="store_false")
    parser.set_defaults(enabled=None)  # neither flag: left as it is (true on create)
    parser.add_argument("--file", type=Path, help="JSON object of rule fields, '-' for stdin")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.file:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
        try:
            fields = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"{args.file}: not JSON: {error}") from None
        if not isinstance(fields, dict):
            raise ConfigError(f"{args.file}: expected a JSON object of rule fields")
    for _, field, _ in _RULE_FLAGS:
        if getattr(args, field) is not None:
            fields[field] = getattr(args, field)
    if args.enabled is not None:
        fields["enabled"] = args.enabled
    if args.filters:
        fields["metadata"] = dict(_pair(p) for p in args.filters)
    return fields


def _pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise ConfigError(f"--filter: expected DIMENSION=VALUE, got {text!r}")
    return key, value


def _create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            print(json_text(client.create_alert_rule(_fields(args))))
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        rules = client.list_alert_rules(meter=args.meter)
    if args.format == "json":
        print(json_text(rules))
        return 0
    rows = [
        [r["id"], r["name"], r["meter"], f"{r['comparator']} {cell(r['threshold'])}", f"{r['window_seconds']}s",
         (r["state"] or {}).get("status", "-"), "yes" if r["enabled"] else "no"]
        for r in rules
    ]
    print(table(["ID", "NAME", "METER", "CONDITION", "WINDOW", "STATE", "ENABLED"], rows))
    return 0


def _get(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        print(json_text(client.get_alert_rule(args.id)))
    return 0


def _update(args: argparse.Namespace) -> int:
    changes = _fields(args)
    if not changes:
        raise ConfigError("nothing to change: pass a flag such as --threshold, or --file")
    with connect(args) as client:
        try:
            print(json_text(client.update_alert_rule(args.id, changes)))
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return 0


def _delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.delete_alert_rule(args.id)
    print(f"alert rule {args.id} deleted")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json_text(client.evaluate_alert_rule(args.id)))
    return 0


def _events(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        events = []
        for event in client.list_alert_events(rule_id=args.rule, page_size=min(args.limit, 1000)):
            events.append(event)
            if len(events) >= args.limit:
                break
    if args.format == "json":
        print(json_text(events))
        return 0
    rows = [
        [cell(e["create_time"]), e["type"], e["rule_id"], e["group_value"] or "-", cell(e["value"]),
         (e["delivery"] or {}).get("status", "pending")]
        for e in events
    ]
    print(table(["TIME", "TYPE", "RULE", "GROUP", "VALUE", "DELIVERY"], rows))
    return 0
