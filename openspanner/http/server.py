"""The HTTP/JSON API: one generic transcoder in front of the gRPC servicers.

Each HTTP request is bound to its RPC's request message and handed, in this
process, to the servicer method gRPC calls (http/dispatch.py), behind the
same key check (auth.authorize) and the same error mapping (`@rpc`): there is
no second implementation of an endpoint, and no gRPC hop to pay for.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format, message
from google.rpc import error_details_pb2, status_pb2

from openspanner.config import Settings
from openspanner.errors import (
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
from openspanner.http.dispatch import Authorize, CallAborted, Dispatcher, Servicers
from openspanner.http.openapi import openapi_document
from openspanner.http.routes import Route, routes_of
from openspanner.logging import get_logger

log = get_logger(__name__)

# error_details_pb2 also puts BadRequest and RetryInfo in the default pool,
# through which json_format resolves the `@type` of a status detail.
_JSON_TYPES = ("application/json",)
_NANOS_PER_SECOND = 1_000_000_000

Readiness = Callable[[], Awaitable[None]]


@dataclass
class HttpServer:
    """A running HTTP listener; `stop` closes it once its requests in flight are answered."""

    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_http(settings: Settings, servicers: Servicers, authorize: Authorize, ready: Readiness) -> HttpServer:
    """Serve the annotated RPCs of the services in `servicers` by calling their servicers,
    each call let through by `authorize` as the gRPC interceptor lets it through."""
    routes = routes_of(servicers.keys())
    app = build_app(routes, Dispatcher(routes, servicers, authorize), settings.http_max_body_bytes, ready)
    # On shutdown, requests in flight get the same grace as gRPC calls.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host or None, settings.http_port)
    await site.start()
    return HttpServer(runner, _bound_port(runner))


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("HTTP server bound no socket")


def build_app(routes: list[Route], dispatcher: Dispatcher, max_body_bytes: int, ready: Readiness) -> web.Application:
    # One byte over the limit so aiohttp's own check never fires before ours.
    app = web.Application(client_max_size=max_body_bytes + 1)
    document = openapi_document(routes)

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
            # The key is checked once the request is bound, so a malformed
            # request is told what is wrong with it whatever key it carries.
            reply = await dispatcher.call(route, message_in, request.headers.get("Authorization"))
        except OpenSpannerError as error:
            return _error_response(http_status_of(error), rich_status(error))
        except CallAborted as aborted:
            return _error_response(http_status(aborted.code), aborted.status())
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


def _error_response(http_code: int, status: status_pb2.Status) -> web.Response:
    """Body {"code", "status", "message", "details"}: google.rpc.Status in JSON, HTTP code first;
    a RetryInfo detail also becomes Retry-After, which HTTP clients and proxies act on."""
    code = next(c for c in grpc.StatusCode if c.value[0] == status.code)
    body = {
        "code": http_code,
        "status": code.name,
        "message": status.message,
        "details": [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in status.details],
    }
    return web.Response(
        status=http_code, text=json.dumps(body), content_type="application/json", headers=_retry_after(status)
    )


def _retry_after(status: status_pb2.Status) -> dict[str, str]:
    """Retry-After from the first RetryInfo detail, in whole seconds rounded up
    (the header has no fractions, and early retries only fail again), at least 1."""
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            seconds = -(-info.retry_delay.ToNanoseconds() // _NANOS_PER_SECOND)
            return {"Retry-After": str(max(1, seconds))}
    return {}


async def storage_ready(check: Callable[[], Awaitable[object]]) -> None:
    """Readiness as an OpenSpannerError, so /readyz answers like every other error."""
    try:
        await check()
    except OpenSpannerError:
        raise
    except Exception as exc:
        raise Unavailable(f"storage is not reachable: {type(exc).__name__}") from None

