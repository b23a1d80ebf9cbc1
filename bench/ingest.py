"""Streaming ingest benchmark: sustained events/s, ack latency, server memory.

Starts `openspanner serve` on the embedded engine in its own process and
drives it from load-generator processes over loopback. Requests are built and
serialized before the clock starts, so the figures measure the server (and
the loopback), not protobuf construction in the generator. Each reading is
stamped as if it were taken when it is sent: the streams' timestamps advance
at the scenario's rate together (70,000/s, the target, for scenarios without
a rate), starting two minutes back.

    python bench/ingest.py                     # the standard scenarios
    python bench/ingest.py --only "1 stream"   # one of them (by a part of its name)
    python bench/ingest.py --soak-minutes 5    # memory over a long stream

Each scenario prints: events/s acknowledged, ack latency p50/p99 (from
sending a message to receiving the acks of all its events), and the server's
RSS (peak and at the end), and the server process's CPU time per event
(user + system, all threads: steadier than wall time on a shared machine).

Before the scenarios, the same embedded engine inserts rows shaped like the
readings that it generates itself (bench/engine_limit.py): the single stream's
events/s is judged as a ratio to that rate, measured in the same run, so a
busy machine moves both. The targets: one stream of 500-reading messages at
least TARGET_STREAM_RATIO of the engine's rate with at most
TARGET_CPU_US_PER_EVENT of server CPU per event; the paced 50 streams
acknowledged with p99 under TARGET_PACED_P99_MS.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine_limit import READINGS_SHAPE, engine_rows_per_s, in_child  # noqa: E402

from openspanner.v1 import meter_pb2, usage_pb2  # noqa: E402
from tests.harness import ADMIN_KEY, Client, ServerProcess, start_server  # noqa: E402

METHOD = "/openspanner.v1.UsageService/StreamDeviceTelemetry"
METADATA = (("authorization", f"Bearer {ADMIN_KEY}"),)
DIMENSIONS = ("device_id", "fleet", "region")
RSS_SAMPLE_SECONDS = 60
# Events per second that timestamps advance by in scenarios without a target rate.
ASSUMED_RATE = 70_000
TARGET_STREAM_RATIO = 0.3
TARGET_CPU_US_PER_EVENT = 9.0
TARGET_PACED_P99_MS = 100.0


@dataclass
class Scenario:
    name: str
    streams: int
    events_per_stream: int
    events_per_message: int
    # Events per second for all streams together; 0 = as fast as acks allow.
    target_rate: float = 0

    @property
    def is_single_stream(self) -> bool:
        return self.streams == 1 and not self.target_rate

    @property
    def is_paced(self) -> bool:
        return bool(self.target_rate)


def build_messages(stream: int, scenario: Scenario, run: str, epoch: float) -> list[bytes]:
    start = usage_pb2.DeviceTelemetryRequest(
        start=usage_pb2.DeviceTelemetryStart(meter="readings", subject=f"tenant-{stream % 20}")
    )
    messages = [start.SerializeToString()]
    spacing = scenario.streams / (scenario.target_rate or ASSUMED_RATE)  # seconds between a stream's readings
    first_at = epoch - 120 + spacing * stream / scenario.streams
    for first in range(0, scenario.events_per_stream, scenario.events_per_message):
        batch = usage_pb2.DeviceReadingBatch(first_sequence=first + 1)
        for i in range(first, min(first + scenario.events_per_message, scenario.events_per_stream)):
            reading = batch.readings.add(
                idempotency_key=f"{run}-{stream}-{i}",
                device_id=f"dev-{stream}-{i % 50}",
                fleet=f"fleet-{i % 5}",
                region=("eu", "us", "ap")[i % 3],
                value=1.0,
            )
            reading.timestamp.FromNanoseconds(int((first_at + i * spacing) * 1e9))
        messages.append(usage_pb2.DeviceTelemetryRequest(batch=batch).SerializeToString())
    return messages


async def drive_stream(
    address: str, messages: list[bytes], rate_per_stream: float, phase: float = 0
) -> tuple[int, list[float]]:
    """Send pre-built messages on one stream; return (events acked, per-message ack latencies).

    A paced stream starts `phase` seconds late, so that paced streams spread
    their messages over time as independent clients do, instead of all
    sending at the same instants.
    """
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream(
            METHOD, request_serializer=lambda b: b, response_deserializer=usage_pb2.StreamAck.FromString
        )(metadata=METADATA)
        sent_at: dict[int, tuple[float, int]] = {}  # first sequence -> (time, size)
        remaining: dict[int, int] = {}
        latencies: list[float] = []
        acked = 0
        batch_sizes = [usage_pb2.DeviceTelemetryRequest.FromString(m).batch for m in messages[1:]]

        async def writer() -> None:
            await call.write(messages[0])
            started = time.perf_counter() + phase
            events_sent = 0
            for message, batch in zip(messages[1:], batch_sizes, strict=True):
                if rate_per_stream:
                    delay = started + events_sent / rate_per_stream - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                first = batch.first_sequence
                sent_at[first] = (time.perf_counter(), len(batch.readings))
                remaining[first] = len(batch.readings)
                await call.write(message)
                events_sent += len(batch.readings)

        write_task = asyncio.create_task(writer())
        total = sum(len(b.readings) for b in batch_sizes)
        firsts = sorted(b.first_sequence for b in batch_sizes)
        async for ack in call:
            now = time.perf_counter()
            for item in ack.acks:
                count = item.last_sequence - item.first_sequence + 1
                acked += count
                message_first = _message_of(firsts, item.first_sequence)
                remaining[message_first] -= count
                if remaining[message_first] == 0:
                    latencies.append(now - sent_at[message_first][0])
            if acked >= total:
                break
        await write_task
        await call.done_writing()
        return acked, latencies


def _message_of(firsts: list[int], sequence: int) -> int:
    import bisect

    return firsts[bisect.bisect_right(firsts, sequence) - 1]


def generator_process(
    address: str, scenario: Scenario, streams: list[int], run: str, out: multiprocessing.Queue  # type: ignore[type-arg]
) -> None:
    epoch = time.time()
    all_messages = {s: build_messages(s, scenario, run, epoch) for s in streams}
    rate = scenario.target_rate / scenario.streams if scenario.target_rate else 0
    out.put(("ready", None))

    interval = scenario.events_per_message / rate if rate else 0  # between two messages of a stream

    async def main() -> list[tuple[int, list[float]]]:
        return list(await asyncio.gather(*(
            drive_stream(address, all_messages[s], rate, phase=interval * s / scenario.streams) for s in streams
        )))

    started = time.perf_counter()
    results = asyncio.run(main())
    out.put(("done", (time.perf_counter() - started, results)))


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process (or one of its threads): steadier than wall time on a busy machine."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_figures(server: ServerProcess, since_line: int) -> str:
    """How the server's batches looked: size and where their write time went."""
    batches = [e for e in server.log_events()[since_line:] if e.get("event") == "batch written"]
    if not batches:
        return "no batches"
    n = len(batches)

    def spread(field: str) -> str:
        times = sorted(b[field] for b in batches)
        return f"{sum(times) / n:.0f} ms (p50 {times[n // 2]:.0f}, p99 {times[int(n * 0.99)]:.0f})"

    return (
        f"{n} batches, {sum(b['events'] for b in batches) / n:,.0f} events each,"
        f" look-up {spread('lookup_ms')}, insert {spread('insert_ms')}"
    )


