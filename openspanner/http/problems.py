"""Every REST error answer, rendered in one place: `{"error": {"code", "message"}}`.

Handlers raise our typed errors (openspanner/http/errors.py decides status
and code); request validation errors of FastAPI, unknown routes and unexpected
exceptions are turned into the same body here, so a client of the product's
contract can read every error this API sends. The field that was refused is
kept in the message and added as `error.field`; a retry delay becomes
`Retry-After` as well as `error.retry_after_seconds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from openspanner.errors import (
    InvalidArgument,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    OpenSpannerError,
    RequestTooLarge,
    UnsupportedMediaType,
)
from openspanner.http.errors import INTERNAL_REST_ERROR, rest_error
from openspanner.logging import get_logger

log = get_logger(__name__)


class ErrorBody(BaseModel):
    code: str = Field(description="invalid_input, invalid_json, invalid_<param>, unauthorized, forbidden, "
                      "not_found, conflict, idempotency_key_reused, rate_limited, payload_too_large, unavailable, "
                      "internal_error")
    message: str = Field(description="What is wrong, naming the request field.")
    field: str | None = Field(None, description="The request field that was refused, when one was.")
    retry_after_seconds: float | None = Field(None, description="When to retry (429 and 503); also Retry-After.")


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_content(error: OpenSpannerError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers of the answer to an error."""
    status, code, message = rest_error(error)
    body: dict[str, Any] = {"code": code, "message": message}
    headers = {}
    if error.field:
        body["field"] = error.field
    if error.retry_after_seconds is not None:
        body["retry_after_seconds"] = error.retry_after_seconds
        # Whole seconds rounded up: the header has no fractions, and early retries only fail again.
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_seconds)))
    if isinstance(error, MethodNotAllowed) and error.allow:
        headers["Allow"] = error.allow
    return status, {"error": body}, headers


def error_response(
    error: OpenSpannerError, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error's answer; `extra`: more fields of the body, `headers`: more headers."""
    status, body, own_headers = error_content(error)
    return JSONResponse({**(extra or {}), **body}, status_code=status, headers={**(headers or {}), **own_headers})


def install_error_handlers(app: FastAPI) -> None:
    """The one mechanism by which anything a handler raises becomes an answer."""

    async def on_our_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, OpenSpannerError)
        return error_response(error)

    async def on_invalid_request(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(_validation_error(error.errors()))

    async def on_http_exception(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return error_response(_http_error(request, error))

    async def on_unexpected(request: Request, _: Exception) -> JSONResponse:
        # Logged here with its traceback; never a traceback on the wire.
        log.exception("unhandled error in http handler", path=request.url.path, method=request.method)
        status, code, message = INTERNAL_REST_ERROR
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    app.add_exception_handler(OpenSpannerError, on_our_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)


def _http_error(request: Request, error: HTTPException) -> OpenSpannerError:
    """Starlette's own refusals (no route, wrong method, body too large) as our errors."""
    if isinstance(error.__cause__, OpenSpannerError):
        # FastAPI's 400 for a body it could not read, raised from our own refusal (json_body.py).
        return error.__cause__
    if error.status_code == 404:
        return NotFound(f"no route for {request.method} {request.url.path}; see /openapi.json")
    if error.status_code == 405:
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}", allow=_allowed(request))
    if error.status_code == 413:
        return RequestTooLarge(str(error.detail), field="body")
    return InvalidArgument(str(error.detail), field="body")


# The methods a 405's Allow may name.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed(request: Request) -> str:
    """Every method some route serves on the path (Starlette's own 405 names only the
    methods of the first route matching it): API routes, those left out of the OpenAPI
    document, and the dashboard's static files (GET and HEAD)."""
    methods: set[str] = set()
    # Matched from the app's root: inside the dashboard's mount, the scope is the mount's.
    scope = {**request.scope, "root_path": request.scope.get("app_root_path", request.scope.get("root_path", ""))}
    for route in request.app.router.routes:
        if isinstance(route, Mount):
            if route.matches(scope)[0] is not Match.NONE:
                methods.update(("GET", "HEAD"))
            continue
        methods.update(m for m in _METHODS if route.matches({**scope, "method": m})[0] is Match.FULL)
    return ", ".join(sorted(methods))


def _validation_error(errors: Sequence[Any]) -> InvalidArgument:
    """The first problem pydantic found, naming the field as our messages do: `dimensions[0].type`."""
    first = errors[0]
    where, path = first["loc"][0], first["loc"][1:]
    if first["type"] == "json_invalid":
        return InvalidJson(f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}", field="body")
    if tuple(first["loc"]) == ("body",) and isinstance(first.get("input"), bytes):
        # FastAPI hands over the raw bytes of a body not declared as JSON.
        return UnsupportedMediaType("send the body as JSON, with Content-Type: application/json", field="body")
    field = field_path(path) or ("body" if where == "body" else str(where))
    message = str(first["msg"])
    if first["type"] == "extra_forbidden":
        message = "is not a field of this request"
    elif first["type"] == "missing":
        message = "is required"
    return InvalidArgument(message[:1].lower() + message[1:], field=field)


def field_path(path: Sequence[Any]) -> str:
    """("dimensions", 0, "type") -> "dimensions[0].type"; a leading index of a bare array -> "[3].quantity"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
