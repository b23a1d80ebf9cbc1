"""/metrics: this server's Prometheus metrics (openspanner/metrics.py) in the text exposition format.

Open like /health by default, so a scraper needs no key: the series carry
counts, latencies and meter names, never subjects, events or keys. With
OPENSPANNER_METRICS_REQUIRE_KEY it needs a read or admin key, which
Prometheus sends with `authorization: {credentials_file: ...}` (docs/operations.md, Metrics).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from openspanner.auth import authorize
from openspanner.http.context import Deps
from openspanner.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])
# The keys that may read usage may read the metrics.
_READ_METHOD = "/openspanner.v1.QueryService/QueryUsage"


@router.get(
    "/metrics", response_class=Response, summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "The Prometheus text exposition format."}},
)
async def metrics(request: Request, services: Deps) -> Response:
    if services.metrics_require_key:
        await authorize(services.keys, _READ_METHOD, request.headers.get("authorization"))
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
