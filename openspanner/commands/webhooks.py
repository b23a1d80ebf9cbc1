"""`openspanner destinations ...` and `openspanner deliveries ...`: webhook destinations and their
deliveries over the API (docs/webhooks.md), with an admin key (a read key for list and get)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from openspanner.commands.common import client_flags, connect
from openspanner.commands.output import json_text, table

_READ_KEY = "a read or admin key"


def add_webhook_commands(commands: Any) -> None:
    destinations = commands.add_parser("destinations", help="manage webhook destinations").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = destinations.add_parser("create", help="create a destination and print its secret once")
    create.add_argument("name")
    create.add_argument("url", help="absolute http(s) URL the deliveries are POSTed to")
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    client_flags(create)
    create.set_defaults(func=_create)

    listing = destinations.add_parser("list", help="list destinations, newest first")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(listing)
    listing.set_defaults(func=_list)

    for action, help_text, func in (
        ("get", "print a destination as JSON (never its secret)", _get),
        ("delete", "delete a destination (refused while an alert rule uses it)", _delete),
        ("rotate-secret", "make a new signing secret and print it once", _rotate),
        ("test", "send a test event to the destination and print its delivery job", _test),
    ):
        parser = destinations.add_parser(action, help=help_text)
        parser.add_argument("id")
        client_flags(parser)
        parser.set_defaults(func=func)

    update = destinations.add_parser("update", help="change a destination: only the fields given change")
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--url", dest="webhook_url")
    enabled = update.add_mutually_exclusive_group()
    enabled.add_argument("--enable", action="store_const", const=True, dest="enabled")
    enabled.add_argument("--disable", action="store_const", const=False, dest="enabled")
    client_flags(update)
    update.set_defaults(func=_update)

    deliveries = commands.add_parser("deliveries", help="webhook deliveries: list, log, retry").add_subparsers(
        required=True, metavar="ACTION"
    )
    jobs = deliveries.add_parser("list", help="list delivery jobs, newest first")
    jobs.add_argument("--status", default="", choices=["", "pending", "running", "delivered", "dead_letter"])
    jobs.add_argument("--destination", default="", dest="destination_id")
    jobs.add_argument("--event", default="", dest="event_id")
    jobs.add_argument("--limit", type=int, default=0)
    jobs.add_argument("--format", choices=["table", "json"], default="table")
    client_flags(jobs)
    jobs.set_defaults(func=_jobs)
    job = deliveries.add_parser("get", help="print a delivery job and its log per attempt as JSON")
    job.add_argument("id")
    client_flags(job)
    job.set_defaults(func=_job)
    retry = deliveries.add_parser("retry", help="requeue a dead letter now")
    retry.add_argument("id")
    client_flags(retry)
    retry.set_defaults(func=_retry)


def _create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        created = client.create_destination(args.name, args.url, enabled=not args.disabled)
    print(json_text(created))
    print("the signing secret above is shown only once", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        found = client.list_destinations()
    if args.format == "json":
        print(json_text(found))
        return 0
    rows = [[d["id"], "yes" if d["enabled"] else "no", d["name"], d["webhook_url"]] for d in found]
    print(table(["ID", "ENABLED", "NAME", "URL"], rows))
    return 0


def _get(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        print(json_text(client.get_destination(args.id)))
    return 0


def _update(args: argparse.Namespace) -> int:
    with connect(args) as client:
        updated = client.update_destination(args.id, name=args.name, webhook_url=args.webhook_url, enabled=args.enabled)
    print(json_text(updated))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.delete_destination(args.id)
    print(f"destination {args.id} deleted")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json_text(client.rotate_destination_secret(args.id)))
    print("the new signing secret above is shown only once", file=sys.stderr)
    return 0


def _test(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json_text(client.test_destination(args.id)))
    return 0


def _jobs(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        found = client.list_delivery_jobs(
            status=args.status, destination_id=args.destination_id, event_id=args.event_id, limit=args.limit
        )
    if args.format == "json":
        print(json_text(found))
        return 0
    rows = [
        [j["id"], j["status"], str(j["attempts"]), j["event_kind"], j["destination_id"], j["last_error"] or "-"]
        for j in found
    ]
    print(table(["ID", "STATUS", "ATTEMPTS", "KIND", "DESTINATION", "LAST ERROR"], rows))
    return 0


def _job(args: argparse.Namespace) -> int:
    with connect(args, needs=_READ_KEY) as client:
        print(json_text(client.get_delivery_job(args.id)))
    return 0


def _retry(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json_text(client.retry_delivery_job(args.id)))
    return 0
