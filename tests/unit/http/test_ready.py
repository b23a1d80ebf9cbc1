"""/ready on the HTTP app in this process, with a storage check that fails as storage would."""

from __future__ import annotations

import asyncio
import json

import pytest

from openspanner.config import Settings
from openspanner.errors import Unavailable
from openspanner.http.app import start_http
from openspanner.http.context import Services
from openspanner.server import storage_ready
from tests.support.http_calls import request


@pytest.mark.parametrize(
    "failure",
    [Unavailable("storage is unavailable, retry later"), ConnectionRefusedError(111, "Connection refused")],
)
def test_readiness_answers_503_naming_storage_when_storage_is_unreachable(failure: Exception) -> None:
    """What /ready answers when the server's `SELECT 1` fails: the typed error the
    storage layer raises for an unreachable ClickHouse, or any other exception."""

    async def failing_check() -> None:
        raise failure

    async def ask() -> tuple[int, dict[str, str], bytes]:
        services = Services(
            None, None, None, None, lambda: storage_ready(failing_check)  # type: ignore[arg-type]
        )
        served = await start_http(Settings(http_host="127.0.0.1", http_port=0), services)
        try:
            return await asyncio.to_thread(request, f"http://127.0.0.1:{served.port}", "GET", "/ready", key=None)
        finally:
            await served.stop()

    code, headers, content = asyncio.run(ask())
    body = json.loads(content)
    assert (code, body["error"]["code"]) == (503, "unavailable")
    assert "storage" in body["error"]["message"] and int(headers["retry-after"]) >= 1
