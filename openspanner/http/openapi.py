"""The OpenAPI 3 document of the HTTP/JSON API, derived from the same annotations.

Schemas follow protobuf's JSON mapping with proto field names, which is what
the transcoder accepts and returns; the document can therefore never describe
a route or field the server does not serve.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor

from openspanner.http.routes import Route, message_of, query_fields

FD = descriptor.FieldDescriptor

_SCALARS: dict[int, dict[str, Any]] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64"},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64"},
    # 64-bit integers are JSON strings in protobuf's mapping (numbers are accepted).
    FD.TYPE_INT64: {"type": "string", "format": "int64"},
    FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "3600s"},
    "google.protobuf.FieldMask": {"type": "string", "example": "description,unit"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {"type": "object", "additionalProperties": True},
}

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "integer", "description": "HTTP status code"},
        "status": {"type": "string", "description": "gRPC status name, e.g. INVALID_ARGUMENT"},
        "message": {"type": "string", "description": "starts with the field at fault"},
        "details": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
            "description": "google.rpc.BadRequest with field_violations naming the field",
        },
    },
    "required": ["code", "status", "message", "details"],
}

_PLAIN_ROUTES = {
    "/healthz": "The process is up.",
    "/readyz": "Storage is reachable; 503 otherwise.",
    "/openapi.json": "This document.",
}


def openapi_document(routes: list[Route]) -> dict[str, Any]:
    """OpenAPI 3.0 for `routes`, plus health and this document."""
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        template = _openapi_template(route)
        paths.setdefault(template, {})[route.verb.lower()] = _operation(route, schemas)
    for path, summary in _PLAIN_ROUTES.items():
        paths[path] = {
            "get": {
                "operationId": path.strip("/").replace(".", "_"),
                "summary": summary,
                "security": [],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Open Spanner", "version": "v1", "description": "HTTP/JSON transcoding of the gRPC API"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _param_name(field_path: str) -> str:
    """Path parameters are named by their last segment (`{meter.name}` -> `{name}`),
    so /v1/meters/{name} is one path for every verb, as OpenAPI requires."""
    return field_path.rsplit(".", 1)[-1]


def _openapi_template(route: Route) -> str:
    template = route.template
    for field_path in route.path_fields:
        template = template.replace("{" + field_path + "}", "{" + _param_name(field_path) + "}")
    return template


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    request_type = route.method.input_type
    parameters: list[dict[str, Any]] = [
        {"name": _param_name(p), "in": "path", "required": True, "schema": {"type": "string"}}
        for p in route.path_fields
    ]
    if route.body != "*":
        skip = {*route.path_fields, route.body}
        parameters.extend(_query_parameters(request_type, "", skip, schemas))
    if request_type.fields_by_name.get("idempotency_key") is not None:
        parameters.append({
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "fills idempotency_key when the body leaves it unset",
        })
    operation: dict[str, Any] = {
        "operationId": f"{route.method.containing_service.name}_{route.method.name}",
        "summary": f"{route.method.containing_service.full_name}/{route.method.name}",
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": _message_ref(route.method.output_type, schemas)}},
            },
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if route.body:
        body_schema = (
            _message_ref(request_type, schemas)
            if route.body == "*"
            else _field_schema(request_type.fields_by_name[route.body], schemas)
        )
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
    return operation


def _query_parameters(
    message_type: descriptor.Descriptor, prefix: str, skip: set[str], schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for param, (field, option) in query_fields(message_type).items():
        name = prefix + param
        if prefix + field.name in skip:
            continue
        if option is not None and option.key_field:
            value_field = message_of(field).fields_by_name[option.value_field]
            parameters.append({
                "name": name,
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "schema": {"type": "object", "additionalProperties": _single_schema(value_field, schemas)},
                "description": f"{name}.<{option.key_field}>=VALUE, repeatable",
            })
        elif _is_map(field):
            parameters.append({
                "name": name,
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "schema": _field_schema(field, schemas),
                "description": f"{name}.KEY=VALUE",
            })
        elif field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
            if not field.is_repeated:
                parameters.extend(_query_parameters(field.message_type, name + ".", skip, schemas))
        else:
            parameters.append({"name": name, "in": "query", "schema": _field_schema(field, schemas)})
    return parameters


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return bool(
        field.is_repeated and field.message_type is not None and field.message_type.GetOptions().map_entry
    )


def _message_ref(message_type: descriptor.Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if message_type.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[message_type.full_name])
    name = message_type.full_name.replace(".", "_")
    if name not in schemas:
        schemas[name] = {}  # placed first: messages may refer to themselves
        schemas[name] = {
            "type": "object",
            "properties": {f.name: _field_schema(f, schemas) for f in message_type.fields},
        }
    return {"$ref": f"#/components/schemas/{name}"}


def _field_schema(field: descriptor.FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if _is_map(field):
        value_field = message_of(field).fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single_schema(value_field, schemas)}
    single = _single_schema(field, schemas)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _single_schema(field: descriptor.FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    if field.message_type is not None:
        return _message_ref(field.message_type, schemas)
    return dict(_SCALARS[field.type])
