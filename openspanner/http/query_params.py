"""Query parameters a route does not declare are refused, naming the parameter.

A request body already refuses an unknown field (wire.Strict); a query string
was read only for the names a handler declares, so a misspelt or outdated
parameter (`subjects=org_1`, `filter.model=m1`, `page_size=1`) was dropped and
the answer covered more than was asked for, with nothing to tell the caller.
One dependency, added to every API route in build_app, compares the request's
parameter names with those FastAPI read from the route's signature (its
dependant, sub-dependencies included), so a new parameter is allowed by
declaring it and nothing else. A repeated declared parameter (a list) is one
name, and stays allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from openspanner.errors import UnknownParameter

# The declared names of each route, read once, by the route's id (an APIRoute is not
# hashable); the route is kept beside them, so an id is never reused while cached.
_DECLARED: dict[int, tuple[APIRoute, frozenset[str]]] = {}


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A dependency: raises UnknownParameter for the first parameter the route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    cached = _DECLARED.get(id(route))
    if cached is None or cached[0] is not route:
        cached = _DECLARED[id(route)] = (route, frozenset(declared_query_names(route.dependant)))
    declared = cached[1]
    for name in request.query_params:
        if name not in declared:
            raise UnknownParameter(_refusal(request, declared), field=name)


def declared_query_names(dependant: Dependant) -> Iterable[str]:
    """The query parameter names of a route (by their alias: `from`, not `from_`); a pydantic
    model declared as the query (FastAPI's query parameter models) gives its fields' names."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                yield from (info.alias or name for name, info in model.model_fields.items())
            else:
                yield field.alias
        pending.extend(current.dependencies)


def _refusal(request: Request, declared: frozenset[str]) -> str:
    where = f"{request.method} {request.url.path}"
    if not declared:
        return f"is not a parameter of {where}, which takes no query parameters"
    return f"is not a parameter of {where}; it takes {', '.join(sorted(declared))}"
