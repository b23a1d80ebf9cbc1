"""The `openspanner` command: serve, the operator commands for keys and meters, and import.

Operator commands talk to a running server over gRPC (the embedded engine
lets only the server open its data dir). `keys create --offline` opens
storage directly instead, to mint the first admin key while no server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from openspanner.config import Settings, load_settings
from openspanner.errors import ConfigError, OpenSpannerError
from openspanner.logging import configure_logging
from openspanner.v1 import api_key_pb2, api_key_pb2_grpc, meter_pb2, meter_pb2_grpc

DEFAULT_SERVER = "localhost:50051"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Logs go to stderr; operator commands print only their result on stdout.
    configure_logging("auto", "warning")
    try:
        result: int = args.func(args)
        return result
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
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

    meters = commands.add_parser("meters", help="manage meters").add_subparsers(
        required=True, metavar="ACTION"
    )
    meter_create = meters.add_parser("create", help="create a meter from a JSON definition file")
    meter_create.add_argument("file", type=Path, help="meter definition JSON, '-' for stdin")
    _client_flags(meter_create)
    meter_create.set_defaults(func=_meters_create)
    meter_list = meters.add_parser("list", help="list meters")
    _client_flags(meter_list)
    meter_list.set_defaults(func=_meters_list)

    from openspanner.importer.cli import add_import_command  # keeps the importer's flags beside its code

    add_import_command(commands)
    return parser


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="embedded engine data (OPENSPANNER_DATA_DIR)")
    parser.add_argument(
        "--clickhouse-url", help="http(s)://host:8123/db of a ClickHouse server (OPENSPANNER_CLICKHOUSE_URL)"
    )


def _client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=os.environ.get("OPENSPANNER_SERVER", DEFAULT_SERVER),
        help=f"host:port of the server (OPENSPANNER_SERVER, default {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OPENSPANNER_API_KEY") or os.environ.get("OPENSPANNER_ADMIN_API_KEY"),
        help="admin key (OPENSPANNER_API_KEY, else OPENSPANNER_ADMIN_API_KEY)",
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

    return asyncio.run(serve(settings))


def _call(args: argparse.Namespace, stub_type: Callable[[grpc.Channel], Any], method: str, request: Any) -> Any:
    if not args.api_key:
        raise ConfigError("an admin key is needed: pass --api-key or set OPENSPANNER_API_KEY")
    with grpc.insecure_channel(args.server) as channel:
        stub = stub_type(channel)
        return getattr(stub, method)(
            request, metadata=[("authorization", f"Bearer {args.api_key}")], timeout=30
        )


def _keys_create(args: argparse.Namespace) -> int:
    if args.offline:
        record_id, secret = asyncio.run(_create_key_offline(_settings(args), args.scope, args.name))
    else:
        request = api_key_pb2.CreateApiKeyRequest(
            scope=args.scope.upper(), name=args.name
        )
        response = _call(args, api_key_pb2_grpc.ApiKeyServiceStub, "CreateApiKey", request)
        record_id, secret = response.api_key.id, response.secret
    print(secret)
    print(f"key {record_id} (scope {args.scope}); the secret above is shown only once", file=sys.stderr)
    return 0


def _require_server_install(settings: Settings) -> None:
    """A client-only install (no `server` extra) is told what to install, instead of an ImportError."""
    needed = ["fastapi", "uvicorn", "clickhouse_connect", "grpc_health", "grpc_reflection", "prometheus_client"]
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
    request = api_key_pb2.ListApiKeysRequest(include_revoked=args.all)
    response = _call(args, api_key_pb2_grpc.ApiKeyServiceStub, "ListApiKeys", request)
    print(f"{'ID':<14}{'SCOPE':<8}{'CREATED':<22}{'REVOKED':<22}NAME")
    for key in response.api_keys:
        revoked = key.revoke_time.ToDatetime().isoformat(timespec="seconds") if key.HasField("revoke_time") else "-"
        created = key.create_time.ToDatetime().isoformat(timespec="seconds")
        scope = api_key_pb2.Scope.Name(key.scope).lower()
        print(f"{key.id:<14}{scope:<8}{created:<22}{revoked:<22}{key.name}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    request = api_key_pb2.RevokeApiKeyRequest(id=args.id)
    _call(args, api_key_pb2_grpc.ApiKeyServiceStub, "RevokeApiKey", request)
    print(f"key {args.id} revoked")
    return 0


def _meters_create(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
    try:
        request = json_format.Parse(text, meter_pb2.Meter())
    except json_format.ParseError as error:
        raise ConfigError(f"{args.file}: not a meter definition: {error}") from None
    meter = _call(args, meter_pb2_grpc.MeterServiceStub, "CreateMeter", request)
    print(json_format.MessageToJson(meter, preserving_proto_field_name=True))
    return 0


def _meters_list(args: argparse.Namespace) -> int:
    page_token = ""
    while True:
        request = meter_pb2.ListMetersRequest(page_size=1000, page_token=page_token)
        response = _call(args, meter_pb2_grpc.MeterServiceStub, "ListMeters", request)
        for meter in response.meters:
            aggregation = meter_pb2.Aggregation.Name(meter.aggregation)
            dims = ",".join(d.name for d in meter.dimensions) or "-"
            print(f"{meter.name:<32}{aggregation:<8}{meter.unit:<12}{meter.event_retention_days:>5}d  {dims}")
        page_token = response.next_page_token
        if not page_token:
            return 0


if __name__ == "__main__":
    sys.exit(main())
