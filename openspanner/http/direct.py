"""The busiest routes answered without FastAPI's per-request machinery, for the requests that need none of it.

Route matching, the dependency solver, request and response validation
through FastAPI, and the exception middleware cost several times what the
handler of `POST /v1/usages` does itself. A DirectRoute serves one method and
path: it gets the body already read, and either answers (with the handler,
models and key check of the resource's own route) or returns None, and the
request, body included, goes on to FastAPI unchanged. So it answers only
requests it can answer exactly as the route would; anything else (a query
string, another content type, a body the route's model refuses) is FastAPI's,
and so are its errors. The route itself stays declared as before, for the
OpenAPI document and those requests.

Errors our handlers raise are rendered by problems.py, as the route's
exception handler would; an unexpected exception propagates to Starlette's
outermost handler, which answers 500 and logs it as for any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openspanner.auth import authorize
from openspanner.errors import OpenSpannerError
from openspanner.http.context import Services
from openspanner.http.json_body import parse_body
from openspanner.http.problems import error_response

Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class DirectRequest:
    body: bytes
    # The first `authorization` header, as Starlette's request.headers.get reads it.
    authorization: str | None


# The answer, or None to hand the request to FastAPI.
DirectHandler = Callable[[DirectRequest, Services], Awaitable[Response | None]]


@dataclass(frozen=True)
class DirectRoute:
    method: str
    path: str
    # The route FastAPI serves the same requests with: named in the scope, for the access log.
    route: BaseRoute
    handler: DirectHandler


def direct_route(
    router: APIRouter, path: str, model: type[Body], grpc_method: str,
    handle: Callable[[Body, Services], Awaitable[Response]],
) -> DirectRoute:
    """The POST route `path` of `router` (its full path) answered directly for a body `model`
    takes: the same body check, key check (under `grpc_method`) and handler as the route, in its
    order (a body that is no JSON is refused before the key is asked for). A body the model
    refuses goes on to FastAPI, whose answer it stays."""

    async def direct(request: DirectRequest, services: Services) -> Response | None:
        try:
            body = model.model_validate(parse_body(request.body))
        except (ValueError, ValidationError, OpenSpannerError):  # json's JSONDecodeError is a ValueError
            return None
        await authorize(services.keys, grpc_method, request.authorization)
        return await handle(body, services)

    route = next(r for r in router.routes if getattr(r, "path", "") == path)
    return DirectRoute("POST", path, route, direct)


class DirectRoutes:
    """ASGI middleware: requests of a DirectRoute with a JSON body and no query string go to its handler first."""

    def __init__(self, app: ASGIApp, routes: list[DirectRoute], services: Services) -> None:
        self.app = app
        self._routes = {(route.method, route.path): route for route in routes}
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self._routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if direct is None or scope.get("query_string") or not _json_content(scope):
            await self.app(scope, receive, send)
            return
        body, cut_short = await _read_body(receive)
        if cut_short is not None:  # a disconnect, or the body limit: FastAPI answers those
            await self.app(scope, _replaying(body, cut_short, receive), send)
            return
        try:
            response = await direct.handler(DirectRequest(body, _header(scope, b"authorization")), self._services)
        except OpenSpannerError as error:
            response = error_response(error)
        if response is None:
            await self.app(scope, _replaying(body, None, receive), send)
            return
        scope["route"] = direct.route
        await response(scope, receive, send)


def _json_content(scope: Scope) -> bool:
    """The content type FastAPI reads as JSON in every case: exactly `application/json`."""
    return _header(scope, b"content-type") == "application/json"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# What ended a body before its last part: a message (a disconnect), or what receiving raised
# (the body limit's refusal, BodyLimit in app.py).
CutShort = Message | Exception


async def _read_body(receive: Receive) -> tuple[bytes, CutShort | None]:
    """The whole body, or what came of it and what cut it short."""
    chunks: list[bytes] = []
    while True:
        try:
            message = await receive()
        except Exception as error:  # raised again where FastAPI's route reads the body
            return b"".join(chunks), error
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replaying(body: bytes, cut_short: CutShort | None, receive: Receive) -> Receive:
    """A receive that gives the body read already, then what cut it short, then the client's messages."""
    pending: list[Message | Exception] = [{"type": "http.request", "body": body, "more_body": cut_short is not None}]
    if cut_short is not None:
        pending.append(cut_short)

    async def replay() -> Message:
        if not pending:
            return await receive()
        message = pending.pop(0)
        if isinstance(message, Exception):
            raise message
        return message

    return replay
