"""Serving the dashboard from the REST API's app: `/` is index.html, `/dashboard/...` the rest.

The server hands DASHBOARD to the REST app (http/app.Pages), so neither
package imports the other.

The pages talk only to this same origin's API with the key the user signs in
with, so static serving is all the server does for them; routes are hash URLs
(`/#/meters`), which never reach the server. Everything else stays the API's:
an unknown path, `/dashboard/...` included, still answers the JSON error body.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openspanner.dashboard.files import STATIC_DIR

PREFIX = "/dashboard"

# The pages run only their own files: no inline script or style, no other
# origin, no framing, no plugins. Data from storage (subjects, dimension
# values) is inserted as text by the pages, and this policy is the second
# line should a page ever get that wrong.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # Revalidate on every load (cheap: StaticFiles answers 304 to a matching ETag), so a
    # browser never runs a page of one version against the API of the next.
    "cache-control": "no-cache",
}


def mount_dashboard(app: FastAPI) -> None:
    """Add `/` and `/dashboard/...` to the app, with the security headers on their answers."""
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def dashboard_index() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8")

    app.mount(PREFIX, StaticFiles(directory=STATIC_DIR), name="dashboard")
    app.add_middleware(DashboardHeaders)


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


class Dashboard:
    """The dashboard as pages of the REST app (http/app.Pages)."""

    def mount(self, app: FastAPI) -> None:
        mount_dashboard(app)

    def route_of(self, path: str) -> str | None:
        """One name for all of its files, so client paths never become metric labels."""
        return f"{PREFIX}/{{file}}" if is_dashboard_path(path) else None


DASHBOARD = Dashboard()


class DashboardHeaders:
    """Adds SECURITY_HEADERS to every answer on a dashboard path (API answers are left as they are)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_dashboard_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers.extend((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
