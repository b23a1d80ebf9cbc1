"""/health and /ready, as load balancers and the product's client ask them: no key, no body."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openspanner.http.context import Deps
from openspanner.http.problems import ErrorResponse

router = APIRouter(tags=["health"])


@router.get("/health", status_code=204, response_class=Response, summary="The process is up")
async def health() -> Response:
    return Response(status_code=204)


@router.get(
    "/ready", status_code=204, response_class=Response, summary="Storage answers",
    responses={503: {"model": ErrorResponse, "description": "Storage is not reachable."}},
)
async def ready(services: Deps) -> Response:
    await services.ready()
    return Response(status_code=204)


# The names earlier versions of this server used.
router.get("/healthz", status_code=204, response_class=Response, include_in_schema=False)(health)
router.get("/readyz", status_code=204, response_class=Response, include_in_schema=False)(ready)
