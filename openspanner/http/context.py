"""What a REST handler reaches: the server's in-process services, and the key check.

The handlers call the same catalog, pipeline and readers as the gRPC
servicers, and a route is let through by `auth.authorize` under the gRPC
method it mirrors, so one scope table decides for both APIs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from openspanner.alerts.service import AlertService
from openspanner.auth import ApiKeys, authorize
from openspanner.catalog import MeterCatalog
from openspanner.exports.jobs import Exports
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.limits.service import LimitsService
from openspanner.metrics import Metrics
from openspanner.query.reader import UsageReader
from openspanner.webhooks.destinations import Destinations
from openspanner.webhooks.outbox import Outbox

Readiness = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Services:
    catalog: MeterCatalog
    pipeline: IngestPipeline
    reader: UsageReader
    keys: ApiKeys
    # Raises Unavailable when storage cannot answer.
    ready: Readiness
    # The server's registry (the pipeline's), served at /metrics and fed by the access log.
    metrics: Metrics = field(default_factory=Metrics)
    # GET /metrics needs a read key (Settings.metrics_require_key).
    metrics_require_key: bool = False
    # Webhook destinations and the delivery outbox (docs/webhooks.md).
    destinations: Destinations | None = None
    outbox: Outbox | None = None
    # Alert rules (/v1/alerts); None where the server was built without them (some tests).
    alerts: AlertService | None = None
    # Plans and entitlements; None in apps built without them (some unit tests).
    limits: LimitsService | None = None
    # Export jobs (docs/exports.md).
    exports: Exports | None = None


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services_dependency(request: Request) -> Services:
    """`services_of` as a dependency: FastAPI runs a plain `def` dependency in a worker
    thread on every request, which cost more than the whole look-up."""
    return services_of(request)


def authorized(grpc_method: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing the request unless its key may call `grpc_method`."""

    async def check(request: Request) -> None:
        await authorize(services_of(request).keys, grpc_method, request.headers.get("authorization"))

    return check


Deps = Annotated[Services, Depends(_services_dependency)]
