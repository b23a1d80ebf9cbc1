"""Turn an HTTP request into the RPC's request message, as google.api.http defines.

Everything (body, path variables, query parameters) is first gathered into the
message's JSON form and then parsed once with protobuf's JSON mapping, so
HTTP accepts exactly what gRPC JSON clients (grpcurl) send, strings such as
"true", "42", "2026-01-15T12:00:00Z" or "3600s" convert by the same rules, and
every mistake becomes one INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import descriptor, json_format, message

from openspanner.errors import InvalidArgument
from openspanner.http.routes import Route, message_of, query_fields, set_path
from openspanner.v1 import http_options_pb2

# A header the seeds use for the batch key of bulk ingestion; it fills a
# top-level `idempotency_key` field that the body leaves unset.
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_FIELD = "idempotency_key"


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}", field="body") from None


def bind(
    route: Route,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: Any,
    headers: Mapping[str, str],
) -> message.Message:
    """The request message of `route`; raises InvalidArgument naming the field."""
    request_type = route.method.input_type
    form: dict[str, Any] = {}
    if route.body == "*":
        if not isinstance(body, dict):
            raise InvalidArgument("request body must be a JSON object", field="body")
        form = body
    elif route.body:
        set_path(form, route.body, body)
    bound = {route.body} if route.body and route.body != "*" else set()
    for field_path, value in path_params.items():
        set_path(form, field_path, value)
        bound.add(field_path)
    for name, values in query.items():
        if route.body == "*":
            raise InvalidArgument("query parameters are not accepted here; send the field in the body", field=name)
        if name in bound:
            raise InvalidArgument("already given by the path or body", field=name)
        _set_query(form, request_type, name, values)
    header_key = headers.get(IDEMPOTENCY_HEADER)
    if header_key is not None and _IDEMPOTENCY_FIELD in request_type.fields_by_name:
        given = form.get(_IDEMPOTENCY_FIELD)
        if given not in (None, "", header_key):
            raise InvalidArgument(
                f"differs from the {IDEMPOTENCY_HEADER} header; send one of them", field=_IDEMPOTENCY_FIELD
            )
        form[_IDEMPOTENCY_FIELD] = header_key
    request = route.request_class()
    try:
        json_format.ParseDict(form, request)
    except json_format.ParseError as exc:
        raise InvalidArgument(_parse_error_text(exc), field=_parse_error_field(exc)) from None
    return request


def _set_query(form: dict[str, Any], message_type: descriptor.Descriptor, name: str, values: list[str]) -> None:
    """Set `a.b.c=value` (repeated: one parameter per element; map: `map.key=value`;
    a field with the `http_query` option under its declared name and form)."""
    target = form
    current = message_type
    parts = name.split(".")
    for index, part in enumerate(parts):
        field, option = query_fields(current).get(part, (None, None))
        if field is None:
            raise InvalidArgument(f"unknown query parameter {name!r}", field=name)
        last = index == len(parts) - 1
        if option is not None and option.key_field:
            if index != len(parts) - 2:
                raise InvalidArgument(f"is given as {part}.KEY=VALUE", field=name)
            _add_keyed(target.setdefault(field.name, []), field, option, parts[-1], values)
            return
        if _is_map(field):
            if index != len(parts) - 2 or len(values) != 1:
                raise InvalidArgument("a map is set as NAME.KEY=VALUE, once per key", field=name)
            target.setdefault(field.name, {})[parts[-1]] = values[0]
            return
        if field.message_type is not None and field.message_type.full_name.startswith("google.protobuf."):
            # Well-known types (Timestamp, Duration, FieldMask) have a string JSON form.
            if not last:
                raise InvalidArgument(f"unknown query parameter {name!r}", field=name)
        elif field.message_type is not None and not last:
            if _is_repeated(field):
                raise InvalidArgument("repeated messages cannot be query parameters", field=name)
            target = target.setdefault(field.name, {})
            current = field.message_type
            continue
        if not last:
            raise InvalidArgument(f"unknown query parameter {name!r}", field=name)
        converted = [_query_value(field, value, name) for value in values]
        if _is_repeated(field):
            target[field.name] = converted
        elif len(values) > 1:
            raise InvalidArgument("given more than once but is not repeated", field=name)
        else:
            target[field.name] = converted[0]
        return


def _add_keyed(
    elements: list[Any],
    field: descriptor.FieldDescriptor,
    option: http_options_pb2.HttpQuery,
    key: str,
    values: list[str],
) -> None:
    value_field = message_of(field).fields_by_name[option.value_field]
    converted = [_query_value(value_field, value, key) for value in values]
    if _is_repeated(value_field):
        elements.append({option.key_field: key, option.value_field: converted})
        return
    if len(converted) > 1:
        raise InvalidArgument("given more than once but takes one value", field=key)
    elements.append({option.key_field: key, option.value_field: converted[0]})


def _query_value(field: descriptor.FieldDescriptor, value: str, name: str) -> Any:
    """Query text as its JSON value; protobuf's JSON parser takes numbers as
    strings already, but booleans only as JSON true/false. A google.protobuf.Value
    (a filter value) stays text, which the service reads as the dimension's
    declared type; only `null` (events without the dimension) is not text."""
    if field.message_type is not None and field.message_type.full_name == "google.protobuf.Value":
        return None if value == "null" else value
    if field.type != descriptor.FieldDescriptor.TYPE_BOOL:
        return value
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidArgument(f"must be true or false, got {value!r}", field=name)


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return bool(
        _is_repeated(field) and field.message_type is not None and field.message_type.GetOptions().map_entry
    )


def _parse_error_text(exc: json_format.ParseError) -> str:
    return str(exc).replace("Failed to parse ", "cannot parse ")


def _parse_error_field(exc: json_format.ParseError) -> str:
    """The field a protobuf JSON error names, e.g. "quantity" or "metadata"."""
    text = str(exc)
    for marker in ("Failed to parse ", 'no field named "'):
        if marker in text:
            rest = text.split(marker, 1)[1]
            return rest.split(" ", 1)[0].split('"', 1)[0].rstrip(".")
    return "body"
