"""The `openspanner` command: serve and worker, the operator commands (keys, meters, usage, events,
destinations, deliveries, plans, check, consume), and import.

Operator commands talk to a running server over gRPC with openspanner.client
(the embedded engine lets only the server open its data dir); each area's
commands are a module of openspanner/commands/. `keys create --offline`
opens storage directly instead, to mint the first admin key while no server
runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openspanner.client import ApiError
from openspanner.commands.alerts import add_alerts_commands
from openspanner.commands.common import client_flags as _client_flags
from openspanner.commands.common import connect, join_relative_times
from openspanner.commands.entitlements import add_entitlement_commands
from openspanner.commands.events import add_events_command
from openspanner.commands.exports import add_export_commands
from openspanner.commands.meters import add_meters_commands
from openspanner.commands.output import table, time_text
from openspanner.commands.plans import add_plans_commands
from openspanner.commands.usage import add_usage_command
from openspanner.commands.webhooks import add_webhook_commands
from openspanner.config import Settings, load_settings
from openspanner.errors import ConfigError, OpenSpannerError
from openspanner.logging import configure_logging, flush_logs


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(join_relative_times(sys.argv[1:] if argv is None else argv))
    # Logs go to stderr; operator commands print only their result on stdout.
    configure_logging("auto", "warning")
    try:
        result: int = args.func(args)
        return result
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)  # CODE: field: message
        return 1
    except OpenSpannerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openspanner", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gRPC and REST server")
    _storage_flags(serve)
    serve.add_argument("--grpc-host", help="address to listen on (OPENSPANNER_GRPC_HOST)")
    serve.add_argument("--grpc-port", type=int, help="port, 0 for any (OPENSPANNER_GRPC_PORT)")
    serve.add_argument("--http-host", help="REST API address, empty for all (OPENSPANNER_HTTP_HOST)")
    serve.add_argument("--http-port", type=int, help="REST API port, 0 for any (OPENSPANNER_HTTP_PORT)")
    serve.add_argument("--log-format", choices=["auto", "console", "json"])
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_serve)

    worker = commands.add_parser(
        "worker", help="run only the background workers (webhook delivery), no ports, on the servers' storage"
    )
    _storage_flags(worker)
    worker.add_argument("--log-format", choices=["auto", "console", "json"])
    worker.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    worker.set_defaults(func=_worker)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = keys.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--scope", required=True, choices=["ingest", "read", "admin"])
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument(
        "--offline",
        action="store_true",
        help="write to storage directly (no server running); for the first admin key",
    )
    _storage_flags(create)
    _client_flags(create)
    create.set_defaults(func=_keys_create)
    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    _client_flags(listing)
    listing.set_defaults(func=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    _client_flags(revoke)
    revoke.set_defaults(func=_keys_revoke)

    add_meters_commands(commands)
    add_alerts_commands(commands)
    add_usage_command(commands)
    add_events_command(commands)
    add_webhook_commands(commands)
    add_plans_commands(commands)
    add_entitlement_commands(commands)
    add_export_commands(commands)

    from openspanner.importer.cli import add_import_command  # keeps the importer's flags beside its code

    add_import_command(commands)
    return parser


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="embedded engine data (OPENSPANNER_DATA_DIR)")
    parser.add_argument(
        "--clickhouse-url", help="http(s)://host:8123/db of a ClickHouse server (OPENSPANNER_CLICKHOUSE_URL)"
    )


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        clickhouse_url=getattr(args, "clickhouse_url", None),
        **extra,
    )


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        grpc_host=args.grpc_host,
        grpc_port=args.grpc_port,
        http_host=args.http_host,
        http_port=args.http_port,
        log_format=args.log_format,
        log_level=args.log_level,
    )
    configure_logging(settings.log_format, settings.log_level)
    _require_server_install(settings)
    from openspanner.server import serve  # imports grpc server code only when serving

    try:
        return asyncio.run(serve(settings))
    finally:
        flush_logs()  # the server's lines before any error printed about its end


def _worker(args: argparse.Namespace) -> int:
    settings = _settings(args, log_format=args.log_format, log_level=args.log_level)
    configure_logging(settings.log_format, settings.log_level)
    _require_server_install(settings)
    from openspanner.server import serve  # imports grpc server code only when serving

    return asyncio.run(serve(settings, only_workers=True))


def _keys_create(args: argparse.Namespace) -> int:
    if args.offline:
        record_id, secret = asyncio.run(_create_key_offline(_settings(args), args.scope, args.name))
    else:
        with connect(args) as client:
            created = client.create_api_key(args.scope, name=args.name)
        record_id, secret = created["api_key"]["id"], created["secret"]
    print(secret)
    print(f"key {record_id} (scope {args.scope}); the secret above is shown only once", file=sys.stderr)
    return 0


def _require_server_install(settings: Settings) -> None:
    """A client-only install (no `server` extra) is told what to install, instead of an ImportError."""
    needed = [
        "fastapi", "uvicorn", "clickhouse_connect", "grpc_health", "grpc_reflection", "prometheus_client", "aiohttp",
    ]
    if settings.uses_embedded_engine:
        needed.append("chdb")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"this install has only the clients: the server needs pip install 'openspanner[server]'"
            f" (missing {', '.join(missing)})"
        )


async def _create_key_offline(settings: Settings, scope: str, name: str) -> tuple[str, str]:
    _require_server_install(settings)
    from openspanner.auth import ApiKeys, parse_scope
    from openspanner.storage.client import Storage, open_client
    from openspanner.storage.schema import migrate

    storage = Storage(open_client(settings), threads=1)
    try:
        await storage.run(migrate, storage.client, settings.clickhouse_cluster)
        record, secret = await ApiKeys(storage, None, 60).create(parse_scope(scope), name)
        return record.id, secret
    finally:
        storage.close()


def _keys_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        keys = client.list_api_keys(include_revoked=args.all)
    rows = [
        [key["id"], key["scope"].lower(), _second(key["create_time"]), _second(key["revoke_time"]), key["name"]]
        for key in keys
    ]
    print(table(["ID", "SCOPE", "CREATED", "REVOKED", "NAME"], rows))
    return 0


def _second(value: Any) -> str:
    return time_text(value.replace(microsecond=0)) if value else "-"


def _keys_revoke(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.revoke_api_key(args.id)
    print(f"key {args.id} revoked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
