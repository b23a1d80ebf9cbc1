"""`openspanner plans list|show|create|update|delete|assign|unassign|assignments|progress`:
plans and subjects' assignments over the API, with an admin key (a read key for list, show,
assignments and progress)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openspanner.client.limits_convert import Assignment, Plan, Progress
from openspanner.commands.common import TIME_HELP, client_flags, connect, parse_time
from openspanner.commands.output import cell, json_text, table, time_text
from openspanner.errors import ConfigError

LIMIT_SPEC = "METER:LIMIT[:PERIOD[:ENFORCEMENT]]"


def add_plans_commands(commands: Any) -> None:
    plans = commands.add_parser("plans", help="manage plans and assignments").add_subparsers(
        required=True, metavar="ACTION"
    )

    listing = plans.add_parser("list", help="list current plans")
    listing.add_argument("--all", action="store_true", help="also versions replaced by newer ones")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(listing)
    listing.set_defaults(func=_list)

    show = plans.add_parser("show", help="print a plan version as JSON")
    show.add_argument("id")
    client_flags(show)
    show.set_defaults(func=_show)

    create = plans.add_parser("create", help="create a plan from a JSON file or from flags", description=_DEFINITION)
    _definition_flags(create)
    create.set_defaults(func=_create)

    update = plans.add_parser(
        "update", help="make the plan's next version (its subjects move to it)", description=_DEFINITION
    )
    update.add_argument("id", help="the current version")
    _definition_flags(update)
    update.set_defaults(func=_update)

    delete = plans.add_parser("delete", help="delete a plan (refused while subjects are assigned to it)")
    delete.add_argument("id")
    client_flags(delete)
    delete.set_defaults(func=_delete)

    assign = plans.add_parser("assign", help="assign a subject to a plan")
    assign.add_argument("subject")
    assign.add_argument("plan_id")
    assign.add_argument("--at", metavar="WHEN", help=f"when it takes effect (default now); {TIME_HELP}")
    client_flags(assign)
    assign.set_defaults(func=_assign)

    unassign = plans.add_parser("unassign", help="end a subject's assignment")
    unassign.add_argument("subject")
    client_flags(unassign)
    unassign.set_defaults(func=_unassign)

    assignments = plans.add_parser("assignments", help="list assignments, newest first")
    assignments.add_argument("--subject", default="")
    assignments.add_argument("--plan", dest="plan_id", default="", metavar="PLAN_ID")
    assignments.add_argument("--history", action="store_true", help="also ended assignments")
    assignments.add_argument("--limit", type=int, default=50, help="at most this many (up to 200)")
    assignments.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(assignments)
    assignments.set_defaults(func=_assignments)

    progress = plans.add_parser("progress", help="a subject's usage against each limit of its plan")
    progress.add_argument("subject")
    progress.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(progress)
    progress.set_defaults(func=_progress)


_DEFINITION = (
    "The plan is a JSON file ({\"name\", \"description\", \"limits\": [{\"meter\", \"period\", \"limit\","
    " \"warning_percent\", \"enforcement\", \"failure_policy\"}]}) or --name and --limit flags; flags"
    " override the file's name and description, and --limit replaces its limits."
)


def _definition_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, help="plan JSON, '-' for stdin")
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument(
        "--limit", dest="limits", action="append", default=[], metavar=LIMIT_SPEC,
        help="a limit (repeatable): PERIOD day, week, month (default) or year; ENFORCEMENT advisory (default) or hard",
    )
    client_flags(parser)


def _definition(args: argparse.Namespace) -> dict[str, Any]:
    definition: Any = _read_json(args.file) if args.file else {}
    if not isinstance(definition, dict):
        raise ConfigError(f"{args.file}: not a plan: expected a JSON object")
    if args.name is not None:
        definition["name"] = args.name
    if args.description is not None:
        definition["description"] = args.description
    if args.limits:
        definition["limits"] = [parse_limit(spec) for spec in args.limits]
    if not definition:
        raise ConfigError("no plan given: pass --file, or --name and --limit")
    return definition


def parse_limit(spec: str) -> dict[str, Any]:
    """`api_requests:1000:month:hard` as a limit; the server checks the words."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 4 or not parts[0]:
        raise ConfigError(f"--limit: expected {LIMIT_SPEC}, got {spec!r}")
    try:
        amount = float(parts[1])
    except ValueError:
        raise ConfigError(f"--limit: LIMIT must be a number, got {parts[1]!r} in {spec!r}") from None
    limit: dict[str, Any] = {"meter": parts[0], "limit": amount}
    if len(parts) > 2 and parts[2]:
        limit["period"] = parts[2]
    if len(parts) > 3 and parts[3]:
        limit["enforcement"] = parts[3]
    return limit


