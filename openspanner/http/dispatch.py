"""Calling a servicer in process, as the gRPC server calls it for a gRPC client.

The HTTP/JSON API needs no gRPC hop to reach the servicers: the key is checked
by the same `authorize` under the RPC's gRPC method path, the servicer method
is the one gRPC calls, and its `@rpc` wrapper turns errors into
`context.abort(...)` exactly as for gRPC. Only that abort is asked of the
context, so a small stand-in serves, and the abort arrives here as the status
a gRPC client would have read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import NoReturn

import grpc
from google.protobuf import descriptor, message
from google.rpc import status_pb2

from openspanner.errors import STATUS_DETAILS_KEY
from openspanner.http.routes import Route

# Checks the `Authorization` header for a gRPC method path (auth.authorize
# bound to the server's keys); raises Unauthenticated or PermissionDenied.
Authorize = Callable[[str, str | None], Awaitable[object]]
Servicers = Mapping[descriptor.ServiceDescriptor, object]
_Method = Callable[[message.Message, "InProcessContext"], Awaitable[message.Message]]


class CallAborted(grpc.aio.AbortError):  # type: ignore[misc]
    """A servicer aborted its call. An AbortError, so `@rpc` lets it through
    as it lets gRPC's own through, rather than logging it as unexpected."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: Sequence[tuple[str, str | bytes]]
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing_metadata = tuple(trailing_metadata)

    def status(self) -> status_pb2.Status:
        """The google.rpc.Status a gRPC client reads: the rich-status trailer if
        sent (it names the field), else the code and details alone."""
        status = status_pb2.Status(code=self.code.value[0], message=self.details)
        for key, value in self.trailing_metadata:
            if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
                status.ParseFromString(value)
        return status


class InProcessContext:
    """What `@rpc` and the unary servicers use of a grpc.aio.ServicerContext: only `abort`.

    A servicer that starts using more of the context (metadata, deadlines)
    must get it here too, or its HTTP route answers INTERNAL.
    """

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Sequence[tuple[str, str | bytes]] = ()
    ) -> NoReturn:
        raise CallAborted(code, details, trailing_metadata)


class Dispatcher:
    """Each route's servicer method, found once at start-up, so a route
    without a servicer fails the start, not its requests."""

    def __init__(self, routes: Iterable[Route], servicers: Servicers, authorize: Authorize) -> None:
        self._authorize = authorize
        self._methods = {route.grpc_path: _method_of(route, servicers) for route in routes}

    async def call(self, route: Route, request: message.Message, authorization: str | None) -> message.Message:
        """The servicer's reply; raises an OpenSpannerError when the key is
        refused and CallAborted when the servicer answers with an error."""
        await self._authorize(route.grpc_path, authorization)
        return await self._methods[route.grpc_path](request, InProcessContext())


def _method_of(route: Route, servicers: Servicers) -> _Method:
    service = route.method.containing_service
    if service not in servicers:
        raise ValueError(f"no servicer for {service.full_name}, which serves {route.verb} {route.template}")
    method: _Method = getattr(servicers[service], route.method.name)
    return method
