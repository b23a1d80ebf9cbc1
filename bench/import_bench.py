"""Import benchmark: rows/s of `openspanner import` for a large JSONL file.

Writes a JSONL file (1,000,000 rows by default, shaped like the Historical
Backfill seed: subject, quantity, timestamp, three string dimensions), starts
`openspanner serve` on the embedded engine, and times the real CLI importing
it over loopback. Prints rows/s and the CPU seconds the importer and the
server each used, which shows which side limits the rate on this machine.

    python bench/import_bench.py [--rows 1000000] [--batch-size 10000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openspanner.v1 import meter_pb2  # noqa: E402
from tests.harness import ADMIN_KEY, Client, start_server, storage, stored_totals  # noqa: E402

METER = "api_requests"


def write_file(path: Path, rows: int) -> float:
    """Write the input; returns the sum of quantities, to check what got stored."""
    base = int(time.time()) - 30 * 86_400
    total = 0
    with path.open("w") as out:
        for i in range(rows):
            quantity = i % 97 + 1
            total += quantity
            out.write(json.dumps({
                "subject": f"org_{i % 1000}",
                "quantity": quantity,
                "timestamp": base + i,
                "source": "legacy_billing",
                "import_batch": "2026_q1_backfill",
                "region": ("us-east", "eu-west", "ap-south")[i % 3],
            }) + "\n")
    return float(total)


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ImportResult:
    rows: int
    seconds: float
    importer_cpu: float
    server_cpu: float
    stored_exact: bool

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def run_import(work: Path, rows: int, batch_size: int = 10_000, concurrency: int = 4) -> ImportResult:
    """Write a `rows`-row file under `work`, import it into a fresh server there, check what got stored.

    A function of its own so that bench/unary.py measures the same import as
    this bench, as a ratio to the engine's own insert rate.
    """
    path = work / "history.jsonl"
    started = time.perf_counter()
    expected_total = write_file(path, rows)
    print(f"machine: {os.cpu_count()} cores; embedded engine; {rows:,} rows,"
          f" {path.stat().st_size / 1e6:,.0f} MB JSONL (written in {time.perf_counter() - started:.1f}s)")
    server = start_server(work / "data", "bench", OPENSPANNER_LOG_LEVEL="info")
    try:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, meter_pb2.Meter(
            name=METER, aggregation=meter_pb2.sum, event_retention_days=365,
            dimensions=[meter_pb2.Dimension(name=d, type=meter_pb2.string)
                        for d in ("source", "import_batch", "region")],
        ))
        client.close()
        server_cpu = server_cpu_seconds(server.process.pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "openspanner", "import", str(path), "--meter", METER,
             "--key", "{source}:{subject}:{meter}:{row_id}", "--server", server.address,
             "--api-key", ADMIN_KEY, "--progress", "none",
             "--batch-size", str(batch_size), "--concurrency", str(concurrency)],
            capture_output=True, text=True,
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = server_cpu_seconds(server.process.pid) - server_cpu
    finally:
        server.stop()
    if result.returncode != 0:
        raise SystemExit(f"import failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    with storage(server) as ch:
        count, total = stored_totals(ch, METER)
    importer_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"import: {rows / elapsed:,.0f} rows/s ({elapsed:.1f}s wall;"
          f" batch {batch_size:,}, {concurrency} in flight)")
    print(f"cpu: importer {importer_cpu:.1f}s ({rows / importer_cpu:,.0f} rows per cpu-second),"
          f" server {server_cpu:.1f}s ({rows / server_cpu:,.0f} rows per cpu-second)")
    exact = (count, total) == (rows, expected_total)
    print(f"stored: {count:,} events, sum {total:,.0f} -> {'exact' if exact else 'MISMATCH'}")
    return ImportResult(rows, elapsed, importer_cpu, server_cpu, exact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        result = run_import(Path(work), args.rows, args.batch_size, args.concurrency)
    if not result.stored_exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
