"""Unary ingest benchmark: each figure as a ratio to a limit measured in the same run.

On a shared 2-core machine an absolute rate says more about the neighbours
than about the server. So each scenario is paired with a limit measured just
before it, on the same machine: the most that the same load generator,
transport and framework (or the engine alone) do right now.

  RecordUsage        vs a trivial grpc.aio handler (parses the UsageEvent, answers empty)
  POST /v1/usages    vs a trivial handler on the same stack (FastAPI on uvicorn: reads the
                     body, answers a small JSON), and vs RecordUsage (the same batcher
                     behind another edge: what the REST edge costs)
  RecordUsages       vs the engine inserting rows it generates itself
                     (INSERT ... SELECT FROM numbers(), same schema, same embedded engine)
  openspanner import vs the same engine figure (bench/import_bench.py, smaller file)

A regression in the server moves its ratio; a busy hour moves both figures.
Load generators run in their own processes (--generators), with --callers
concurrent callers in all, each sending its next call when the previous
answer arrives. Requests are built before the clock starts. Every server, the
trivial ones included, runs in a process of its own; real servers run on the
embedded engine with a fresh data dir each, and what they stored is checked
against what they acknowledged.

    python bench/unary.py                                   # ~2 minutes
    python bench/unary.py --duration 1 --warmup 0.5 --import-rows 20000   # a quick smoke run
    python bench/unary.py --only grpc,http                  # the two unary edges and their ratio
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import fastapi
import grpc
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine_limit import UNARY_SHAPE, engine_rows_per_s, in_child  # noqa: E402
from import_bench import run_import  # noqa: E402

from openspanner.v1 import meter_pb2, usage_pb2  # noqa: E402
from tests.harness import (  # noqa: E402
    ADMIN_KEY,
    Client,
    ServerProcess,
    free_port,
    start_server,
    storage_at,
    stored_totals,
)

METER = "ai_tokens"
DIMENSIONS = ("model", "region")
RECORD_USAGE = "/openspanner.v1.UsageService/RecordUsage"
RECORD_USAGES = "/openspanner.v1.UsageService/RecordUsages"
GRPC_METADATA = (("authorization", f"Bearer {ADMIN_KEY}"),)
HTTP_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
GRPC_OPTIONS = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
# Payload shapes repeat with this period (subject, model, region, quantity); keys never do.
VARIANTS = 1000
# Event time advances this much per event (as a live client's clock would) from a minute back.
EVENT_SPACING_US = 100

Send = Callable[[bytes], Awaitable[None]]


# --- payloads: built in the generator processes before the clock starts -------------------


def _variant(i: int) -> tuple[str, float, str, str]:
    """(subject, quantity, model, region) of event i: a realistic spread, the same in every scenario."""
    v = i % VARIANTS
    return f"org_{v}", float(100 + v % 900), f"model-{v % 8}", ("eu-west", "us-east", "ap-south")[v % 3]


@functools.cache
def _event_bodies() -> list[bytes]:
    """Serialized UsageEvents without key and timestamp, one per variant."""
    bodies = []
    for v in range(VARIANTS):
        subject, quantity, model, region = _variant(v)
        event = usage_pb2.UsageEvent(subject=subject, meter=METER, quantity=quantity)
        event.metadata.update({"model": model, "region": region})
        bodies.append(event.SerializeToString())
    return bodies


def event_bytes(run: str, epoch_us: int, i: int) -> bytes:
    """Event i of a run, serialized: a UsageEvent with a key of its own and an advancing timestamp.

    Concatenated protobuf messages parse as their merge, so the variant's
    fixed part is serialized once and only key and timestamp are new per event.
    """
    own = usage_pb2.UsageEvent(idempotency_key=f"{run}-{i}")
    own.timestamp.FromMicroseconds(epoch_us + i * EVENT_SPACING_US)
    return _event_bodies()[i % VARIANTS] + own.SerializeToString()


def bulk_bytes(events_per_call: int, run: str, epoch_us: int, i: int) -> bytes:
    """Call i of a run: a RecordUsagesRequest of events_per_call distinct events."""
    request = usage_pb2.RecordUsagesRequest()
    for n in range(i * events_per_call, (i + 1) * events_per_call):
        request.events.add().MergeFromString(event_bytes(run, epoch_us, n))
    return request.SerializeToString()


def json_bytes(run: str, epoch_us: int, i: int) -> bytes:
    """Event i of a run as the JSON usage payload of POST /v1/usages."""
    subject, quantity, model, region = _variant(i)
    seconds, micros = divmod(epoch_us + i * EVENT_SPACING_US, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"
    return (f'{{"idempotency_key":"{run}-{i}","subject":"{subject}","meter":"{METER}","quantity":{quantity},'
            f'"timestamp":"{stamp}","metadata":{{"model":"{model}","region":"{region}"}}}}').encode()


# --- the load generator -------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What a scenario sends, and to whom."""

    protocol: str  # "grpc" (target host:port) or "http" (target a URL)
    target: str
    # (run, epoch_us, i) -> request i; a module-level function (or partial), so it reaches the generators.
    payload: Callable[[str, int, int], bytes]
    callers: int
    # Requests per second the scenario is not expected to exceed: how many each generator builds
    # beforehand. Past that, requests are built while the clock runs (and the result says how many).
    max_calls_per_s: float
    method: str = RECORD_USAGE
    events_per_call: int = 1
    # HTTP: the status every answer must have (bench/limits.py's check answers 200).
    ok_status: int = 201


