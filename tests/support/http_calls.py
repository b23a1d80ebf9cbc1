"""Plain HTTP calls to a server, as any client makes them: status, headers and body, errors included."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.harness import ADMIN_KEY, ServerProcess


def request(
    server: ServerProcess | str,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = ADMIN_KEY,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and raw body of one request."""
    base = server if isinstance(server, str) else server.base_url
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    message = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        message.add_header("Content-Type", "application/json")
    if key:
        message.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        message.add_header(name, value)
    try:
        with urllib.request.urlopen(message, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def http(
    server: ServerProcess | str,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = ADMIN_KEY,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """Status and JSON body (None when empty)."""
    code, _, content = request(server, method, path, body, key, headers, raw)
    return code, json.loads(content) if content else None
