"""Fuzzing the REST API: no request gets a 5xx, every refusal is the JSON error body naming its field.

Two fuzzers against one server of this module's own (they delete meters and
revoke keys, which would disturb tests sharing a server):

- schemathesis generates requests from /openapi.json, valid and invalid, and
  checks each answer against the document (status code, content type,
  response schema) and that none is a server error;
- hypothesis sends bodies no schema describes to the routes that take JSON:
  any JSON value, valid bodies with one field replaced by anything, values
  nested a thousand levels deep, numbers beyond float64, text with control
  characters and lone surrogates, bytes that are not UTF-8.

Budgets are fixed and derandomized (fuzz_strategies.FUZZ_SETTINGS).
"""

from __future__ import annotations

import http.client
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from openspanner.http.app import build_app
from openspanner.http.context import Services
from tests.fuzz_strategies import (
    EDGE_NUMBERS,
    EDGE_TEXTS,
    FUZZ_SETTINGS,
    deep_json_text,
    edge_values,
    json_values,
    numbers,
    server_tracebacks,
    texts,
)
from tests.harness import ADMIN_KEY, ServerProcess, running_server

METER = "fuzz_meter"
PATCHED_METER = "fuzz_patched"
METER_DEFINITION = {
    "name": METER,
    "aggregation": "sum",
    "dimensions": [
        {"name": "region", "type": "string", "required": False},
        {"name": "tokens", "type": "number", "required": False},
        {"name": "cached", "type": "boolean", "required": False},
    ],
}
FROM, TO = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


_created = itertools.count()


def send(server: ServerProcess, method: str, path: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
    if body is not None:
        # Each meter created under a name of its own, so that the body gets past "name taken".
        body = body.replace(b'"fuzz_created"', b'"fuzz_created_%d"' % next(_created))
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_clear_answer(status: int, headers: dict[str, str], content: bytes) -> None:
    """No server error; a refusal is the error body, and a 400 names its field in it."""
    assert status < 500, (status, content[:500])
    if status < 400:
        return
    assert headers["content-type"] == "application/json", (status, headers, content[:500])
    error = json.loads(content)["error"]
    assert error["code"] and error["message"], error
    if status == 400:
        assert error.get("field"), error
        assert f"{error['field']}: " in error["message"], error


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("fuzz-http")) as server:
        for definition in (METER_DEFINITION, {**METER_DEFINITION, "name": PATCHED_METER}):
            status, _, content = send(server, "POST", "/v1/meters", json.dumps(definition).encode())
            assert status == 201, content
        yield server


# --- schemathesis, from the OpenAPI document --------------------------------