def _read_json(path: Path) -> Any:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        return json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{path}: not JSON: {error}") from None


def _list(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        plans = client.list_plans(include_retired=args.all)
    if args.format == "json":
        print(json_text(plans))
        return 0
    rows = [
        [p["id"], p["name"], str(p["version"]), "yes" if p["is_current"] else "no", _limits_text(p)] for p in plans
    ]
    print(table(["ID", "NAME", "VERSION", "CURRENT", "LIMITS"], rows, right=[False, False, True]))
    return 0


def _limits_text(plan: Plan) -> str:
    return ", ".join(
        f"{limit['meter']} {cell(limit['limit'])}/{limit['period']}"
        + (" hard" if limit["enforcement"] == "hard" else "")
        for limit in plan["limits"]
    )


def _show(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        print(json_text(client.get_plan(args.id)))
    return 0


def _create(args: argparse.Namespace) -> int:
    definition = _definition(args)
    with connect(args) as client:
        try:
            plan = client.create_plan(definition)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(json_text(plan))
    return 0


def _update(args: argparse.Namespace) -> int:
    definition = _definition(args)
    with connect(args) as client:
        try:
            plan = client.update_plan(args.id, definition)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(json_text(plan))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.delete_plan(args.id)
    print(f"plan {args.id} deleted")
    return 0


def _assign(args: argparse.Namespace) -> int:
    effective_at = parse_time(args.at, datetime.now(UTC), "--at") if args.at else None
    with connect(args) as client:
        assignment = client.assign_plan(args.subject, args.plan_id, effective_at=effective_at)
    print(json_text(assignment))
    return 0


def _unassign(args: argparse.Namespace) -> int:
    with connect(args) as client:
        assignment = client.unassign_plan(args.subject)
    print(json_text(assignment))
    return 0


def _assignments(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        found = client.list_assignments(
            subject=args.subject, plan_id=args.plan_id, include_history=args.history, limit=args.limit
        )
    if args.format == "json":
        print(json_text(found))
        return 0
    rows = [_assignment_row(a) for a in found]
    print(table(["SUBJECT", "PLAN", "VERSION", "STATUS", "ASSIGNED", "UNASSIGNED", "ID"], rows))
    return 0


def _assignment_row(assignment: Assignment) -> list[str]:
    return [
        assignment["subject"], assignment["plan_name"], str(assignment["plan_version"]), assignment["status"] or "-",
        _time(assignment["assigned_time"]), _time(assignment["unassigned_time"]), assignment["id"],
    ]


def _progress(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        progress = client.get_subject_progress(args.subject)
    if args.format == "json":
        print(json_text(progress))
        return 0
    print(format_progress(progress))
    return 0


def format_progress(progress: Progress) -> str:
    plan = progress["plan"] or {}
    heading = f"{progress['subject']}: plan {plan.get('name', '-')} v{plan.get('version', '-')}"
    rows = [
        [item["meter"], item["period"], item["state"], cell(item["current"]), cell(item["limit"]),
         f"{item['percent']:.1f}%", cell(item["remaining"]), _time(item["window_end"])]
        for item in progress["items"]
    ]
    headers = ["METER", "PERIOD", "STATE", "CURRENT", "LIMIT", "PERCENT", "REMAINING", "RESETS"]
    return heading + "\n" + table(headers, rows, right=[False, False, False, True, True, True, True])


def _time(value: datetime | None) -> str:
    return time_text(value.replace(microsecond=0)) if value is not None else "-"
