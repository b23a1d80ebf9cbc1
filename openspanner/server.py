"""Build, start, drain and stop the gRPC server and its REST API.

Start-up: open storage, migrate the schema, load meters and keys, then serve.
The REST API (openspanner/http) listens on its own port and calls the same
in-process services (catalog, pipeline, reader) as the gRPC servicers,
behind the same key check. Each part, once started, registers how it stops
(App.on_stop), so a start that fails part-way (a port in use) stops what it
had started, newest first, before the error is reported.

SIGTERM and SIGINT are handled from before anything starts: during start-up
the start is cancelled and unwound the same way (exit code 128 + signal).
Once serving, one deadline, `shutdown_grace_seconds` from the signal, is
shared by every step, in this order: health turns NOT_SERVING (load
balancers stop sending); the HTTP listener closes, its requests in flight
finishing; streams stop reading and get the acks of what they sent; the
batcher writes what is pending, and what it cannot commit in time is
answered RETRY (never acknowledged); the gRPC server stops, its calls in
flight getting what remains (at least the reserve kept for these answers,
MAX_ANSWER_RESERVE_SECONDS); then meters, keys and storage are closed. Each
step logs how long it took. A repeated signal within
REPEATED_SIGNAL_WINDOW_SECONDS is the same request; a later one exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import math
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable

import grpc
from clickhouse_connect.driver.client import Client
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from openspanner.alerts.scheduler import AlertScheduler
from openspanner.alerts.service import AlertService as Alerts
from openspanner.auth import ApiKeys
from openspanner.background import Workers
from openspanner.catalog import MeterCatalog
from openspanner.config import Settings
from openspanner.dashboard.serving import DASHBOARD
from openspanner.errors import ConfigError, OpenSpannerError, Unavailable
from openspanner.exports.jobs import Exports
from openspanner.exports.worker import ExportSettings, ExportWorker
from openspanner.grpc import reflection
from openspanner.grpc.access_log import AccessLogInterceptor
from openspanner.grpc.alerts import AlertService
from openspanner.grpc.api_keys import ApiKeyService
from openspanner.grpc.auth import AuthInterceptor
from openspanner.grpc.decode_guard import DecodeGuard
from openspanner.grpc.entitlements import EntitlementService
from openspanner.grpc.exports import ExportService
from openspanner.grpc.meters import MeterService
from openspanner.grpc.plans import PlanService
from openspanner.grpc.product.convert import bulk_limit
from openspanner.grpc.product.usage import ProductUsageService
from openspanner.grpc.query import QueryService
from openspanner.grpc.usage import UsageService
from openspanner.grpc.webhooks import DeliveryService, DestinationService
from openspanner.http.app import start_http
from openspanner.http.context import Services
from openspanner.ingest.batch import BatchSettings
from openspanner.ingest.pipeline import IngestPipeline
from openspanner.limits.service import LimitsService, LimitsSettings
from openspanner.logging import flush_logs, get_logger
from openspanner.metrics import Metrics
from openspanner.query.reader import UsageReader
from openspanner.query.rollup_builder import RollupBuilder
from openspanner.storage.client import Storage, open_client, open_reader
from openspanner.storage.schema import migrate
from openspanner.tls import TlsFiles, load_tls
from openspanner.v1 import (
    alert_pb2,
    alert_pb2_grpc,
    api_key_pb2,
    api_key_pb2_grpc,
    entitlement_pb2,
    entitlement_pb2_grpc,
    export_pb2,
    export_pb2_grpc,
    meter_pb2,
    meter_pb2_grpc,
    open_spanner_usage_pb2,
    open_spanner_usage_pb2_grpc,
    plan_pb2,
    plan_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    usage_pb2,
    usage_pb2_grpc,
    webhook_pb2,
    webhook_pb2_grpc,
)
from openspanner.webhooks.delivery import DeliverySettings, DeliveryWorker
from openspanner.webhooks.destinations import Destinations
from openspanner.webhooks.fanout import Fanout
from openspanner.webhooks.outbox import Outbox

log = get_logger(__name__)

# Our gRPC services, as reflection and health name them.
MESSAGE_SERVICES = (
    meter_pb2.DESCRIPTOR.services_by_name["MeterService"],
    usage_pb2.DESCRIPTOR.services_by_name["UsageService"],
    api_key_pb2.DESCRIPTOR.services_by_name["ApiKeyService"],
    query_pb2.DESCRIPTOR.services_by_name["QueryService"],
    alert_pb2.DESCRIPTOR.services_by_name["AlertService"],
    webhook_pb2.DESCRIPTOR.services_by_name["DestinationService"],
    webhook_pb2.DESCRIPTOR.services_by_name["DeliveryService"],
    plan_pb2.DESCRIPTOR.services_by_name["PlanService"],
    entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"],
    export_pb2.DESCRIPTOR.services_by_name["ExportService"],
)
# The product's gRPC API (open_spanner.v1.UsageService), for its official client.
PRODUCT_SERVICE = open_spanner_usage_pb2.DESCRIPTOR.services_by_name["UsageService"]
# Every service this server answers over gRPC, for reflection and health.
SERVICE_NAMES = (*(service.full_name for service in MESSAGE_SERVICES), PRODUCT_SERVICE.full_name)


# A signal this soon after the first asks for the same shutdown: a supervisor
# signalling the process group and `make run` (GNU make forwards SIGTERM to its
# child) both send one. A signal later than that exits at once.
REPEATED_SIGNAL_WINDOW_SECONDS = 1.0
# The last part of the shutdown grace (a tenth of it, at most this) is kept for
# answering: events that could not be written in time get their RETRY, and
# streams their UNAVAILABLE, before the gRPC server cancels what is left.
MAX_ANSWER_RESERVE_SECONDS = 1.0


class App:
    """Everything a running server owns. Each part, once started, registers how it stops, so
    a start that fails part-way and a shutdown both stop what runs, newest first."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self.http_port = 0
        self.stopped_cleanly = True
        self._steps = contextlib.AsyncExitStack()
        # One deadline for every stop step, set when the shutdown begins; writing ends a little
        # earlier (MAX_ANSWER_RESERVE_SECONDS).
        self.deadline = math.inf
        self.write_deadline = math.inf

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def remaining_for_writes(self) -> float:
        return max(self.write_deadline - time.monotonic(), 0.0)

    def on_stop(self, step: str, stop: Callable[[], object]) -> None:
        """Run `stop` (a function, or one returning an awaitable) when the server stops."""
        self._steps.push_async_callback(self._run_step, step, stop)

    async def stop(self, began: float | None = None) -> None:
        """Every stop step within `shutdown_grace_seconds` from `began` (the signal), newest first."""
        began = time.monotonic() if began is None else began
        grace = self.settings.shutdown_grace_seconds
        self.deadline = began + grace
        self.write_deadline = self.deadline - min(grace / 10, MAX_ANSWER_RESERVE_SECONDS)
        await self._steps.aclose()

    async def _run_step(self, step: str, stop: Callable[[], object]) -> None:
        began = time.monotonic()
        try:
            result = stop()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # the later steps still run: storage must close
            self.stopped_cleanly = False
            log.error("shutdown step failed", step=step, error=repr(exc))
        log.info(
            "shutdown step done", step=step, seconds=round(time.monotonic() - began, 3),
            remaining_seconds=round(self.remaining(), 3),
        )


