"""The HTTP route table, read from the `google.api.http` annotations of the protos.

The annotations are the only place a route is declared, so a new annotated RPC
is served over HTTP (and listed in /openapi.json) without code here. Templates
support `{field.path}` variables matching one path segment, which is all the
API uses; anything richer is refused at start-up rather than served wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message, message_factory

from openspanner.v1 import http_options_pb2

_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
_METHODS = ("get", "put", "post", "delete", "patch")
# Typed loosely: the protobuf stubs type generated extensions as plain fields.
_HTTP_QUERY: Any = http_options_pb2.http_query


@dataclass(frozen=True)
class Route:
    """One annotated RPC: HTTP verb and template, and how the request is bound."""

    verb: str
    template: str
    pattern: re.Pattern[str]
    path_fields: tuple[str, ...]
    body: str
    method: descriptor.MethodDescriptor

    @property
    def grpc_path(self) -> str:
        """The gRPC method path, as gRPC clients and the auth scopes name it."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_class(self) -> type[message.Message]:
        request_class: type[message.Message] = message_factory.GetMessageClass(self.method.input_type)
        return request_class

    @property
    def response_class(self) -> type[message.Message]:
        response_class: type[message.Message] = message_factory.GetMessageClass(self.method.output_type)
        return response_class

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return None if found is None else dict(zip(self.path_fields, found.groups(), strict=True))


def routes_of(services: Iterable[descriptor.ServiceDescriptor]) -> list[Route]:
    """Every annotated unary RPC of `services`; streaming RPCs stay gRPC-only."""
    routes = []
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            if method.client_streaming or method.server_streaming:
                raise ValueError(f"{method.full_name}: streaming RPCs cannot have HTTP routes")
            rule = options.Extensions[annotations_pb2.http]
            routes.extend(_routes_of_rule(rule, method))
    return routes


def _routes_of_rule(rule: http_pb2.HttpRule, method: descriptor.MethodDescriptor) -> list[Route]:
    verb = rule.WhichOneof("pattern")
    if verb not in _METHODS:
        raise ValueError(f"{method.full_name}: unsupported HTTP rule {verb!r}")
    template = str(getattr(rule, verb))
    fields = tuple(_VARIABLE.findall(template))
    if "{" in _VARIABLE.sub("", template):
        raise ValueError(f"{method.full_name}: only {{field}} variables are supported in {template!r}")
    for field_path in fields:
        _field_at(method.input_type, field_path)
    _check_query_options(method.input_type)
    if rule.body not in ("", "*"):
        _field_at(method.input_type, rule.body)
    regex = "".join(
        "([^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(_VARIABLE.split(template))
    )
    route = Route(verb.upper(), template, re.compile(regex), fields, rule.body, method)
    return [route, *(r for extra in rule.additional_bindings for r in _routes_of_rule(extra, method))]


def _field_at(message_type: descriptor.Descriptor, path: str) -> descriptor.FieldDescriptor:
    """The field a dotted path names; raises on a typo in an annotation."""
    field: descriptor.FieldDescriptor | None = None
    current: descriptor.Descriptor | None = message_type
    for name in path.split("."):
        field = current.fields_by_name.get(name) if current is not None else None
        if field is None:
            raise ValueError(f"{message_type.full_name} has no field {path!r}")
        current = field.message_type
    assert field is not None
    return field


def message_of(field: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    """The message type of a field known to hold messages."""
    assert field.message_type is not None, field.full_name
    return field.message_type


def _check_query_options(message_type: descriptor.Descriptor) -> None:
    """A keyed `http_query` must name fields that exist, or requests would fail at random later."""
    for field, option in query_fields(message_type).values():
        if option is None or not option.key_field:
            continue
        target = field.message_type
        if target is None or not field.is_repeated:
            raise ValueError(f"{field.full_name}: key_field needs a repeated message field")
        for name in (option.key_field, option.value_field):
            if name not in target.fields_by_name:
                raise ValueError(f"{field.full_name}: {target.full_name} has no field {name!r}")


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a JSON-form dict, creating the objects on the way."""
    *parents, leaf = path.split(".")
    for name in parents:
        child = target.setdefault(name, {})
        if not isinstance(child, dict):
            raise TypeError(path)
        target = child
    target[leaf] = value


def query_fields(
    message_type: descriptor.Descriptor,
) -> dict[str, tuple[descriptor.FieldDescriptor, http_options_pb2.HttpQuery | None]]:
    """Fields by query parameter name: the `http_query` name if declared, else the field name."""
    fields: dict[str, tuple[descriptor.FieldDescriptor, http_options_pb2.HttpQuery | None]] = {}
    for field in message_type.fields:
        options = field.GetOptions()
        if options.HasExtension(_HTTP_QUERY):
            option: http_options_pb2.HttpQuery = options.Extensions[_HTTP_QUERY]
            fields[option.name or field.name] = (field, option)
        else:
            fields[field.name] = (field, None)
    return fields
