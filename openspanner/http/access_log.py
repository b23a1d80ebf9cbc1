"""The HTTP half of the access log (openspanner/access_log.py): one line per request, and its counts.

A pure ASGI middleware around the whole app, so every answer is seen: the
routes', the dashboard's files, refusals of the key check and of the body
limit, and 500s. A line names the route's template (`/v1/meters/{id}`),
also the label of openspanner_requests, so client paths never become
label values; the path as sent is in the line too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openspanner.access_log import count_call, duration_ms, identifying, log
from openspanner.metrics import Metrics

# Logged at debug: load balancers and Prometheus ask them every few seconds.
QUIET_PATHS = frozenset({"/health", "/ready", "/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route name of a path of pages served beside the API (app.Pages.route_of).
PagesRoute = Callable[[str], str | None]


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics, pages_route: PagesRoute | None = None) -> None:
        self.app = app
        self._metrics = metrics
        self._pages_route = pages_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # unless an answer starts: the app raised

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with identifying() as caller:
            try:
                await self.app(scope, receive, noting_status)
            finally:
                self._record(scope, status, started, caller.key_id)

    def _record(self, scope: Scope, status: int, started: float, key_id: str | None) -> None:
        elapsed = duration_ms(started)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_of(scope, self._pages_route)
        fields = {
            "method": method, "route": route, "path": scope["path"], "status": status,
            "duration_ms": elapsed, "key_id": key_id, "client": _client(scope),
        }
        if scope["path"] in QUIET_PATHS:
            log.debug("http request", **fields)
        else:
            log.info("http request", **fields)
        count_call(self._metrics, "http", f"{method} {route}", str(status), elapsed, timed=True)


def route_of(scope: Scope, pages_route: PagesRoute | None = None) -> str:
    """The template of the route that answered, the pages' bounded name of one of their
    files (the dashboard's, served by a mount no route names), else `unmatched`."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    named = pages_route(scope["path"]) if pages_route is not None else None
    return named or "unmatched"


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