@dataclass
class Window:
    start: float  # time.monotonic(), the same clock in every process on Linux
    warmup: float
    duration: float

    @property
    def measure_from(self) -> float:
        return self.start + self.warmup

    @property
    def end(self) -> float:
        return self.start + self.warmup + self.duration


@dataclass
class GeneratorResult:
    in_window: int = 0  # answered calls that ended inside the measured window
    latencies: list[float] = field(default_factory=list)  # of those calls, seconds
    answered: int = 0  # all answered calls, warm-up and after the window included
    errors: int = 0
    first_error: str = ""
    built_late: int = 0  # requests built while the clock ran


@contextlib.asynccontextmanager
async def connect(load: Load) -> AsyncIterator[Send]:
    """One connection per generator process (HTTP: a keep-alive pool of `callers`); yields `send`."""
    if load.protocol == "grpc":
        async with grpc.aio.insecure_channel(load.target, options=GRPC_OPTIONS) as channel:
            call = channel.unary_unary(load.method, request_serializer=bytes, response_deserializer=bytes)

            async def send_grpc(payload: bytes) -> None:
                await call(payload, metadata=GRPC_METADATA, timeout=120)

            yield send_grpc
    else:
        connector = aiohttp.TCPConnector(limit=load.callers)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def send_http(payload: bytes) -> None:
                async with session.post(load.target, data=payload, headers=HTTP_HEADERS) as response:
                    body = await response.read()
                    if response.status != load.ok_status:
                        raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")

            yield send_http


def generator_process(load: Load, callers: int, run: str, window_after: float, conn: Connection) -> None:
    """Build requests, connect, say ready, then drive `callers` callers through the window."""
    epoch_us = time.time_ns() // 1000 - 60_000_000
    planned = int(load.max_calls_per_s * callers / load.callers * (window_after + 2)) + callers
    prebuilt = [load.payload(run, epoch_us, i) for i in range(planned)]
    result = GeneratorResult()

    def late() -> Iterator[bytes]:
        for i in itertools.count(planned):
            result.built_late += 1
            yield load.payload(run, epoch_us, i)

    payloads = itertools.chain(prebuilt, late())

    async def main() -> bool:
        async with connect(load) as send:
            try:
                await send(next(payloads))  # the connection is up before the clock starts
            except Exception as error:
                conn.send(f"first call failed: {error!r}")
                return False
            result.answered += 1
            conn.send("ready")
            window: Window = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            await asyncio.sleep(max(0.0, window.start - time.monotonic()))
            await asyncio.gather(*(caller(send, payloads, window, result) for _ in range(callers)))
            return True

    if asyncio.run(main()):
        conn.send(result)