def run_scenario(address: str, server_pid: int, scenario: Scenario, processes: int) -> dict[str, Any]:
    run = f"{scenario.name}-{time.time_ns()}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    groups = [list(range(scenario.streams))[i::processes] for i in range(processes)]
    workers = [ctx.Process(target=generator_process, args=(address, scenario, g, run, out)) for g in groups if g]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert out.get()[0] == "ready"
    rss_start = rss_kib(server_pid, "VmRSS")
    cpu_start = cpu_seconds(server_pid)
    # The main thread runs the event loop (gRPC, decoding, validation, acks);
    # the rest is the storage threads, the engine's own threads and gRPC's poller.
    loop_cpu_start = cpu_seconds(server_pid, server_pid)
    started = time.perf_counter()
    rss_samples: list[float] = []
    stop_sampling = threading.Event()

    def sample_rss() -> None:
        while not stop_sampling.wait(RSS_SAMPLE_SECONDS):
            rss_samples.append(rss_kib(server_pid, "VmRSS") / 1024)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    results = [out.get()[1] for _ in workers]
    stop_sampling.set()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server_pid) - cpu_start
    loop_cpu = cpu_seconds(server_pid, server_pid) - loop_cpu_start
    for worker in workers:
        worker.join()
    acked = sum(a for _, streams in results for a, _ in streams)
    latencies = sorted(x for _, streams in results for _, lat in streams for x in lat)
    return {
        "events": acked,
        "seconds": elapsed,
        "events_per_s": acked / elapsed,
        "server_cpu_us_per_event": cpu / acked * 1e6,
        "loop_cpu_us_per_event": loop_cpu / acked * 1e6,
        "ack_p50_ms": statistics.median(latencies) * 1000,
        "ack_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rss_start_mib": rss_start / 1024,
        "rss_end_mib": rss_kib(server_pid, "VmRSS") / 1024,
        "rss_every_minute": rss_samples,
        "rss_peak_mib": rss_kib(server_pid, "VmHWM") / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per throughput scenario")
    parser.add_argument("--soak-minutes", type=float, default=0, help="also stream at 20k/s this long")
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument("--engine-seconds", type=float, default=10, help="seconds of the engine's own inserts")
    parser.add_argument("--engine-rows", type=int, default=10_000, help="rows per engine insert (as a batch)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="server setting, e.g. --set batch_linger_ms=100 (as OPENSPANNER_BATCH_LINGER_MS)",
    )
    args = parser.parse_args()

    scenarios = [
        Scenario("1 stream, 500/msg, max rate", 1, args.events, 500),
        Scenario("50 streams, 100/msg, max rate", 50, args.events // 50, 100),
        Scenario("50 streams, 200/msg, 20k/s", 50, 400_000 // 50, 200, target_rate=20_000),
    ]
    if args.soak_minutes:
        total = int(args.soak_minutes * 60 * 20_000)
        scenarios.append(Scenario(f"soak {args.soak_minutes} min, 1 stream at 20k/s", 1, total, 500, 20_000))

    scenarios = [s for s in scenarios if args.only in s.name]

    engine = 0.0
    if any(s.is_single_stream for s in scenarios):
        engine = in_child(engine_rows_per_s, args.engine_seconds, args.engine_rows, "readings", READINGS_SHAPE,
                          int(1e6 / ASSUMED_RATE))
        print(f"limit: engine INSERT ... SELECT FROM numbers({args.engine_rows:,}): {engine:,.0f} rows/s"
              f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    verdicts: list[str] = []

    with tempfile.TemporaryDirectory() as data_dir:
        settings = {f"OPENSPANNER_{name.upper()}": value for name, _, value in (a.partition("=") for a in args.set)}
        # Debug logs carry the batch figures; the tests' harness refreshes caches
        # every second, the bench keeps the server's default.
        defaults = {"OPENSPANNER_LOG_LEVEL": "debug", "OPENSPANNER_CACHE_REFRESH_SECONDS": "5"}
        server = start_server(Path(data_dir), "bench", **{**defaults, **settings})
        try:
            client = Client(server.address)
            client.call(client.meters.CreateMeter, meter_pb2.Meter(
                name="readings", aggregation=meter_pb2.sum,
                dimensions=[meter_pb2.Dimension(name=d, type=meter_pb2.string) for d in DIMENSIONS],
            ))
            print(f"machine: {os.cpu_count()} cores; server pid {server.process.pid}; embedded engine")
            print(f"{'scenario':<40}{'events':>10}{'events/s':>10}{'ack p50':>9}{'ack p99':>9}"
                  f"{'RSS start':>11}{'RSS end':>9}{'RSS peak':>10}{'CPU/event':>11}")
            for scenario in scenarios:
                log_position = len(server.log_lines)
                r = run_scenario(server.address, server.process.pid, scenario, args.generators)
                print(f"{scenario.name:<40}{r['events']:>10,.0f}{r['events_per_s']:>10,.0f}"
                      f"{r['ack_p50_ms']:>7.0f}ms{r['ack_p99_ms']:>7.0f}ms"
                      f"{r['rss_start_mib']:>8.0f}MiB{r['rss_end_mib']:>6.0f}MiB{r['rss_peak_mib']:>7.0f}MiB"
                      f"{r['server_cpu_us_per_event']:>9.1f}us",
                      flush=True)
                print(f"{'':<4}{batch_figures(server, log_position)}", flush=True)
                print(f"{'':<4}CPU per event: event loop {r['loop_cpu_us_per_event']:.1f} us, other threads"
                      f" (storage, engine, gRPC poller) {r['server_cpu_us_per_event'] - r['loop_cpu_us_per_event']:.1f}"
                      f" us; load average {os.getloadavg()[0]:.1f}", flush=True)
                verdicts += judge(scenario, r, engine)
                if r["rss_every_minute"]:
                    print(f"{'':<4}RSS each minute (MiB): {' '.join(f'{m:.0f}' for m in r['rss_every_minute'])}")
        finally:
            server.stop()
    for verdict in verdicts:
        print(verdict)


def judge(scenario: Scenario, figures: dict[str, Any], engine: float) -> list[str]:
    """The targets a scenario is held to, each with its figure and whether it was met."""
    def line(name: str, figure: str, met: bool) -> str:
        return f"{scenario.name:<40}{name:<36}{figure:>16}  {'met' if met else 'MISSED'}"

    verdicts = []
    if scenario.is_single_stream and engine:
        ratio = figures["events_per_s"] / engine
        verdicts.append(line(f"events/s / engine >= {TARGET_STREAM_RATIO}", f"{ratio:.2f}",
                             ratio >= TARGET_STREAM_RATIO))
    if scenario.is_single_stream:
        cpu = figures["server_cpu_us_per_event"]
        verdicts.append(line(f"server CPU/event <= {TARGET_CPU_US_PER_EVENT:g} us", f"{cpu:.1f} us",
                             cpu <= TARGET_CPU_US_PER_EVENT))
    if scenario.is_paced:
        p99 = figures["ack_p99_ms"]
        verdicts.append(line(f"ack p99 < {TARGET_PACED_P99_MS:g} ms", f"{p99:.0f} ms", p99 < TARGET_PACED_P99_MS))
    return verdicts


if __name__ == "__main__":
    main()
