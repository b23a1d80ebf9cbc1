"""The HTTP/JSON API: one generic transcoder in front of the gRPC server.

Each HTTP request is bound to its RPC's request message and sent over a
loopback gRPC channel to this same process, so it passes the same auth
interceptor (same keys, same scopes), the same servicers and the same error
mapping as any gRPC call: there is no second implementation of an endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import descriptor, json_format, message
from google.rpc import error_details_pb2, status_pb2

from openspanner.config import Settings
from openspanner.errors import (
    STATUS_DETAILS_KEY,
    MethodNotAllowed,
    NotFound,
    OpenSpannerError,
    RequestTooLarge,
    Unavailable,
    UnsupportedMediaType,
    http_status,
    http_status_of,
    rich_status,
)
from openspanner.http.binding import bind, parse_body
from openspanner.http.openapi import openapi_document
from openspanner.http.routes import Route, routes_of
from openspanner.logging import get_logger

log = get_logger(__name__)

# Keeps error_details_pb2 imported: json_format resolves the `@type` of a
# BadRequest detail through the default pool.
_DETAIL_TYPES = (error_details_pb2.BadRequest,)
_JSON_TYPES = ("application/json",)
_FORWARDED_HEADERS = ("authorization",)

Readiness = Callable[[], Awaitable[None]]


@dataclass
class HttpServer:
    """A running HTTP listener; `stop` closes it and its gRPC channel."""

    runner: web.AppRunner
    channel: grpc.aio.Channel
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.channel.close()


async def start_http(
    settings: Settings,
    grpc_target: str,
    services: Iterable[descriptor.ServiceDescriptor],
    ready: Readiness,
) -> HttpServer:
    """Serve the annotated RPCs of `services`, calling the gRPC server at `grpc_target`."""
    # A bulk body near the body limit, and its answer, must fit through the channel.
    limit = max(settings.max_message_bytes, settings.http_max_body_bytes)
    channel = grpc.aio.insecure_channel(
        grpc_target,
        options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)],
    )
    app = build_app(routes_of(services), channel, settings.http_max_body_bytes, ready)
    # On shutdown, requests in flight get the same grace as gRPC calls.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host or None, settings.http_port)
    await site.start()
    return HttpServer(runner, channel, _bound_port(runner))


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("HTTP server bound no socket")


def build_app(routes: list[Route], channel: grpc.aio.Channel, max_body_bytes: int, ready: Readiness) -> web.Application:
    # One byte over the limit so aiohttp's own check never fires before ours.
    app = web.Application(client_max_size=max_body_bytes + 1)
    document = openapi_document(routes)
    calls = {route.grpc_path: _unary_call(channel, route) for route in routes}

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await ready()
        except OpenSpannerError as error:
            return _error_response(http_status_of(error), rich_status(error))
        return web.json_response({"status": "ok"})

    async def transcode(request: web.Request) -> web.Response:
        try:
            route, path_params = _find_route(routes, request.method, request.path)
            body = await _read_body(request, route, max_body_bytes)
            message_in = bind(route, path_params, _query(request), body, request.headers)
            metadata = tuple(
                (name, request.headers[name]) for name in _FORWARDED_HEADERS if name in request.headers
            )
            reply = await calls[route.grpc_path](message_in, metadata=metadata)
        except OpenSpannerError as error:
            return _error_response(http_status_of(error), rich_status(error))
        except grpc.aio.AioRpcError as rpc_error:
            return _rpc_error_response(rpc_error)
        except Exception:
            # As in services/_rpc.py: logged here, never a traceback on the wire.
            log.exception("unhandled error in http transcoder", path=request.path)
            internal = status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message="internal error")
            return _error_response(http_status(grpc.StatusCode.INTERNAL), internal)
        return web.json_response(_to_json(reply))

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_route("*", "/{tail:.*}", transcode)
    return app


def _unary_call(channel: grpc.aio.Channel, route: Route) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        route.grpc_path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=route.response_class.FromString,
    )


def _find_route(routes: list[Route], verb: str, path: str) -> tuple[Route, dict[str, str]]:
    path_exists = False
    for route in routes:
        params = route.match(path)
        if params is None:
            continue
        if route.verb == verb:
            return route, params
        path_exists = True
    if path_exists:
        raise MethodNotAllowed(f"{verb} is not allowed on {path}")
    raise NotFound(f"no route for {verb} {path}; see /openapi.json")


async def _read_body(request: web.Request, route: Route, limit: int) -> Any:
    if not route.body:
        return {}
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLarge(f"request body is over {limit} bytes", field="body")
    if request.can_read_body and request.content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"content type must be application/json, got {request.content_type!r}", field="body"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(f"request body is over {limit} bytes", field="body") from None
    return parse_body(raw)


def _query(request: web.Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in request.query.items():
        query.setdefault(name, []).append(value)
    return query


def _to_json(reply: message.Message) -> Any:
    return json_format.MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _rpc_error_response(rpc_error: grpc.aio.AioRpcError) -> web.Response:
    """The gRPC status as HTTP, with the field from the rich-status trailer if sent."""
    status = status_pb2.Status(code=rpc_error.code().value[0], message=rpc_error.details() or "")
    for key, value in rpc_error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status.ParseFromString(value)
    return _error_response(http_status(rpc_error.code()), status)


def _error_response(http_code: int, status: status_pb2.Status) -> web.Response:
    """Body {"code", "status", "message", "details"}: google.rpc.Status in JSON, HTTP code first."""
    code = next(c for c in grpc.StatusCode if c.value[0] == status.code)
    body = {
        "code": http_code,
        "status": code.name,
        "message": status.message,
        "details": [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in status.details],
    }
    return web.Response(status=http_code, text=json.dumps(body), content_type="application/json")


async def storage_ready(check: Callable[[], Awaitable[object]]) -> None:
    """Readiness as an OpenSpannerError, so /readyz answers like every other error."""
    try:
        await check()
    except OpenSpannerError:
        raise
    except Exception as exc:
        raise Unavailable(f"storage is not reachable: {type(exc).__name__}") from None

