"""The gRPC half of the access log (openspanner/access_log.py): an interceptor logging and counting every call.

Placed before the key check, so refusals are logged too; the key id reaches
the line through the neutral `identifying`/`note_key`, as over HTTP.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from openspanner.access_log import Caller, count_call, duration_ms, identifying, log
from openspanner.grpc.handlers import behavior_of, handler_like
from openspanner.metrics import Metrics

# gRPC methods logged at debug: load balancers call them all the time.
QUIET_GRPC_PREFIXES = ("/grpc.health.v1.Health/",)


class AccessLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Logs and counts every gRPC call; placed before AuthInterceptor, so refusals are logged too."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        started = time.monotonic()
        with identifying() as caller:
            handler = await continuation(details)
        if handler is None:  # no such method: grpc answers UNIMPLEMENTED itself
            return handler
        return _logged_handler(handler, _GrpcCall(details.method, caller, started, handler, self._metrics))


@dataclass
class _GrpcCall:
    method: str
    caller: Caller
    started: float
    handler: grpc.RpcMethodHandler
    metrics: Metrics

    @property
    def streaming(self) -> bool:
        return bool(self.handler.request_streaming or self.handler.response_streaming)

    def begin(self, context: grpc.aio.ServicerContext) -> None:
        if self.streaming:
            self._log("grpc stream started", method=self.method, key_id=self.caller.key_id, peer=context.peer())

    def end(self, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        """Log and count the call; a stream's once the RPC has terminated.

        A client that cancels a stream may end its requests before the handler
        sees a CancelledError (grpc reads a cancelled read as the end of the
        requests): the handler then returns, and grpc learns of the
        cancellation a moment later. Read when the RPC is done, the status is
        the one the call really ended with.
        """
        if self.streaming and not context.done():
            context.add_done_callback(lambda done: self._end(done, error))
        else:
            self._end(context, error)

    def _end(self, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        status = _status(context, error)
        elapsed = duration_ms(self.started)
        self._log(
            "grpc stream ended" if self.streaming else "grpc call",
            method=self.method, status=status, duration_ms=elapsed, key_id=self.caller.key_id, peer=context.peer(),
        )
        count_call(self.metrics, "grpc", self.method, status, elapsed, timed=not self.streaming)

    def _log(self, event: str, **fields: Any) -> None:
        if self.method.startswith(QUIET_GRPC_PREFIXES):
            log.debug(event, **fields)
        else:
            log.info(event, **fields)


def _status(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status the call ends with: set by `abort` for our errors, OK for an answer,
    CANCELLED when the client cancelled it, even if the handler returned first."""
    code = context.code()
    if isinstance(error, asyncio.CancelledError | GeneratorExit) or context.cancelled():
        code = grpc.StatusCode.CANCELLED
    elif not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN
    return str(code.name)


def _logged_handler(handler: grpc.RpcMethodHandler, call: _GrpcCall) -> Any:
    """`handler`, its behavior wrapped to log and count the call (an async generator stays one)."""
    behavior = behavior_of(handler)

    async def logged(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call.begin(context)
        try:
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as error:
            call.end(context, error)
            raise
        call.end(context, None)
        return result

    async def logged_responses(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call.begin(context)
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as error:
            call.end(context, error)
            raise
        call.end(context, None)

    return handler_like(handler, logged_responses if inspect.isasyncgenfunction(behavior) else logged)