async def start(settings: Settings, only_workers: bool = False) -> App:
    """Start serving; returns once both ports are bound. With `only_workers`, start only the
    background workers (`openspanner worker`): no port is opened.

    A failure or a cancellation (a signal during start-up) part-way stops
    what had started, newest first, then propagates.
    """
    app = App(settings)
    try:
        await (_start_only_workers(app) if only_workers else _start(app))
    except asyncio.CancelledError:
        log.info("start cancelled, stopping what had started")
        await app.stop()
        raise
    except BaseException as exc:
        log.error("start failed, stopping what had started", error=str(exc) or repr(exc))
        await app.stop()
        raise
    return app


async def _start(app: App) -> None:
    settings = app.settings
    tls = load_tls(settings)
    log.info("server starting", pid=os.getpid())
    storage, catalog = await _start_storage(app)
    admin_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    keys = ApiKeys(storage, admin_key, settings.cache_refresh_seconds)
    await keys.start()
    app.on_stop("keys", keys.stop)
    destinations, outbox = Destinations(storage, settings.webhook_allow_private), Outbox(storage)
    workers = Workers()
    # Closed after the ingest drain, before storage: work in flight (an attempt) runs on during the
    # drain and gets what remains of the grace; its intake stops first (_start_workers).
    app.on_stop("workers", lambda: workers.stop(app.remaining()))
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
    # The access log first: it sees every call, those the key check refuses too. Then the
    # key check: a client without a key learns nothing of its request, not even that it did not decode.
    interceptors = [
        AccessLogInterceptor(metrics), AuthInterceptor(keys, settings.cache_refresh_seconds), DecodeGuard(),
    ]
    server = grpc.aio.server(interceptors=interceptors, options=channel_options(settings))
    reader = UsageReader(catalog, storage, metrics)
    alerts = await _start_alerts(app, storage, catalog, reader, destinations, outbox)
    _add_servicers(server, catalog, keys, pipeline, reader, bulk_limit(settings.max_bulk_events))
    alert_pb2_grpc.add_AlertServiceServicer_to_server(AlertService(alerts), server)  # type: ignore[no-untyped-call]
    _add_webhook_servicers(server, destinations, outbox)
    exports = exports_of(settings, storage, catalog)
    export_pb2_grpc.add_ExportServiceServicer_to_server(ExportService(exports), server)  # type: ignore[no-untyped-call]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable(server, (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name))
    app.port = _bind_grpc(server, settings, tls)
    # Stopped after the batcher has answered what it holds: unary calls in flight wait for it.
    app.on_stop("grpc", lambda: server.stop(app.remaining()))
    pipeline.start()
    app.on_stop("batcher", lambda: pipeline.close(app.write_deadline))
    limits = LimitsService(storage, catalog, pipeline, limits_settings(settings))
    # Beyond the product: state changes go to the destinations that subscribed to them.
    limits.states.on_events(Fanout(destinations, outbox).entitlement_events)
    await limits.start()
    # Before the batcher closes: its last states are written while storage still answers.
    app.on_stop("limits", limits.stop)
    _add_limits_servicers(server, limits)
    await server.start()
    app.on_stop("streams", lambda: _stop_streams(pipeline, app.write_deadline))
    select_one = functools.partial(storage.run, storage.client.command, "SELECT 1")
    services = Services(
        catalog, pipeline, reader, keys, functools.partial(storage_ready, select_one),
        metrics=metrics, metrics_require_key=settings.metrics_require_key, limits=limits,
        destinations=destinations, outbox=outbox, alerts=alerts, exports=exports,
    )
    http = await start_http(settings, services, pages=DASHBOARD)
    app.http_port = http.port
    # Before the streams stop: HTTP requests in flight still record through the pipeline.
    app.on_stop("http", lambda: http.stop(app.remaining_for_writes()))
    _start_workers(app, workers, storage, outbox, catalog, alerts, exports, pipeline)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    # First of all: load balancers stop sending.
    app.on_stop("health", health_servicer.enter_graceful_shutdown)
    log.info(
        "server started",
        port=app.port,
        http_port=app.http_port,
        tls=tls is not None,
        mutual_tls=tls is not None and tls.requires_client_certificate,
        storage="embedded" if settings.uses_embedded_engine else "clickhouse-server",
        data_dir=str(settings.data_dir) if settings.uses_embedded_engine else None,
        pid=os.getpid(),
    )


