"""Export jobs end to end on a real server (docs/exports.md): the product's usage_buckets CSV,
raw event exports compared row by row with the events API, progress, cancel and retry, and a
running export picked up again after SIGKILL.

The default ring exports 100,000 events; the million events of the issue, with the export's
peak memory measured in the server process, run under the `slow` mark (docs/exports.md).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from openspanner.client import Client as OurClient
from openspanner.client import FailedPreconditionError
from openspanner.v1 import export_pb2, export_pb2_grpc
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, start_server, storage_at
from tests.support.http_calls import http, request

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=2)
BULK = 20_000


def create_meter(server: ServerProcess, name: str) -> None:
    code, body = http(server, "POST", "/v1/meters", {
        "name": name, "aggregation": "sum", "unit": "token", "event_retention_days": 30,
        "dimensions": [{"name": "model", "type": "string"}, {"name": "tokens", "type": "number"},
                       {"name": "cached", "type": "boolean", "required": False}],
    })
    assert code == 201, body


def load_events(server: ServerProcess, meter: str, count: int, subjects: int = 7) -> None:
    """`count` events spread over two days, through the bulk API, BULK at a time."""
    span_us = int((NOW - START).total_seconds() * 1_000_000) - 1
    for first in range(0, count, BULK):
        events = []
        for i in range(first, min(first + BULK, count)):
            at = START + timedelta(microseconds=(i * 86_399_999_977) % span_us)
            metadata: dict[str, Any] = {"model": ["gpt-4.1", "claude, opus", 'say "hi"'][i % 3], "tokens": i % 1000}
            if i % 5:
                metadata["cached"] = i % 2 == 0
            events.append({
                "idempotency_key": f"k{i}", "subject": f"org_{i % subjects}", "meter": meter,
                "quantity": i % 97 + 0.25, "timestamp": at.isoformat().replace("+00:00", "Z"), "metadata": metadata,
            })
        code, body = http(server, "POST", "/v1/usages/bulk", events)
        assert code == 201 and body["accepted"] == len(events), body


def start_export(server: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    code, job = http(server, "POST", "/v1/exports", body)
    assert code == 202, job
    assert job["status"] == "queued"
    return dict(job)


def export_when(server: ServerProcess, job_id: str, status: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, job = http(server, "GET", f"/v1/exports/{job_id}")
        assert code == 200, job
        if job["status"] == status:
            return dict(job)
        assert job["status"] not in {"completed", "failed", "canceled"} - {status}, job
        assert time.monotonic() < deadline, f"export is {job['status']}, never {status}: {job}"
        time.sleep(0.1)


def download(server: ServerProcess, job_id: str) -> tuple[dict[str, str], bytes]:
    code, headers, content = request(server, "GET", f"/v1/exports/{job_id}/download")
    assert code == 200, content[:500]
    return headers, content


def events_api(server: ServerProcess, meter: str, params: str = "") -> list[dict[str, Any]]:
    """Every event the events API lists, page by page."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        code, page = http(server, "GET", f"/v1/meters/{meter}/events?limit=1000{params}&cursor={cursor}")
        assert code == 200, page
        items.extend(page["items"])
        cursor = page.get("next_cursor", "")
        if not cursor:
            return items


