"""The one place where exceptions become gRPC statuses.

Every servicer method is wrapped with `@rpc`: our typed errors are sent with
their status code and message (and the field as a google.rpc.BadRequest in
the standard `grpc-status-details-bin` trailer); anything else is logged with its traceback
and sent as a bare INTERNAL, so internals never reach a client.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from openspanner.errors import OpenSpannerError
from openspanner.grpc.handlers import abort
from openspanner.logging import get_logger

log = get_logger(__name__)

R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def rpc(method: Handler[R]) -> Handler[R]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except OpenSpannerError as error:
            await abort(context, error)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in rpc", method=method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        raise AssertionError("unreachable: context.abort raises")

    return wrapper