async def _start_only_workers(app: App) -> None:
    """`openspanner worker`: storage and the background workers, against the storage the servers use."""
    settings = app.settings
    log.info("worker starting", pid=os.getpid())
    storage, catalog = await _start_storage(app)
    if not settings.workers:
        log.warning("OPENSPANNER_WORKERS=false is ignored by `openspanner worker`, which only runs workers")
    workers = Workers()
    app.on_stop("workers", lambda: workers.stop(app.remaining()))
    outbox = Outbox(storage)
    destinations = Destinations(storage, settings.webhook_allow_private)
    alerts = await _start_alerts(app, storage, catalog, UsageReader(catalog, storage, Metrics()), destinations, outbox)
    exports = exports_of(settings, storage, catalog)
    _start_workers(app, workers, storage, outbox, catalog, alerts, exports, force=True)
    log.info(
        "worker started", pid=os.getpid(),
        storage="embedded" if settings.uses_embedded_engine else "clickhouse-server",
    )


async def _start_storage(app: App) -> tuple[Storage, MeterCatalog]:
    """Storage, migrated to this version's schema, and the meters: what a server and a worker both start on."""
    settings = app.settings
    storage = Storage(await _open_storage(settings), settings.storage_threads)
    app.on_stop("storage", storage.close)
    await storage.run(migrate, storage.client, settings.clickhouse_cluster)
    catalog = MeterCatalog(storage, settings.cache_refresh_seconds)
    await catalog.start()
    app.on_stop("catalog", catalog.stop)
    return storage, catalog


