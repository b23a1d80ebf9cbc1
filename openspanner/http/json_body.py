"""Request bodies read as this API's JSON, before FastAPI validates them against a route's model.

Python's json module takes documents that nothing behind the API can hold:
strings with lone surrogates (`"\\ud800"` decodes to a str no UTF-8 encoder,
protobuf or ClickHouse, will take), integers beyond any 64-bit float (a
metadata number of 400 digits), and nesting as deep as the interpreter's
stack (a RecursionError a thousand levels down). Each of those failed deep
inside a handler and was answered 500. A body is parsed here once instead,
as UTF-8 only (RFC 8259), and refused 400 naming the field when it breaks one
of those bounds; a document that is not JSON at all is left to FastAPI's own
`invalid_json` answer (problems.py).

Routers of resources with a JSON body use `JsonBodyRoute` (build_app checks).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from openspanner.errors import InvalidArgument, InvalidJson
from openspanner.http.problems import field_path

# Levels of arrays and objects in one body. The deepest structure the API
# reads is a filter tree: 32 groups (domain/filters.py) take two levels each,
# so its own, clearer refusal comes first.
MAX_JSON_DEPTH = 100
# Integers a float64 can hold (an int beyond it raises OverflowError when converted).
_MAX_INT = int(sys.float_info.max)

# A path into the document, built only for an error: (parent path, key or index).
_Path = tuple[Any, str | int] | None


class JsonBodyRoute(APIRoute):
    """An APIRoute whose handler reads its body through `parse_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked_body(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return checked_body


class JsonBodyRequest(Request):
    async def json(self) -> Any:
        # FastAPI answers an exception raised here as a 400 with it as the cause,
        # which problems.py turns back into this error.
        if not hasattr(self, "_json"):
            self._json = parse_body(await self.body())
        return self._json


def parse_body(body: bytes) -> Any:
    """The JSON value of a request body, within this API's bounds.

    Raises json.JSONDecodeError for text that is not JSON (FastAPI's
    json_invalid), or InvalidArgument naming the field that breaks a bound.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJson(f"is not UTF-8 text: byte {error.start} is {body[error.start]:#04x}", field="body") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidArgument(f"is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects",
                              field="body") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # the one other error of json.loads: an integer of more digits than int() reads
        raise InvalidArgument(
            f"holds a number of more than {sys.get_int_max_str_digits():,} digits", field="body"
        ) from None
    # Lone surrogates come only from \u escapes: raw UTF-8 cannot encode one.
    _check(value, check_text="\\u" in text)
    return value


def _check(value: Any, check_text: bool) -> None:
    """Walks the document without recursion, containers in document order."""
    pending: list[tuple[Any, _Path, int]] = [(value, None, 1)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidArgument(
                    f"is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects", field=_nesting_field(path)
                )
            items = node.items() if isinstance(node, dict) else enumerate(node)
            children = []
            for key, item in items:
                if check_text and isinstance(key, str):
                    _check_text(key, path, is_key=True)
                children.append((item, (path, key), depth + 1))
            pending.extend(reversed(children))
        elif isinstance(node, str):
            if check_text:
                _check_text(node, path)
        elif type(node) is int and not -_MAX_INT <= node <= _MAX_INT:
            raise InvalidArgument(
                f"is too large for a number (a 64-bit float), got one of {len(str(abs(node)))} digits",
                field=_field(path),
            )


def _check_text(text: str, path: _Path, is_key: bool = False) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        what = "has a key that is not" if is_key else "must be"
        raise InvalidArgument(
            f"{what} valid Unicode text: a lone surrogate U+{ord(text[error.start]):04X} at position {error.start}",
            # A key with a surrogate is no field name a JSON answer can carry: its object is named.
            field=_field(path),
        ) from None


def _segments(path: _Path) -> list[str | int]:
    segments: list[str | int] = []
    while path is not None:
        path, key = path
        segments.append(key)
    return segments[::-1]


def _field(path: _Path) -> str:
    return field_path(_segments(path)) or "body"


def _nesting_field(path: _Path) -> str:
    """The field a too-deep value hangs from, to its second name (`metadata.region`,
    `[3].metadata.region`, `filter.rules`): the full path is a hundred levels long."""
    segments = _segments(path)
    names = 0
    for end, segment in enumerate(segments):
        names += isinstance(segment, str)
        if names == 2:
            return field_path(segments[: end + 1])
    return field_path(segments) or "body"
