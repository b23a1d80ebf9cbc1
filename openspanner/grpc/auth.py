"""The interceptor that lets a gRPC call through only with a key allowed to call its method.

The decision is auth.authorize's, shared with the REST API; this module only
reads the `authorization` metadata, answers a refusal as `@rpc` would, and
re-checks the key of a long-lived stream as its messages arrive.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from openspanner.auth import ApiKeys, authorize
from openspanner.errors import OpenSpannerError
from openspanner.grpc.handlers import abort, behavior_of, handler_like


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Lets a call through only with a key whose scope covers the method.

    A stream's key is checked again as its messages arrive, at most every
    `recheck_seconds` (the key cache's refresh interval), so a key revoked
    while one of its streams is open stops that stream within the interval
    instead of when the connection is next recycled.
    """

    def __init__(self, keys: ApiKeys, recheck_seconds: float) -> None:
        self._keys = keys
        self._recheck_seconds = recheck_seconds

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        authorization = next(
            (value for key, value in details.invocation_metadata or () if key == "authorization"),
            None,
        )
        check = functools.partial(authorize, self._keys, details.method, authorization)
        try:
            scope = await check()
        except OpenSpannerError as error:
            return _refusing_handler(handler, error)
        if scope is None or not handler.request_streaming:
            return handler
        return _rechecking_handler(handler, check, self._recheck_seconds)


def _rechecking_handler(
    handler: grpc.RpcMethodHandler, check: Callable[[], Awaitable[object]], every_seconds: float
) -> Any:
    """`handler` reading its requests through `_rechecked`: the servicer's next read raises
    Unauthenticated or PermissionDenied once the key no longer lets the call through,
    which its `@rpc` answers like any refusal (after the acks already due)."""
    behavior = behavior_of(handler)

    async def rechecking(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await behavior(_rechecked(requests, check, every_seconds), context)

    return handler_like(handler, rechecking)


async def _rechecked(
    requests: AsyncIterator[Any], check: Callable[[], Awaitable[object]], every_seconds: float
) -> AsyncIterator[Any]:
    checked_at = time.monotonic()
    async for request in requests:
        if time.monotonic() - checked_at >= every_seconds:
            await check()
            checked_at = time.monotonic()
        yield request


def _refusing_handler(handler: grpc.RpcMethodHandler, error: OpenSpannerError) -> Any:
    """A handler of the same kind as `handler` that only aborts with `error`, as `@rpc` would."""

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        await abort(context, error)

    return handler_like(handler, refuse)