def by_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In time order (parsed: RFC 3339 text with fractions of any length does not sort as text), then key."""
    return sorted(events, key=lambda e: (datetime.fromisoformat(e["timestamp"]), e["idempotency_key"]))


def csv_events(content: bytes) -> list[dict[str, Any]]:
    """The CSV's rows in the events API's JSON form."""
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    return [
        {"id": row["id"], "idempotency_key": row["idempotency_key"], "subject": row["subject"], "meter": row["meter"],
         "quantity": float(row["quantity"]), "timestamp": row["timestamp"], "received_at": row["received_at"],
         "metadata": json.loads(row["metadata"])}
        for row in rows
    ]


@pytest.fixture(scope="module")
def meter(shared_server: ServerProcess) -> Iterator[str]:
    name = f"export_{uuid.uuid4().hex[:8]}"
    create_meter(shared_server, name)
    load_events(shared_server, name, 2_000)
    yield name


def test_usage_buckets_export_is_the_products_csv_export_as_a_job(shared_server: ServerProcess, meter: str) -> None:
    query = {"meter": meter, "from": START.isoformat(), "to": (NOW + timedelta(hours=1)).isoformat(),
             "bucket_size": "hour", "group_by": ["subject", "model"], "limit": 1000,
             "filter": {"type": "condition", "field": "metadata.model", "op": "neq", "value": "claude, opus"}}
    job = start_export(shared_server, {"kind": "usage_buckets", "format": "csv", "query": query})
    assert job["kind"] == "usage_buckets" and job["format"] == "csv" and job["query"] == query
    assert "download_url" not in job and "completed_at" not in job

    done = export_when(shared_server, job["id"], "completed")
    headers, content = download(shared_server, job["id"])
    code, _, direct = request(shared_server, "POST", "/v1/usages/export", query)

    assert code == 200
    assert content == direct
    assert headers["content-type"].startswith("text/csv")
    assert f'filename="open-spanner-export-{job["id"]}.csv"' in headers["content-disposition"]
    assert done["download_url"] == f"/v1/exports/{job['id']}/download"
    assert done["artifact_size"] == len(content)
    assert done["rows_written"] == content.count(b"\n") - 1 > 0
    assert done["completed_at"] and done["expires_at"]
    code, listed = http(shared_server, "GET", "/v1/exports?limit=1000")
    assert code == 200 and done in listed["items"]


def test_an_event_export_is_the_events_api_row_by_row(shared_server: ServerProcess, meter: str) -> None:
    query = {"meter": meter, "subject": ["org_1", "org_2"], "start_time": (START + timedelta(hours=6)).isoformat(),
             "end_time": (NOW - timedelta(hours=3)).isoformat(), "filter": ["model:gpt-4.1", 'model:say "hi"']}
    params = ("&subject=org_1&subject=org_2&start_time=" + query["start_time"].replace("+", "%2B")
              + "&end_time=" + query["end_time"].replace("+", "%2B")
              + "&filter=model:gpt-4.1&filter=model:say%20%22hi%22")
    expected = by_time(events_api(shared_server, meter, params))
    jsonl = start_export(shared_server, {"kind": "events", "format": "jsonl", "query": query})
    csv_gz = start_export(shared_server, {"kind": "events", "format": "csv", "query": query, "gzip": True})

    export_when(shared_server, jsonl["id"], "completed")
    done = export_when(shared_server, csv_gz["id"], "completed")
    _, lines = download(shared_server, jsonl["id"])
    headers, packed = download(shared_server, csv_gz["id"])

    assert len(expected) > 100
    assert by_time([json.loads(line) for line in lines.splitlines()]) == expected
    assert headers["content-type"] == "application/gzip"
    assert by_time(csv_events(gzip.decompress(packed))) == expected
    assert done["rows_written"] == len(expected)


def test_bad_exports_are_refused_naming_the_field(shared_server: ServerProcess, meter: str) -> None:
    cases = [
        ({"kind": "usage_buckets", "query": {"meter": "no_such_meter", "from": "2026-01-01T00:00:00Z",
                                              "to": "2026-01-02T00:00:00Z"}}, 404, "query.meter"),
        ({"kind": "pdf", "query": {"meter": meter}}, 400, "kind"),
        ({"kind": "usage_buckets", "format": "jsonl", "query": {"meter": meter}}, 400, "format"),
        ({"kind": "events"}, 400, "query"),
        ({"kind": "events", "query": {"meter": meter, "start_time": "yesterday"}}, 400, "query.start_time"),
        ({"kind": "events", "query": {"meter": meter, "filter": ["nope:1"]}}, 400, "filter"),
        ({"kind": "events", "query": {"meter": meter, "colour": "red"}}, 400, "query.colour"),
        ({"kind": "usage_buckets", "query": {"meter": meter, "from": "2026-01-02T00:00:00Z",
                                              "to": "2026-01-01T00:00:00Z"}}, 400, ""),
    ]
    for body, status, field in cases:
        code, answer = http(shared_server, "POST", "/v1/exports", body)
        assert code == status, (body, answer)
        assert field in json.dumps(answer), (body, answer)
    assert http(shared_server, "GET", "/v1/exports/nope")[0] == 404


def test_cancel_and_retry_follow_the_products_states(tmp_path: Path) -> None:
    # Workers off: the job stays queued until this test lets a worker run it.
    with running_server(tmp_path, OPENSPANNER_WORKERS="false") as server:
        create_meter(server, "m")
        load_events(server, "m", 50)
        job = start_export(server, {"kind": "events", "format": "jsonl", "query": {"meter": "m"}})
        assert http(server, "POST", f"/v1/exports/{job['id']}/retry")[0] == 409
        assert http(server, "GET", f"/v1/exports/{job['id']}/download")[0] == 409

        code, canceled = http(server, "POST", f"/v1/exports/{job['id']}/cancel")
        assert code == 200 and canceled["status"] == "canceled" and canceled["error"] == "canceled by user"
        assert http(server, "POST", f"/v1/exports/{job['id']}/cancel")[0] == 409
        code, retried = http(server, "POST", f"/v1/exports/{job['id']}/retry")
        assert code == 200 and retried["status"] == "queued" and "error" not in retried
    with running_server(tmp_path, database=server.database) as server:
        done = export_when(server, job["id"], "completed")
        assert http(server, "POST", f"/v1/exports/{job['id']}/cancel")[0] == 409
        assert http(server, "POST", f"/v1/exports/{job['id']}/retry")[0] == 409
        _, lines = download(server, job["id"])
    assert done["rows_written"] == len(lines.splitlines()) == 50


def test_a_running_export_is_canceled_and_a_killed_one_runs_again_after_restart(tmp_path: Path) -> None:
    fast = {"OPENSPANNER_EXPORT_LEASE_SECONDS": "2", "OPENSPANNER_EXPORT_POLL_SECONDS": "0.2"}
    server = start_server(tmp_path, **fast)
    try:
        create_meter(server, "m")
        load_events(server, "m", 100_000)
        expected = by_time(events_api(server, "m"))
        # The cancel lands while the export runs: its next progress check stops it.
        job = start_export(server, {"kind": "events", "format": "csv", "query": {"meter": "m"}})
        export_when(server, job["id"], "running")
        code, canceled = http(server, "POST", f"/v1/exports/{job['id']}/cancel")
        assert code == 200 and canceled["status"] == "canceled"
        time.sleep(3)  # longer than a progress interval: a worker that ignored the cancel would have written
        code, later = http(server, "GET", f"/v1/exports/{job['id']}")
        assert later["status"] == "canceled" and "download_url" not in later, later
        killed = start_export(server, {"kind": "events", "format": "jsonl", "query": {"meter": "m"}})
        export_when(server, killed["id"], "running")
        server.stop(signal.SIGKILL)
    finally:
        server.stop(signal.SIGKILL)
    with running_server(tmp_path, database=server.database, **fast) as server:
        done = export_when(server, killed["id"], "completed")
        assert export_when(server, job["id"], "canceled")["status"] == "canceled"
        _, lines = download(server, killed["id"])
        assert by_time([json.loads(line) for line in lines.splitlines()]) == expected
    assert done["rows_written"] == 100_000


def vm_hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_million_event_export_streams_with_flat_memory(tmp_path: Path) -> None:
    count, subjects = 1_000_000, 50
    with running_server(tmp_path) as server:
        create_meter(server, "m")
    # Loaded through the storage layer, in seconds (the bulk API would take minutes).
    with storage_at(tmp_path, server.database) as storage:
        storage.command(
            "INSERT INTO usage_events (meter, subject, timestamp, idempotency_key, quantity, metadata, ingested_at,"
            " retention_days) SELECT 'm', concat('org_', toString(number % {subjects:UInt32})),"
            " fromUnixTimestamp64Micro({start_us:Int64} + toInt64((number * 86399999977) % {span_us:UInt64}), 'UTC'),"
            " concat('k', toString(number)), (number % 97) + 0.25,"
            " map('model', ['gpt-4.1', 'claude, opus', 'say \"hi\"'][number % 3 + 1],"
            " 'tokens', toString(number % 1000)),"
            " now64(6), 30 FROM numbers({count:UInt64})",
            parameters={"subjects": subjects, "start_us": int(START.timestamp() * 1_000_000),
                        "span_us": int((NOW - START).total_seconds() * 1_000_000), "count": count},
        )
    # A fresh process, warmed by a small export (its code paths, clients and the engine's caches):
    # the growth measured after it is what the number of events costs.
    with running_server(tmp_path, database=server.database) as server:
        warm = start_export(server, {"kind": "events", "format": "jsonl", "query": {"meter": "m", "subject": "org_0"}})
        export_when(server, warm["id"], "completed", timeout=3000)
        before = vm_hwm_bytes(server.process.pid)
        job = start_export(server, {"kind": "events", "format": "jsonl", "query": {"meter": "m"}})
        done = export_when(server, job["id"], "completed", timeout=3000)
        growth = vm_hwm_bytes(server.process.pid) - before
        artifact = tmp_path / "export.jsonl"
        _, content = download(server, job["id"])
        artifact.write_bytes(content)
        del content
        # Row by row, one subject at a time (the export's order: subject, then time).
        seen = 0
        with artifact.open() as lines:
            exported = (json.loads(line) for line in lines)
            for subject in sorted(f"org_{n}" for n in range(subjects)):
                expected = by_time(events_api(server, "m", f"&subject={subject}"))
                assert [next(exported) for _ in expected] == expected, subject
                seen += len(expected)
            assert next(exported, None) is None
    assert done["rows_written"] == seen == count
    assert growth < done["artifact_size"] / 8, (growth, done["artifact_size"])


def test_the_grpc_export_service_makes_the_same_jobs(shared_server: ServerProcess, meter: str) -> None:
    client = Client(shared_server.address)
    stub = export_pb2_grpc.ExportServiceStub(client.channel)
    try:
        query = {"meter": meter, "subject": "org_3"}
        created = client.call(stub.CreateExport, export_pb2.CreateExportRequest(
            kind="events", format="jsonl", query_json=json.dumps(query)))
        assert created.export.status == "queued" and json.loads(created.export.query_json) == query
        done = export_when(shared_server, created.export.id, "completed")
        got = client.call(stub.GetExport, export_pb2.GetExportRequest(id=created.export.id)).export
        chunks = list(stub.DownloadExport(export_pb2.DownloadExportRequest(id=got.id), metadata=client.metadata))
        _, content = download(shared_server, got.id)
        with pytest.raises(grpc.RpcError) as refused:
            client.call(stub.CancelExport, export_pb2.CancelExportRequest(id=got.id))
        listed = client.call(stub.ListExports, export_pb2.ListExportsRequest(limit=1000)).exports
    finally:
        client.close()
    assert got.status == "completed" and got.rows_written == done["rows_written"] > 0
    assert got.download_url == done["download_url"] and got.artifact_size == len(content)
    assert b"".join(chunk.chunk for chunk in chunks) == content
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert got.id in {job.id for job in listed}


def test_the_command_line_and_the_python_client_start_show_and_download(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": shared_server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "openspanner", "exports", *args],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    started = json.loads(cli("start", "events", json.dumps({"meter": meter, "subject": "org_4"}), "--format",
                             "jsonl", "--gzip"))
    assert started["status"] == "queued" and started["gzip"] is True
    export_when(shared_server, started["id"], "completed")
    shown = json.loads(cli("show", started["id"]))
    cli("download", started["id"], str(tmp_path / "cli.jsonl.gz"))
    listing = cli("list", "--limit", "1000")
    with OurClient(shared_server.address, ADMIN_KEY) as client:
        written = client.download_export(started["id"], tmp_path / "client.jsonl.gz")
        with pytest.raises(FailedPreconditionError):
            client.retry_export(started["id"])
    _, content = download(shared_server, started["id"])

    assert shown["status"] == "completed" and int(shown["rows_written"]) > 0
    assert (tmp_path / "cli.jsonl.gz").read_bytes() == (tmp_path / "client.jsonl.gz").read_bytes() == content
    assert written == len(content)
    assert started["id"] in listing