async def caller(send: Send, payloads: Iterator[bytes], window: Window, result: GeneratorResult) -> None:
    """One client: its next call goes out when the answer to the previous one has arrived."""
    while time.monotonic() < window.end:
        payload = next(payloads)
        sent = time.monotonic()
        try:
            await send(payload)
        except Exception as error:  # counted and shown: a bench must not hide failures
            result.errors += 1
            result.first_error = result.first_error or repr(error)[:500]
            continue
        done = time.monotonic()
        result.answered += 1
        if window.measure_from <= done <= window.end:
            result.in_window += 1
            result.latencies.append(done - sent)


@dataclass
class Figures:
    rate: float  # events per second (calls per second when a call is one event)
    p50_ms: float
    p99_ms: float
    answered_events: int
    errors: int

    def line(self, unit: str) -> str:
        return f"{self.rate:>10,.0f} {unit}  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:7.1f} ms"


def run_load(load: Load, generators: int, warmup: float, duration: float) -> Figures:
    """Drive `load` from `generators` processes through warm-up and a `duration`-second window."""
    ctx = multiprocessing.get_context("spawn")
    processes = min(generators, load.callers)
    shares = [load.callers // processes + (i < load.callers % processes) for i in range(processes)]
    run = f"r{time.time_ns()}"
    pipes, workers = [], []
    for i, share in enumerate(shares):
        parent, child = ctx.Pipe()
        worker = ctx.Process(target=generator_process, args=(load, share, f"{run}-{i}", warmup + duration, child))
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        if (message := pipe.recv()) != "ready":
            raise RuntimeError(f"a load generator did not start: {message}")
    window = Window(time.monotonic() + 0.2, warmup, duration)
    for pipe in pipes:
        pipe.send(window)
    results: list[GeneratorResult] = [pipe.recv() for pipe in pipes]
    for worker in workers:
        worker.join()
    latencies = sorted(x for r in results for x in r.latencies)
    errors = sum(r.errors for r in results)
    if errors:
        print(f"    {errors} calls failed; first: {next(r.first_error for r in results if r.first_error)}")
    late = sum(r.built_late for r in results)
    if late:
        print(f"    {late} requests were built while the clock ran (raise max_calls_per_s)")
    if not latencies:
        raise SystemExit("no call was answered inside the window")
    return Figures(
        rate=sum(r.in_window for r in results) * load.events_per_call / duration,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        answered_events=sum(r.answered for r in results) * load.events_per_call,
        errors=errors,
    )


# --- the limits ---------------------------------------------------------------------------


def trivial_grpc_server(conn: Connection) -> None:
    """A grpc.aio server whose RecordUsage parses the event and answers an empty response."""

    async def answer(request: usage_pb2.UsageEvent, context: grpc.aio.ServicerContext) -> Any:
        return usage_pb2.RecordUsageResponse()

    async def main() -> None:
        server = grpc.aio.server(options=GRPC_OPTIONS)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("openspanner.v1.UsageService", {
            "RecordUsage": grpc.unary_unary_rpc_method_handler(
                answer, request_deserializer=usage_pb2.UsageEvent.FromString,
                response_serializer=usage_pb2.RecordUsageResponse.SerializeToString,
            ),
        }),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        conn.send(f"127.0.0.1:{port}")
        await server.wait_for_termination()

    asyncio.run(main())


def trivial_http_server(conn: Connection) -> None:
    """FastAPI on uvicorn, as the server's REST API: POST /v1/usages reads the body and answers a small JSON."""
    answer = b'{"idempotency_key": "k", "outcome": "accepted"}'
    app = fastapi.FastAPI()

    @app.post("/v1/usages", status_code=201)
    async def handle(request: fastapi.Request) -> fastapi.Response:
        await request.body()
        return fastapi.Response(answer, status_code=201, media_type="application/json")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools", lifespan="off"
    ))

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        conn.send(f"http://127.0.0.1:{port}/v1/usages")
        await serving

    asyncio.run(main())


