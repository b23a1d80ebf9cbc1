"""The HTTP request binder and OpenAPI generator on a request shaped like a
query (path variable, repeated and keyed query parameters), without a server.

The message is built into the default descriptor pool here, so the
`http_query` option is exercised even before an API proto uses it.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, json_format, struct_pb2, timestamp_pb2
from openapi_spec_validator import validate

from openspanner.errors import InvalidArgument
from openspanner.http.binding import bind
from openspanner.http.openapi import openapi_document
from openspanner.http.routes import Route, routes_of
from openspanner.v1 import http_options_pb2

FD = descriptor_pb2.FieldDescriptorProto
FILE_NAME = "tests/http_binding_query.proto"


def _build_service() -> descriptor.ServiceDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(FILE_NAME).services_by_name["Queries"]
    except KeyError:
        pass
    assert struct_pb2.Value and timestamp_pb2.Timestamp  # dependencies must be in the pool first
    proto = descriptor_pb2.FileDescriptorProto(
        name=FILE_NAME,
        package="tests.httpbinding",
        syntax="proto3",
        dependency=[
            "google/api/annotations.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/timestamp.proto",
            "openspanner/v1/http_options.proto",
        ],
    )
    dimension_filter = proto.message_type.add(name="Filter")
    dimension_filter.field.add(name="dimension", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)
    dimension_filter.field.add(
        name="values", number=2, type=FD.TYPE_MESSAGE, label=FD.LABEL_REPEATED, type_name=".google.protobuf.Value"
    )
    request = proto.message_type.add(name="QueryRequest")
    request.field.add(name="meter", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)
    request.field.add(
        name="start_time", number=2, type=FD.TYPE_MESSAGE, label=FD.LABEL_OPTIONAL,
        type_name=".google.protobuf.Timestamp",
    )
    subjects = request.field.add(name="subjects", number=3, type=FD.TYPE_STRING, label=FD.LABEL_REPEATED)
    subjects.options.Extensions[http_options_pb2.http_query].name = "subject"
    filters = request.field.add(
        name="filters", number=4, type=FD.TYPE_MESSAGE, label=FD.LABEL_REPEATED, type_name=".tests.httpbinding.Filter"
    )
    keyed = filters.options.Extensions[http_options_pb2.http_query]
    keyed.name, keyed.key_field, keyed.value_field = "filter", "dimension", "values"
    request.field.add(name="fill", number=5, type=FD.TYPE_BOOL, label=FD.LABEL_OPTIONAL)
    service = proto.service.add(name="Queries")
    method = service.method.add(
        name="Query", input_type=".tests.httpbinding.QueryRequest", output_type=".tests.httpbinding.QueryRequest"
    )
    method.options.Extensions[annotations_pb2.http].get = "/v1/meters/{meter}/usage"
    pool.Add(proto)
    return pool.FindFileByName(FILE_NAME).services_by_name["Queries"]


@pytest.fixture(scope="module")
def route() -> Route:
    (only,) = routes_of([_build_service()])
    return only


def as_dict(message: Any) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_path_repeated_and_keyed_query_parameters(route: Route) -> None:
    path = route.match("/v1/meters/ai_tokens/usage")
    assert path == {"meter": "ai_tokens"}
    request = bind(
        route,
        path,
        {
            "start_time": ["2026-01-15T00:00:00Z"],
            "subject": ["org_1", "org_2"],
            "filter.model": ["gpt-4.1", "o3"],
            "filter.cached": ["true"],
            "filter.code": ["404"],
            "filter.plan": ["null"],
            "fill": ["true"],
        },
        {},
        {},
    )
    assert as_dict(request) == {
        "meter": "ai_tokens",
        "start_time": "2026-01-15T00:00:00Z",
        "subjects": ["org_1", "org_2"],
        "filters": [
            {"dimension": "model", "values": ["gpt-4.1", "o3"]},
            {"dimension": "cached", "values": ["true"]},
            {"dimension": "code", "values": ["404"]},
            {"dimension": "plan", "values": [None]},
        ],
        "fill": True,
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"subjects": ["a"]}, "subjects"),  # only the declared query name is accepted
        ({"filter": ["x"]}, "filter"),
        ({"fill": ["maybe"]}, "fill"),
        ({"fill": ["true", "false"]}, "fill"),
        ({"start_time": ["yesterday"]}, "start_time"),
        ({"meter": ["other"]}, "meter"),
    ],
)
def test_bad_query_parameters_name_the_field(route: Route, query: dict[str, list[str]], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        bind(route, {"meter": "m"}, query, {}, {})
    assert refused.value.field == field


def test_openapi_uses_the_query_names(route: Route) -> None:
    document = openapi_document([route])
    validate(document)
    parameters = document["paths"]["/v1/meters/{meter}/usage"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [
        ("meter", "path"), ("start_time", "query"), ("subject", "query"), ("filter", "query"), ("fill", "query")
    ]
