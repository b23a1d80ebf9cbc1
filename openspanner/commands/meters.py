"""`openspanner meters create|list|get|update|delete`: meters over the API, with an admin key
(a read key for list and get)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openspanner.client import Dimension, Meter
from openspanner.commands.common import client_flags, connect
from openspanner.commands.output import json_text, table
from openspanner.errors import ConfigError

DIMENSION_TYPES = ("string", "boolean", "number")


def add_meters_commands(commands: Any) -> None:
    meters = commands.add_parser("meters", help="manage meters").add_subparsers(required=True, metavar="ACTION")

    create = meters.add_parser("create", help="create a meter from a JSON definition file")
    create.add_argument("file", type=Path, help="meter definition JSON, '-' for stdin")
    client_flags(create)
    create.set_defaults(func=_create)

    listing = meters.add_parser("list", help="list meters")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(listing)
    listing.set_defaults(func=_list)

    get = meters.add_parser("get", help="print a meter (by name or id) as JSON")
    get.add_argument("name")
    client_flags(get)
    get.set_defaults(func=_get)

    update = meters.add_parser(
        "update", help="change a meter: only the fields given change", description=_update.__doc__
    )
    update.add_argument("name")
    update.add_argument("--description")
    update.add_argument("--unit")
    update.add_argument("--retention-days", type=int, dest="event_retention_days", metavar="DAYS")
    update.add_argument("--add-dimension", action="append", default=[], metavar="NAME:TYPE",
                        help=f"add an optional dimension, TYPE one of {', '.join(DIMENSION_TYPES)} (repeatable)")
    update.add_argument("--file", type=Path, help="JSON object of the fields to change, '-' for stdin")
    client_flags(update)
    update.set_defaults(func=_update)

    delete = meters.add_parser("delete", help="delete a meter (refused while it has events, unless --force)")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="also delete the meter's events")
    client_flags(delete)
    delete.set_defaults(func=_delete)


def _read_json(path: Path) -> Any:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        return json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{path}: not JSON: {error}") from None


def _create(args: argparse.Namespace) -> int:
    definition = _read_json(args.file)
    if not isinstance(definition, dict):
        raise ConfigError(f"{args.file}: not a meter definition: expected a JSON object")
    with connect(args) as client:
        try:
            meter = client.create_meter(definition)
        except ValueError as error:
            raise ConfigError(f"{args.file}: {error}") from None
    print(json_text(meter))
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        meters = client.list_meters()
    if args.format == "json":
        print(json_text(meters))
        return 0
    rows = [
        [m["name"], _aggregation_label(m), m["unit"] or "-", f"{m['event_retention_days']}d",
         ",".join(d["name"] for d in m["dimensions"]) or "-"]
        for m in meters
    ]
    print(table(["NAME", "AGGREGATION", "UNIT", "RETENTION", "DIMENSIONS"], rows, right=[False, False, False, True]))
    return 0


def _aggregation_label(meter: Meter) -> str:
    """unique_count names the dimension it counts: `unique_count(user)`."""
    if meter["unique_dimension"]:
        return f"{meter['aggregation']}({meter['unique_dimension']})"
    return meter["aggregation"]


def _get(args: argparse.Namespace) -> int:
    with connect(args, "a read key") as client:
        print(json_text(client.get_meter(args.name)))
    return 0


def _update(args: argparse.Namespace) -> int:
    """Sends only the fields given (flags win over --file); a meter with events may change its
    description, unit, retention and dimension labels, and add optional dimensions."""
    changes: dict[str, Any] = _read_json(args.file) if args.file else {}
    if not isinstance(changes, dict):
        raise ConfigError(f"{args.file}: expected a JSON object of the fields to change")
    for name in ("description", "unit", "event_retention_days"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    with connect(args) as client:
        if args.add_dimension:
            if "dimensions" in changes:
                raise ConfigError("--add-dimension: the --file already sets dimensions; add them there")
            changes["dimensions"] = _with_dimensions(client.get_meter(args.name), args.add_dimension)
        if not changes:
            raise ConfigError(
                "nothing to change: pass --description, --unit, --retention-days, --add-dimension or --file"
            )
        try:
            meter = client.update_meter(args.name, changes)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(json_text(meter))
    return 0


def _with_dimensions(meter: Meter, specs: list[str]) -> list[Dimension | dict[str, Any]]:
    """The meter's dimensions and the new optional ones (`name:type`)."""
    added: list[Dimension | dict[str, Any]] = []
    for spec in specs:
        name, colon, kind = spec.rpartition(":")
        if not colon or not name or kind not in DIMENSION_TYPES:
            raise ConfigError(f"--add-dimension: expected NAME:TYPE with TYPE one of {DIMENSION_TYPES}, got {spec!r}")
        added.append({"name": name, "type": kind, "required": False})
    return [*meter["dimensions"], *added]


def _delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        deleted = client.delete_meter(args.name, force=args.force)
    print(f"meter {args.name} deleted" + (f" with its {deleted} events" if args.force else ""))
    return 0
