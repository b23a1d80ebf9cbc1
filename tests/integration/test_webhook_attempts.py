"""One attempt against receivers that misbehave: each is bounded by the timeout and by what is
read back, and a name resolving to an internal address is never connected to."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable

import pytest

from openspanner.webhooks import sender as sender_module
from openspanner.webhooks.sender import MAX_RESPONSE_PREFIX_BYTES, SendResult, WebhookSender
from openspanner.webhooks.targets import IpAddress

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def post_to(
    handler: Handler, allow_private: bool = True, host: str = "127.0.0.1", timeout: float = 2.0
) -> tuple[SendResult, int]:
    """Serve `handler` on a loopback port and make one attempt to it; (result, connections made)."""
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = WebhookSender(timeout, allow_private, max_connections=4)
    try:
        result = await sender.post(f"http://{host}:{port}/hook", {"webhook-id": "j1"}, b'{"a":1}')
    finally:
        await sender.close()
        server.close()
    return result, connections


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return await reader.readexactly(length)


def test_a_2xx_is_delivered() -> None:
    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await read_request(reader) == b'{"a":1}'
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    result, _ = asyncio.run(post_to(ok))
    assert (result.delivered, result.status_code, result.error) == (True, 202, "")


def test_a_receiver_that_hangs_costs_one_timeout() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(60)

    result, _ = asyncio.run(post_to(hang, timeout=0.5))
    assert not result.delivered
    assert result.error == "timed out after 0.5 s"


def test_a_huge_answer_is_read_only_as_far_as_its_first_bytes() -> None:
    sent = 0

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\ncontent-length: 1000000000\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(16384):  # 1 GB if the sender read it all
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except (ConnectionError, OSError):
            pass

    result, _ = asyncio.run(post_to(huge))
    assert result.status_code == 500
    assert result.error.startswith("webhook returned status 500: xxx")
    assert len(result.error) <= 300
    # The sender closed the connection after its prefix: far less than the body was ever written.
    assert sent < 64 * 1024 * 1024
    assert MAX_RESPONSE_PREFIX_BYTES <= 4096


def test_a_redirect_is_not_followed() -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/\r\n")
        writer.write(b"content-length: 0\r\n\r\n")
        await writer.drain()

    result, connections = asyncio.run(post_to(redirect))
    assert (result.delivered, result.status_code, connections) == (False, 307, 1)


def test_a_name_that_resolves_to_an_internal_address_at_the_attempt_is_never_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name passed when it was saved; now it answers loopback."""

    async def rebound(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(sender_module, "resolve", rebound)

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("connected")

    result, connections = asyncio.run(post_to(never, allow_private=False, host="hooks.example.com"))
    assert connections == 0
    assert "hooks.example.com resolves to a loopback address (127.0.0.1)" in result.error


def test_a_literal_internal_address_is_refused_at_the_attempt_too() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("connected")

    result, connections = asyncio.run(post_to(never, allow_private=False))
    assert connections == 0
    assert "loopback" in result.error
