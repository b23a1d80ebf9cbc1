"""What the server's interceptors share: a handler rebuilt around new behavior, and a refusal.

Each interceptor (access log, key check, decode guard) wraps a method's
behavior and must hand grpc back a handler of the same kind (unary or
streaming requests and responses) with the same (de)serializers; and every
refusal is sent the way `@rpc` sends one, with its rich-status trailer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from openspanner.errors import OpenSpannerError
from openspanner.grpc.status import grpc_status, status_trailer

_FACTORY_OF_KIND = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream  # type: ignore[no-any-return]


def handler_like(
    handler: grpc.RpcMethodHandler,
    behavior: Callable[..., Any],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Any:
    """A handler of `handler`'s kind running `behavior`, with its serializers (or this deserializer)."""
    make = _FACTORY_OF_KIND[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


async def abort(
    context: grpc.aio.ServicerContext, error: OpenSpannerError, details: Sequence[Message] = ()
) -> NoReturn:
    """End the call with `error`: its status, message and google.rpc details (and `details`, packed)."""
    await context.abort(grpc_status(error), str(error), trailing_metadata=status_trailer(error, details))
    raise AssertionError("unreachable: context.abort raises")