SCHEMATHESIS_CONFIG = schemathesis.Config.from_dict({
    "seed": 17,
    "headers": {"Authorization": f"Bearer {ADMIN_KEY}"},
    "generation": {"mode": "all", "max-examples": 25, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
})


# The document the server serves, built from the same app without a server (a schema
# loaded from a fixture needs a pytest internal that pytest 9 no longer has).
# No route runs here, so the app needs none of the services, only their settings' defaults.
DOCUMENT = build_app(Services(None, None, None, None, None), 1).openapi()  # type: ignore[arg-type]
# Plans and entitlements are tested by tests/integration/test_limits.py; not fuzzed yet.
openapi = (
    schemathesis.openapi.from_dict(DOCUMENT, config=SCHEMATHESIS_CONFIG)
    .exclude(tag="plans")
    .exclude(tag="entitlements")
)


def test_the_fuzzed_document_is_the_one_served(fuzz_server: ServerProcess) -> None:
    status, _, content = send(fuzz_server, "GET", "/openapi.json", None)
    assert status == 200 and json.loads(content) == DOCUMENT


@openapi.parametrize()
@FUZZ_SETTINGS
def test_every_operation_answers_as_its_document_says(case: Any, fuzz_server: ServerProcess) -> None:
    case.call_and_validate(
        base_url=fuzz_server.base_url,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


# --- hypothesis, bodies no schema describes ---------------------------------

ANY_TEXT = texts()
ANY_JSON = json_values(ANY_TEXT)


def event(**fields: Any) -> dict[str, Any]:
    return {"idempotency_key": "k", "subject": "s", "meter": METER, "quantity": 1, **fields}


TEMPLATES: dict[str, dict[str, Any]] = {
    "/v1/usages": event(timestamp="2026-01-01T00:00:00Z", metadata={"region": "eu", "tokens": 3, "cached": True}),
    "/v1/meters": {
        **METER_DEFINITION, "name": "fuzz_created", "description": "d", "unit": "u", "event_retention_days": 30,
        "dimensions": [{"name": "region", "type": "string", "required": False, "display_name": "Region",
                        "description": "d", "deprecated": False}],
    },
    f"/v1/meters/{PATCHED_METER}": {"description": "d", "unit": "u", "event_retention_days": 30,
                                    "dimensions": METER_DEFINITION["dimensions"]},
    "/v1/usages/search": {
        "meter": METER, "from": FROM, "to": TO, "subject": "s", "bucket_size": "hour", "group_by": ["region"],
        "time_zone": "UTC", "limit": 10, "fill": False,
        "filter": {"type": "group", "op": "and", "rules": [{"field": "metadata.tokens", "op": "gt", "value": 1}]},
    },
    "/v1/usages/breakdowns/search": {
        "meter": METER, "from": FROM, "to": TO, "field": "region", "subject": "s",
        "filter": {"type": "group", "op": "and", "rules": [{"field": "subject", "op": "eq", "value": "s"}]},
    },
    "/v1/usages/export": {"meter": METER, "from": FROM, "to": TO, "bucket_size": "day", "subject": "s",
                          "time_zone": "Europe/Berlin"},
    "/v1/api-keys": {"name": "n", "scope": "read"},
}
METHODS = {f"/v1/meters/{PATCHED_METER}": "PATCH"}
_DEEP = "\x00deep\x00"


def _places(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a body whose fields are worth replacing: the body, its metadata, a filter
    condition, a dimension."""
    places = [body]
    if isinstance(body.get("metadata"), dict):
        places.append(body["metadata"])
    rules = body["filter"].get("rules") if isinstance(body.get("filter"), dict) else None
    dimensions = body.get("dimensions")
    for found in (rules, dimensions):
        if isinstance(found, list) and found and isinstance(found[0], dict):
            places.append(found[0])
    return places


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON type as `value`, so that the body gets past the model to the handler."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, str):
        return st.one_of(ANY_TEXT, st.sampled_from(EDGE_TEXTS))
    if isinstance(value, int | float):
        return numbers()
    return ANY_JSON


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    """The template with a field (or a metadata key, a filter condition's or a dimension's
    field), sometimes two or three, replaced: by a value of its own type at an edge, by any
    JSON, or by a value nested too deep to be read."""
    body = json.loads(json.dumps(template))
    deep = None
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        where = draw(st.sampled_from(_places(body)))
        keys = sorted(where)
        key = draw(st.one_of(st.sampled_from(keys), ANY_TEXT) if keys else ANY_TEXT)
        kind = draw(st.sampled_from(["like", "like", "any", "deep"]))
        if kind == "deep" and deep is None:
            deep, where[key] = draw(deep_json_text()), _DEEP
        elif kind == "like" and key in where:
            where[key] = draw(_like(where[key]))
        else:
            where[key] = draw(st.one_of(edge_values(), ANY_JSON))
    text = json.dumps(body)
    return (text.replace(json.dumps(_DEEP), deep) if deep else text).encode()


def bodies(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated(template),
        mutated(template),
        mutated(template),
        ANY_JSON.map(lambda value: json.dumps(value).encode()),
        deep_json_text().map(str.encode),
        st.binary(max_size=30),
    )


def bulk_bodies() -> st.SearchStrategy[bytes]:
    one = mutated(TEMPLATES["/v1/usages"]).map(json.loads)
    return st.one_of(
        st.lists(st.one_of(one, ANY_JSON), min_size=1, max_size=4).map(lambda events: json.dumps(events).encode()),
        bodies(TEMPLATES["/v1/usages"]),
    )


def body_case(path: str) -> Callable[..., None]:
    strategy = bulk_bodies() if path == "/v1/usages/bulk" else bodies(TEMPLATES[path])
    method = METHODS.get(path, "POST")

    @settings(FUZZ_SETTINGS, max_examples=150)
    @given(body=strategy)
    def run(server: ServerProcess, body: bytes) -> None:
        with server_tracebacks(server):
            assert_clear_answer(*send(server, method, path, body))

    return run


@pytest.mark.parametrize("path", [*TEMPLATES, "/v1/usages/bulk"])
def test_any_body_is_answered_or_refused_naming_its_field(fuzz_server: ServerProcess, path: str) -> None:
    body_case(path)(fuzz_server)


def _edges() -> list[tuple[str, str]]:
    """(label, JSON text) of every edge value, two depths of nesting among them."""
    values = [*EDGE_TEXTS, *EDGE_NUMBERS, [], {}, None, True]
    edges = [(repr(v)[:20], json.dumps(v)) for v in values]
    return [*edges, ("deep 150", "[" * 150 + "]" * 150), ("deep 1500", '{"a":' * 1500 + "1" + "}" * 1500)]


def _swept(template: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """The template with each field of each place, and one new field, set to each edge value."""
    for index, place in enumerate(_places(json.loads(json.dumps(template)))):
        for key in [*sorted(place), "extra"]:
            for label, edge in _edges():
                body = json.loads(json.dumps(template))
                _places(body)[index][key] = _DEEP
                yield f"{key}={label}", json.dumps(body).replace(json.dumps(_DEEP), edge).encode()


@pytest.mark.parametrize("path", [*TEMPLATES, "/v1/usages/bulk"])
def test_every_field_at_every_edge_is_answered_or_refused_naming_it(fuzz_server: ServerProcess, path: str) -> None:
    """Not random: every field of a valid body (metadata keys, a filter condition's fields, a
    dimension's fields included) set to every edge value in turn."""
    template = TEMPLATES["/v1/usages" if path == "/v1/usages/bulk" else path]
    for label, body in _swept(template):
        if path == "/v1/usages/bulk":
            body = b"[" + body + b"]"
        answer = send(fuzz_server, METHODS.get(path, "POST"), path, body)
        try:
            assert_clear_answer(*answer)
        except AssertionError as error:
            raise AssertionError(f"{label}: {body[:300]!r}") from error