@contextlib.contextmanager
def limit_server(target: Callable[[Connection], None]) -> Iterator[str]:
    """Run a trivial server in its own process; yields its address."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("trivial server did not start")
        yield parent.recv()
    finally:
        process.terminate()
        process.join()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: steadier than wall time on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the real server ----------------------------------------------------------------------


def stored_events(data_dir: Path, database: str) -> int:
    """Distinct events of the bench meter in a stopped server's storage."""
    with storage_at(data_dir, database) as client:
        return stored_totals(client, METER)[0]


def against_server(make_load: Callable[[ServerProcess], Load], generators: int, warmup: float,
                   duration: float) -> Figures:
    """Start a fresh server with the bench meter, drive it, stop it, check it stored what it acknowledged."""
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir), "bench", OPENSPANNER_LOG_LEVEL="info")
        try:
            client = Client(server.address)
            client.call(client.meters.CreateMeter, meter_pb2.Meter(
                name=METER, aggregation=meter_pb2.sum, event_retention_days=30,
                dimensions=[meter_pb2.Dimension(name=d, type=meter_pb2.string) for d in DIMENSIONS],
            ))
            client.close()
            cpu_start = cpu_seconds(server.process.pid)
            figures = run_load(make_load(server), generators, warmup, duration)
            cpu = cpu_seconds(server.process.pid) - cpu_start
        finally:
            server.stop()
        stored = in_child(stored_events, server.data_dir, server.database)
    verdict = "exact" if stored == figures.answered_events else "MISMATCH"
    print(f"    stored {stored:,} events, acknowledged {figures.answered_events:,} -> {verdict};"
          f" server CPU {cpu / max(figures.answered_events, 1) * 1e6:,.0f} us per event (all threads, warm-up"
          f" included; load average {os.getloadavg()[0]:.1f})")
    if verdict != "exact":
        raise SystemExit(1)
    return figures


# --- the run ------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    figure: str
    limit: str
    ratio: float | None
    target: str
    met: bool

    def verdict(self) -> str:
        ratio = f"ratio {self.ratio:.2f}, " if self.ratio is not None else ""
        return f"{ratio}target {self.target}: {'met' if self.met else 'MISSED'}"


def compare(scenario: str, figure: float, limit: float, target: float) -> Row:
    ratio = figure / limit
    return Row(scenario, f"{figure:,.0f} /s", f"{limit:,.0f} /s", ratio, f"ratio >= {target}", ratio >= target)


def report(rows: list[Row], *new: Row) -> None:
    """Print the verdicts beside the figure just measured; keep them for the summary."""
    print("    " + "; ".join(r.verdict() for r in new))
    rows.extend(new)


def print_summary(rows: list[Row]) -> None:
    print(f"\n{'scenario':<30}{'figure':>14}{'limit':>14}{'ratio':>7}  {'target':<16}result")
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        print(f"{r.scenario:<30}{r.figure:>14}{r.limit:>14}{ratio:>7}  {r.target:<16}{'met' if r.met else 'MISSED'}")


