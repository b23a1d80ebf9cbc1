"""Requests whose bytes are not the method's message: INVALID_ARGUMENT naming the field, not UNKNOWN.

grpc.aio deserializes a request before any servicer runs, and answers a
deserializer's exception with UNKNOWN and the exception's text ("Unexpected
<class 'DecodeError'>: ..."). A client can send any bytes, among them a
google.protobuf.Struct nested past protobuf's limit of 100 levels, so this
interceptor gives every handler a deserializer that cannot fail: bytes that
do not parse become an `Undecodable`, and the handler answers it with
INVALID_ARGUMENT, naming the field whose bytes are broken where it can be
found (`metadata`, `events[3].metadata`) in a google.rpc.BadRequest, as
`@rpc` sends every refusal.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import descriptor, message, message_factory

from openspanner.errors import InvalidArgument, OpenSpannerError
from openspanner.grpc.handlers import abort, behavior_of, handler_like

# Levels of our own messages searched for the broken field; google.protobuf's
# types (Struct, Value, Timestamp) are named as a whole.
_MAX_SEARCH_DEPTH = 8
_LENGTH_DELIMITED = 2


class Undecodable:
    """What the deserializer returns for bytes that are not the message."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error


class DecodeGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _guarded_handler(handler)


def _guarded_handler(handler: grpc.RpcMethodHandler) -> Any:
    wrap = _streaming if handler.request_streaming else _unary
    return handler_like(handler, wrap(behavior_of(handler)), _guarded(handler.request_deserializer))


def _guarded(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    message_class = getattr(deserializer, "__self__", None)
    name = getattr(getattr(message_class, "DESCRIPTOR", None), "full_name", "request")

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:
            field = _broken_field(message_class, data, "") if message_class is not None else ""
            return Undecodable(_explained(name, field, error))

    return deserialize


def _explained(name: str, field: str, error: Exception) -> InvalidArgument:
    reason = "nested deeper than protobuf's 100 levels" if "MaxDepth" in str(error) else "its bytes are malformed"
    if field:
        return InvalidArgument(f"cannot be decoded: {reason}", field=field)
    return InvalidArgument(f"the request is not a valid {name}: {reason}")


def _unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def unary_generator(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, Undecodable):
                await abort(context, request.error)
            async for response in behavior(request, context):
                yield response

        return unary_generator

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await abort(context, request.error)
        return await behavior(request, context)

    return unary


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The requests, up to one that did not decode: its error is raised to the servicer's read,
    which `@rpc` answers like any refusal (after the acks already due)."""
    async for request in requests:
        if isinstance(request, Undecodable):
            raise request.error
        yield request


def _streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
    # Servicers without `@rpc` (health, reflection) let the error through: answered here.
    if inspect.isasyncgenfunction(behavior):

        async def streaming_generator(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            try:
                async for response in behavior(_decoded(requests), context):
                    yield response
            except OpenSpannerError as error:
                await abort(context, error)

        return streaming_generator

    async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(_decoded(requests), context)
        except OpenSpannerError as error:
            await abort(context, error)

    return streaming


def _broken_field(message_class: Any, data: bytes, prefix: str, depth: int = 0) -> str:
    """The path of the first field of `data` that does not parse, or `prefix` when the
    message's own framing is broken (or the fault is in no field this search reaches)."""
    fields = message_class.DESCRIPTOR.fields_by_number
    seen: dict[int, int] = {}
    try:
        for number, wire_type, value in _wire_fields(data):
            field = fields.get(number)
            if field is None or wire_type != _LENGTH_DELIMITED:
                continue
            index = seen[number] = seen.get(number, -1) + 1
            name: str = prefix + field.name + (f"[{index}]" if _is_repeated(field) else "")
            if field.type == descriptor.FieldDescriptor.TYPE_STRING and not _is_utf8(value):
                return name
            if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                sub_class = message_factory.GetMessageClass(field.message_type)
                try:
                    sub_class.FromString(value)
                except message.DecodeError:
                    if field.message_type.full_name.startswith("google.protobuf.") or depth >= _MAX_SEARCH_DEPTH:
                        return name
                    return _broken_field(sub_class, value, name + ".", depth + 1)
    except _Malformed:
        pass
    return prefix.rstrip(".")


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    """A list (indexed in the path); a map is repeated entries on the wire, but named as a whole."""
    is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
    return bool(field.is_repeated) and not is_map


class _Malformed(Exception):
    """The wire framing itself is broken (a truncated varint or length)."""


def _wire_fields(data: bytes) -> Any:
    """(field number, wire type, payload of a length-delimited field or None) of each field."""
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            _, position = _varint(data, position)
            yield number, wire_type, None
        elif wire_type == 1:
            position += 8
            yield number, wire_type, None
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise _Malformed
            yield number, wire_type, data[position : position + length]
            position += length
        elif wire_type == 5:
            position += 4
            yield number, wire_type, None
        else:  # groups (3, 4) are not in proto3 messages; 6, 7 do not exist
            raise _Malformed
        if position > len(data):
            raise _Malformed


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise _Malformed


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
