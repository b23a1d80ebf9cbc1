"""Build, start, drain and stop the gRPC server and its REST API.

Start-up: open storage, migrate the schema, load meters and keys, then serve.
The REST API (openspanner/http) listens on its own port and calls the same
in-process services (catalog, pipeline, reader) as the gRPC servicers,
behind the same key check.
Shutdown (SIGTERM or SIGINT): health turns NOT_SERVING so load balancers stop
sending, the HTTP listener closes (finishing its in-flight requests),
in-flight calls get `shutdown_grace_seconds` to finish, then storage
is closed. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from openspanner.auth import ApiKeys, AuthInterceptor
from openspanner.catalog import MeterCatalog
from openspanner.config import Settings
from openspanner.errors import OpenSpannerError, Unavailable
from openspanner.http.app import HttpServer, start_http
from openspanner.http.context import Services
from openspanner.ingest.batch import BatchSettings
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.logging import get_logger
from openspanner.metrics import Metrics
from openspanner.services.api_keys import ApiKeyService
from openspanner.services.decoding import DecodeGuard
from openspanner.services.meters import MeterService
from openspanner.services.product_convert import bulk_limit
from openspanner.services.product_usage import ProductUsageService
from openspanner.services.query import QueryService
from openspanner.services.usage import UsageService
from openspanner.storage.client import Storage, open_client
from openspanner.storage.schema import migrate
from openspanner.usage_reader import UsageReader
from openspanner.v1 import (
    api_key_pb2,
    api_key_pb2_grpc,
    meter_pb2,
    meter_pb2_grpc,
    open_spanner_usage_pb2,
    open_spanner_usage_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    usage_pb2,
    usage_pb2_grpc,
)

log = get_logger(__name__)

# Our gRPC services, as reflection and health name them.
MESSAGE_SERVICES = (
    meter_pb2.DESCRIPTOR.services_by_name["MeterService"],
    usage_pb2.DESCRIPTOR.services_by_name["UsageService"],
    api_key_pb2.DESCRIPTOR.services_by_name["ApiKeyService"],
    query_pb2.DESCRIPTOR.services_by_name["QueryService"],
)
# The product's gRPC API (open_spanner.v1.UsageService), for its official client.
PRODUCT_SERVICE = open_spanner_usage_pb2.DESCRIPTOR.services_by_name["UsageService"]
# Every service this server answers over gRPC, for reflection and health.
SERVICE_NAMES = (*(service.full_name for service in MESSAGE_SERVICES), PRODUCT_SERVICE.full_name)


@dataclass
class App:
    """Everything a running server owns, so it can be stopped in order."""

    settings: Settings
    storage: Storage
    catalog: MeterCatalog
    keys: ApiKeys
    pipeline: IngestPipeline
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    http: HttpServer | None = None

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        # Before the pipeline drains: HTTP requests in flight still record through it.
        if self.http is not None:
            await self.http.stop()
        await self.pipeline.drain(timeout=grace)
        await self.server.stop(grace)
        self.catalog.stop()
        self.keys.stop()
        self.storage.close()
        log.info("server stopped")


async def start(settings: Settings) -> App:
    """Open storage, migrate, and start serving; returns once the port is bound."""
    storage = Storage(await asyncio.to_thread(open_client, settings), settings.storage_threads)
    try:
        await storage.run(migrate, storage.client, settings.clickhouse_cluster)
        catalog = MeterCatalog(storage, settings.cache_refresh_seconds)
        admin_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        keys = ApiKeys(storage, admin_key, settings.cache_refresh_seconds)
        await catalog.start()
        await keys.start()
    except BaseException:
        storage.close()
        raise
    metrics = Metrics()
    pipeline = IngestPipeline(
        storage,
        catalog,
        settings.max_bulk_events,
        settings.bulk_key_retention_days,
        BatchSettings(
            max_batch_events=settings.batch_max_events,
            linger_seconds=settings.batch_linger_ms / 1000,
            max_pending_events=settings.max_pending_events,
            retry_seconds=settings.storage_retry_seconds,
        ),
        settings.stream_window_events,
        metrics,
        # The embedded engine's data dir is locked to this process.
        sole_writer=settings.uses_embedded_engine,
    )
    pipeline.start()
    server = grpc.aio.server(
        # The key is checked first: a client without one learns nothing of its request.
        interceptors=[AuthInterceptor(keys, settings.cache_refresh_seconds), DecodeGuard()],
        options=channel_options(settings),
    )
    reader = UsageReader(catalog, storage)
    _add_servicers(server, catalog, keys, pipeline, reader, bulk_limit(settings.max_bulk_events))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    await server.start()
    app = App(settings, storage, catalog, keys, pipeline, server, health_servicer, port)
    try:
        select_one = functools.partial(storage.run, storage.client.command, "SELECT 1")
        services = Services(catalog, pipeline, reader, keys, functools.partial(storage_ready, select_one))
        app.http = await start_http(settings, services)
    except BaseException:
        await app.stop(0)
        raise
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "server started",
        port=port,
        http_port=app.http.port,
        storage="embedded" if settings.uses_embedded_engine else "clickhouse-server",
        data_dir=str(settings.data_dir) if settings.uses_embedded_engine else None,
        pid=os.getpid(),
    )
    return app


async def storage_ready(check: Callable[[], Awaitable[object]]) -> None:
    """Readiness as an OpenSpannerError, so /ready answers like every other error."""
    try:
        await check()
    except OpenSpannerError:
        raise
    except Exception as exc:
        raise Unavailable(f"storage is not reachable: {type(exc).__name__}") from None


def _add_servicers(
    server: grpc.aio.Server,
    catalog: MeterCatalog,
    keys: ApiKeys,
    pipeline: IngestPipeline,
    reader: UsageReader,
    product_bulk_limit: int,
) -> None:
    meters, usage, api_keys, query = (
        MeterService(catalog), UsageService(pipeline), ApiKeyService(keys), QueryService(reader)
    )
    product_usage = ProductUsageService(pipeline, product_bulk_limit)
    open_spanner_usage_pb2_grpc.add_UsageServiceServicer_to_server(product_usage, server)  # type: ignore[no-untyped-call]
    meter_pb2_grpc.add_MeterServiceServicer_to_server(meters, server)  # type: ignore[no-untyped-call]
    usage_pb2_grpc.add_UsageServiceServicer_to_server(usage, server)  # type: ignore[no-untyped-call]
    api_key_pb2_grpc.add_ApiKeyServiceServicer_to_server(api_keys, server)  # type: ignore[no-untyped-call]
    query_pb2_grpc.add_QueryServiceServicer_to_server(query, server)  # type: ignore[no-untyped-call]


def channel_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC server options for long-lived streams behind load balancers (README: Streams)."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Accept client pings as often as every 10 s without calling them abuse.
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.max_connection_age_grace_seconds * 1000)),
    ]


def _tune_garbage_collector() -> None:
    """Collect cycles less often: the data path makes objects by the million.

    Events, rows and protobuf messages are freed by reference counting; with
    the default thresholds the cycle collector still ran hundreds of times a
    second over everything alive, start-up state included (~10% of the CPU of
    a stream at full speed, bench/ingest.py). What exists once the server has
    started is frozen out of collections, and a collection waits for 50,000
    new objects instead of 700.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    app = await start(settings)
    _tune_garbage_collector()
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop_requested.is_set():
            log.warning("second signal, exiting now")
            os._exit(1)
        log.info("shutdown requested", signal=signal.Signals(signum).name)
        stop_requested.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await stop_requested.wait()
    await app.stop()