SCENARIOS = ("grpc", "http", "bulk", "import")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per scenario")
    parser.add_argument("--warmup", type=float, default=2, help="seconds before each measurement")
    parser.add_argument("--callers", type=int, default=64, help="concurrent unary callers")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument("--bulk-events", type=int, default=10_000, help="events per RecordUsages call")
    parser.add_argument("--bulk-in-flight", type=int, default=4, help="RecordUsages calls in flight")
    parser.add_argument("--import-rows", type=int, default=200_000, help="rows of the import run; 0 skips it")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS),
        help="comma-separated scenarios to run, each with its limit: grpc (RecordUsage), http (POST /v1/usages;"
        " with grpc, also its ratio to RecordUsage), bulk (RecordUsages), import",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; choose among {', '.join(SCENARIOS)}")
    common = (args.generators, args.warmup, args.duration)
    rows: list[Row] = []

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.callers} callers in"
          f" {args.generators} generator processes; {args.warmup:g} s warm-up, {args.duration:g} s measured")

    unary: Figures | None = None
    if "grpc" in only:
        print("limit: trivial grpc.aio RecordUsage handler")
        with limit_server(trivial_grpc_server) as address:
            grpc_limit = run_load(Load("grpc", address, event_bytes, args.callers, 20_000), *common)
        print(f"    {grpc_limit.line('calls/s')}")
        print("RecordUsage, one event per call")
        unary = against_server(lambda s: Load("grpc", s.address, event_bytes, args.callers, 5_000), *common)
        print(f"    {unary.line('events/s')}")
        report(rows, compare("RecordUsage (gRPC)", unary.rate, grpc_limit.rate, 0.4),
               Row("RecordUsage p99", f"{unary.p99_ms:,.0f} ms", f"{grpc_limit.p99_ms:,.1f} ms", None,
                   "p99 < 100 ms", unary.p99_ms < 100))

    if "http" in only:
        print("limit: trivial FastAPI POST handler on uvicorn")
        with limit_server(trivial_http_server) as url:
            http_limit = run_load(Load("http", url, json_bytes, args.callers, 10_000), *common)
        print(f"    {http_limit.line('calls/s')}")
        print("POST /v1/usages, one event per call")
        http = against_server(lambda s: Load("http", f"{s.base_url}/v1/usages", json_bytes, args.callers, 3_000),
                              *common)
        print(f"    {http.line('events/s')}")
        verdicts = [compare("POST /v1/usages (HTTP)", http.rate, http_limit.rate, 0.3)]
        if unary is not None:  # the same batcher behind both edges: what the REST edge costs
            verdicts.append(compare("POST /v1/usages / RecordUsage", http.rate, unary.rate, 0.85))
        report(rows, *verdicts)

    engine = 0.0
    if only & {"bulk", "import"}:
        print(f"limit: engine INSERT ... SELECT FROM numbers({args.bulk_events})")
        engine = in_child(engine_rows_per_s, args.duration, args.bulk_events, METER, UNARY_SHAPE, EVENT_SPACING_US)
        print(f"    {engine:>10,.0f} rows/s")
    if "bulk" in only:
        print(f"RecordUsages, {args.bulk_events:,} events per call, {args.bulk_in_flight} in flight")
        bulk_payload = functools.partial(bulk_bytes, args.bulk_events)
        bulk = against_server(lambda s: Load("grpc", s.address, bulk_payload, args.bulk_in_flight,
                                             50_000 / args.bulk_events, RECORD_USAGES, args.bulk_events), *common)
        print(f"    {bulk.line('events/s')}")
        report(rows, compare(f"RecordUsages ({args.bulk_events:,}/call)", bulk.rate, engine, 0.35))

    if "import" in only and args.import_rows:
        print(f"openspanner import, {args.import_rows:,} rows in batches of {args.bulk_events:,}"
              " (bench/import_bench.py)")
        with tempfile.TemporaryDirectory() as work:
            imported = in_child(run_import, Path(work), args.import_rows, args.bulk_events)
        if not imported.stored_exact:
            raise SystemExit(1)
        report(rows, compare(f"import ({args.import_rows:,} rows)", imported.rows_per_s, engine, 0.25))

    print_summary(rows)


if __name__ == "__main__":
    main()