async def _start_alerts(
    app: App, storage: Storage, catalog: MeterCatalog, reader: UsageReader, destinations: Destinations, outbox: Outbox
) -> Alerts:
    """Alert rules; a destination a rule sends to cannot be deleted."""
    alerts = Alerts(storage, catalog, reader, destinations, outbox, app.settings.cache_refresh_seconds)
    await alerts.start()
    app.on_stop("alerts", alerts.stop)
    destinations.add_in_use_check(alerts.destination_user)
    return alerts


def _start_workers(
    app: App, workers: Workers, storage: Storage, outbox: Outbox, catalog: MeterCatalog, alerts: Alerts,
    exports: Exports, pipeline: IngestPipeline | None = None, force: bool = False,
) -> None:
    """The background workers (background.py), unless OPENSPANNER_WORKERS=false; each new kind of
    background work is added here. Their intake stops first on shutdown (nothing new starts while
    the server drains); `workers` was registered to close after the drain, before storage."""
    settings = app.settings
    if not (settings.workers or force):
        log.info("workers disabled (OPENSPANNER_WORKERS=false): another process runs them")
        return
    workers.add(DeliveryWorker(storage, outbox, delivery_settings(settings)))
    scheduler = AlertScheduler(alerts, storage, settings.cache_refresh_seconds)
    if pipeline is not None:  # events committed here bring the rules they match forward
        pipeline.on_commit(scheduler.note_committed)
    workers.add(scheduler)
    export_settings = ExportSettings(
        settings.export_path, settings.export_retention_hours, settings.export_lease_seconds,
        settings.export_poll_seconds,
    )
    workers.add(ExportWorker(storage, catalog, exports, export_settings, functools.partial(open_reader, settings)))
    workers.add(RollupBuilder(storage, catalog, settings.rollup_settle_seconds, settings.rollup_interval_seconds))
    workers.start()
    app.on_stop("workers intake", workers.stop_intake)


def exports_of(settings: Settings, storage: Storage, catalog: MeterCatalog) -> Exports:
    return Exports(storage, catalog, settings.export_path, settings.export_retention_hours)


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        timeout_seconds=settings.webhook_timeout_seconds,
        retry_seconds=settings.webhook_retry_seconds,
        max_attempts=settings.webhook_max_attempts,
        lease_seconds=settings.webhook_lease_seconds,
        concurrency=settings.webhook_concurrency,
        poll_seconds=settings.webhook_poll_seconds,
        allow_private=settings.webhook_allow_private,
    )


async def _open_storage(settings: Settings) -> Client:
    """open_client in a daemon thread of its own, so a start cancelled while storage does not
    answer (a connect that hangs) does not hold the process until it times out. A client
    opened after the start gave up on it is closed."""
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[Client] = loop.create_future()

    def settle(client: Client | None, error: BaseException | None) -> None:
        if opened.cancelled():
            if client is not None:
                client.close()
        elif error is not None:
            opened.set_exception(error)
        else:
            opened.set_result(client)  # type: ignore[arg-type]

    def run() -> None:
        client: Client | None = None
        error: BaseException | None = None
        try:
            client = open_client(settings)
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(settle, client, error)
        except RuntimeError:  # the event loop is gone: the start was abandoned
            if client is not None:
                client.close()

    threading.Thread(target=run, name="storage-open", daemon=True).start()
    try:
        return await asyncio.shield(opened)
    except asyncio.CancelledError:
        # The embedded engine opens in this process, in a moment: it is waited for and closed, not
        # left half-done as the interpreter exits. A connection to a server holds nothing of ours.
        if settings.uses_embedded_engine:
            await asyncio.wait({opened}, timeout=settings.shutdown_grace_seconds)
        if not opened.done():
            opened.cancel()
            log.warning("storage still opening; abandoned")
        elif opened.exception() is None:
            opened.result().close()
        raise


