"""One HTTP attempt: POST the frozen body, bounded in time and in what is read back.

aiohttp is the client. Its connector asks `_CheckedResolver` for the
addresses of a host name, and connects only to what that returned, after
every address was checked (targets.py): the look-up that is checked is the
one connected to. Literal addresses never reach a resolver and are checked
before the request. Redirects are not followed (a 3xx is a failed attempt:
following one would go where no check was made), proxies from the
environment are ignored, and the response is never decompressed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from openspanner.errors import InvalidArgument
from openspanner.webhooks.targets import ForbiddenTarget, check_addresses, check_url, literal_address, resolve

USER_AGENT = "open-spanner-webhooks"
# What is read of a response: enough for an error message, never a large body.
MAX_RESPONSE_PREFIX_BYTES = 1024
MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class SendResult:
    status_code: int
    # Empty when delivered.
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return 200 <= self.status_code < 300 and not self.error


class _CheckedResolver(AbstractResolver):
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve(host, port)
        if not self._allow_private:
            check_addresses(host, addresses)
        return [
            ResolveResult(
                hostname=host, host=str(address), port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class WebhookSender:
    """POSTs with a bounded number of connections, each attempt within `timeout_seconds` overall."""

    def __init__(self, timeout_seconds: float, allow_private: bool, max_connections: int) -> None:
        self._timeout_seconds = timeout_seconds
        self._allow_private = allow_private
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_CheckedResolver(self._allow_private), use_dns_cache=False, limit=self._max_connections,
                # A connection is never reused: each attempt resolves and checks its host again.
                force_close=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout_seconds),
                auto_decompress=False, trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            )
        return self._session

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        began = time.monotonic()
        try:
            self._check_target(url)
            status, prefix = await asyncio.wait_for(self._post(url, headers, body), self._timeout_seconds)
        except (ForbiddenTarget, InvalidArgument) as exc:
            return SendResult(0, _short(str(exc)), _ms_since(began))
        except TimeoutError:
            return SendResult(0, f"timed out after {self._timeout_seconds:g} s", _ms_since(began))
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            reason = str(cause) if isinstance(cause, ForbiddenTarget) else f"cannot connect: {cause or exc}"
            return SendResult(0, _short(reason), _ms_since(began))
        except (aiohttp.ClientError, OSError) as exc:
            return SendResult(0, _short(f"{type(exc).__name__}: {exc}"), _ms_since(began))
        duration = _ms_since(began)
        if 200 <= status < 300:
            return SendResult(status, "", duration)
        detail = prefix.decode("utf-8", errors="replace").strip()
        message = f"webhook returned status {status}" + (f": {detail}" if detail else "")
        return SendResult(status, _short(message), duration)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        request_headers = {**headers, "Content-Type": "application/json"}
        async with self._client().post(url, data=body, headers=request_headers, allow_redirects=False) as response:
            try:
                prefix = await response.content.read(MAX_RESPONSE_PREFIX_BYTES)
            finally:
                # The rest of a large body is never read: the connection is closed instead.
                response.close()
            return response.status, prefix

    def _check_target(self, url: str) -> None:
        """The URL's form and, for a literal address, the address (names are checked by the resolver)."""
        check_url(url, self._allow_private)
        host = urlsplit(url).hostname or ""
        address = literal_address(host)
        if address is not None and not self._allow_private:
            check_addresses(host, [address])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _ms_since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