def _bind_grpc(server: grpc.aio.Server, settings: Settings, tls: TlsFiles | None) -> int:
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    try:
        if tls is not None:
            return int(server.add_secure_port(address, tls.grpc_credentials()))
        return int(server.add_insecure_port(address))
    except RuntimeError:
        raise ConfigError(
            f"OPENSPANNER_GRPC_PORT: cannot listen on {address} (in use, or not an address of this machine);"
            " choose a free port, or an address of this machine (OPENSPANNER_GRPC_HOST, OPENSPANNER_GRPC_PORT)"
        ) from None


async def _stop_streams(pipeline: IngestPipeline, deadline: float) -> None:
    still_open = await pipeline.stop_streams(deadline)
    if still_open:
        log.warning("streams still open at the shutdown deadline", streams=still_open)


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


def _add_webhook_servicers(server: grpc.aio.Server, destinations: Destinations, outbox: Outbox) -> None:
    webhook_pb2_grpc.add_DestinationServiceServicer_to_server(  # type: ignore[no-untyped-call]
        DestinationService(destinations, outbox), server
    )
    webhook_pb2_grpc.add_DeliveryServiceServicer_to_server(DeliveryService(outbox), server)  # type: ignore[no-untyped-call]


def _add_limits_servicers(server: grpc.aio.Server, limits: LimitsService) -> None:
    """Plans and entitlements, added once the limits service exists (before the server starts)."""
    plan_pb2_grpc.add_PlanServiceServicer_to_server(PlanService(limits), server)  # type: ignore[no-untyped-call]
    entitlement_pb2_grpc.add_EntitlementServiceServicer_to_server(  # type: ignore[no-untyped-call]
        EntitlementService(limits), server
    )


def limits_settings(settings: Settings) -> LimitsSettings:
    return LimitsSettings(
        max_ledger_entries=settings.limits_ledger_max_entries,
        # The embedded engine has one writer, this server: its ledger never goes stale.
        refresh_seconds=None if settings.uses_embedded_engine else settings.limits_refresh_seconds,
        state_flush_seconds=settings.limits_state_flush_ms / 1000,
        plan_refresh_seconds=settings.cache_refresh_seconds,
    )


def channel_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC server options for long-lived streams behind load balancers (docs/streams.md)."""
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
        # A port in use is an error at start-up, not silently shared with another server.
        ("grpc.so_reuseport", 0),
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


class _StopSignals:
    """SIGTERM and SIGINT, handled from before anything starts (see REPEATED_SIGNAL_WINDOW_SECONDS)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.requested = asyncio.Event()
        self.signum = 0
        self.received_at = 0.0
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        now = time.monotonic()
        if not self.requested.is_set():
            self.signum, self.received_at = signum, now
            log.info("shutdown requested", signal=name)
            self.requested.set()
        elif now - self.received_at < REPEATED_SIGNAL_WINDOW_SECONDS:
            log.info("repeated signal, same shutdown", signal=name)
        else:
            log.warning("second signal, exiting now", signal=name)
            flush_logs()
            os._exit(1)


async def serve(settings: Settings, only_workers: bool = False) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully; returns the exit code.
    With `only_workers`, the background workers alone (`openspanner worker`).

    0 after a shutdown whose steps all succeeded (1 if one failed); 128 + the
    signal's number (143 for SIGTERM, 130 for SIGINT) when the signal came
    during start-up: the start is cancelled and what had started is stopped.
    A failed start raises, after stopping what had started.
    """
    signals = _StopSignals(asyncio.get_running_loop())
    starting = asyncio.create_task(start(settings, only_workers), name="start")
    asked = asyncio.create_task(signals.requested.wait())
    await asyncio.wait({starting, asked}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        await asyncio.wait({starting})
        if starting.cancelled():
            code = 128 + signals.signum
            log.info("server stopped", exit_code=code, reason="signal during start-up")
            return code
    app = starting.result()  # raises why the start failed
    _tune_garbage_collector()
    await asked
    await app.stop(began=signals.received_at)
    code = 0 if app.stopped_cleanly else 1
    log.info(
        "server stopped", exit_code=code, seconds=round(time.monotonic() - signals.received_at, 3),
        grace_seconds=settings.shutdown_grace_seconds,
    )
    return code
