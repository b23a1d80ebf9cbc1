"""`openspanner import` through the real CLI against real servers and the embedded engine."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from openspanner.v1 import api_key_pb2, meter_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, storage, stored_totals

KEY = "{source}:{subject}:{meter}:{row_id}"


def meter_definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "aggregation": "sum",
        "event_retention_days": 365,
        "dimensions": [
            {"name": "region", "type": "string", "required": True},
            {"name": "cached", "type": "boolean", "required": False},
            {"name": "tokens.in", "type": "number", "required": False},
        ],
    }


def create_meter(server: ServerProcess, name: str) -> None:
    client = Client(server.address)
    client.call(client.meters.CreateMeter, json_format.ParseDict(meter_definition(name), meter_pb2.Meter()))
    client.close()


def usage_rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rows with integer quantities (exact sums), timestamps in the last days, mixed dimensions."""
    base = int(time.time()) - 3 * 86_400
    return [
        {
            "subject": f"org_{(i * 7 + seed) % 50}",
            "quantity": (i * 31 + seed) % 97 + 1,
            "timestamp": base + i,
            "region": ("eu", "us", "ap")[i % 3],
            "cached": i % 2 == 0,
            "tokens.in": i % 13,
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]], rename: dict[str, str] | None = None) -> Path:
    rename = rename or {}
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([rename.get(c, c) for c in rows[0]])
        for row in rows:
            writer.writerow(["true" if v is True else "false" if v is False else v for v in row.values()])
    return path


def totals(rows: list[dict[str, Any]]) -> tuple[int, float]:
    return len(rows), float(sum(row["quantity"] for row in rows))


def import_args(server: ServerProcess, path: Path | str, meter: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "openspanner", "import", str(path), "--meter", meter,
        "--server", server.address, "--progress", "log", *extra,
    ]


def run_import(
    server: ServerProcess,
    path: Path | str,
    meter: str,
    *extra: str,
    stdin: bytes | None = None,
    api_key: str = ADMIN_KEY,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSPANNER_", "OPEN_SPANNER_"))}
    env["OPENSPANNER_API_KEY"] = api_key
    return subprocess.run(
        import_args(server, path, meter, *extra),
        input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, env=env, timeout=240,
    )


def summary_counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The numbers of the summary lines, by their label ("rows", "accepted", ...)."""
    counts = {}
    for line in result.stdout.splitlines():
        label, _, number = line.strip().rpartition(" ")
        if label and number.replace(",", "").isdigit():
            counts[label.strip()] = int(number.replace(",", ""))
        elif line.strip().startswith("skipped"):
            counts["skipped"] = int(line.split()[2].replace(",", ""))
    return counts


def kill_after_batches(args: list[str], state_file: Path, batches: int) -> None:
    """Start an import and SIGKILL it once the state file names `batches` acknowledged batches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSPANNER_", "OPEN_SPANNER_"))}
    env["OPENSPANNER_API_KEY"] = ADMIN_KEY
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            lines = state_file.read_text().count("\n") if state_file.exists() else 0
            if lines - 1 >= batches:
                break
            assert process.poll() is None, "import ended before it could be killed"
            time.sleep(0.02)
        assert process.poll() is None, "import finished before it could be killed midway"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)


@pytest.fixture
def meter(shared_server: ServerProcess) -> str:
    name = f"imp_{uuid.uuid4().hex[:10]}"
    create_meter(shared_server, name)
    return name


@pytest.mark.slow
def test_killed_midway_and_run_again_stores_the_file_totals_exactly(tmp_path: Path) -> None:
    rows = usage_rows(100_000)
    path = write_jsonl(tmp_path / "history.jsonl", rows)
    with running_server(tmp_path / "data") as server:
        create_meter(server, "api_requests")
        args = import_args(server, path, "api_requests", "--key", KEY, "--batch-size", "2000")
        kill_after_batches(args, Path(f"{path}.import-state"), batches=8)

        again = run_import(server, path, "api_requests", "--key", KEY, "--batch-size", "2000")
        assert again.returncode == 0, again.stderr
        counts = summary_counts(again)
        # Batches acknowledged before the kill are answered with their first
        # answer; the rest are new: every row is counted once either way.
        assert counts["rows"] == 100_000
        assert counts["accepted"] + counts["duplicates"] == 100_000
        assert counts["rejected"] == 0

        # A different batch size makes new batch keys: every event is a duplicate.
        third = run_import(server, path, "api_requests", "--key", KEY, "--batch-size", "3000")
        assert third.returncode == 0, third.stderr
        assert summary_counts(third)["duplicates"] == 100_000
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == totals(rows)


@pytest.mark.slow
def test_resume_skips_acknowledged_batches_and_completes_exactly(tmp_path: Path) -> None:
    rows = usage_rows(100_000, seed=3)
    path = write_jsonl(tmp_path / "history.jsonl", rows)
    state_file = Path(f"{path}.import-state")
    with running_server(tmp_path / "data") as server:
        create_meter(server, "api_requests")
        args = import_args(server, path, "api_requests", "--key", KEY, "--batch-size", "2000",
                           "--ignore-column", "z", "--ignore-column", "y", "--ignore-column", "x")
        kill_after_batches(args, state_file, batches=10)
        acknowledged = {json.loads(line)["batch"] for line in state_file.read_text().splitlines()[1:]}

        # Options given again in another process (other hash seed) must mean the same import.
        ignored = ("--ignore-column", "x", "--ignore-column", "y", "--ignore-column", "z")
        resumed = run_import(
            server, path, "api_requests", "--key", KEY, "--batch-size", "2000", "--resume", *ignored
        )
        assert resumed.returncode == 0, resumed.stderr
        counts = summary_counts(resumed)
        assert "skipped" in counts, resumed.stdout
        assert counts["skipped"] == 2000 * len(acknowledged)
        assert counts["rows"] == 100_000 - counts["skipped"]
        assert counts["rejected"] == 0

        # Resuming with other options would skip batches that mean something else: refused.
        refused = run_import(server, path, "api_requests", "--key", KEY, "--batch-size", "5000", "--resume")
        assert refused.returncode == 2
        assert "batch_size" in refused.stderr
    with storage(server) as ch:
        assert stored_totals(ch, "api_requests") == totals(rows)


def test_csv_gzip_and_stdin_store_the_same_events_as_jsonl(tmp_path: Path) -> None:
    rows = usage_rows(3_000, seed=5)
    renamed = {"subject": "customer", "quantity": "amount", "timestamp": "ts"}
    ms_rows = [{**row, "timestamp": row["timestamp"] * 1000} for row in rows]  # epoch milliseconds
    rfc_rows = [
        {**row, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["timestamp"]))} for row in rows
    ]
    mapping = ["--subject-column", "customer", "--quantity-column", "amount", "--timestamp-column", "ts"]
    cases = {
        "jsonl": (write_jsonl(tmp_path / "a.jsonl", rows), []),
        "jsonl_gz": (write_jsonl(tmp_path / "b.jsonl.gz", rfc_rows), []),
        "csv": (write_csv(tmp_path / "c.csv", ms_rows, renamed), mapping),
        "csv_gz": (write_csv(tmp_path / "d.csv.gz", rows, renamed), mapping),
    }
    stdin_data = write_csv(tmp_path / "e.csv.gz", rfc_rows, renamed).read_bytes()
    with running_server(tmp_path / "data") as server:
        for name, (path, flags) in cases.items():
            create_meter(server, name)
            result = run_import(server, path, name, "--key", "{subject}:{row_id}", *flags)
            assert result.returncode == 0, result.stderr
            assert summary_counts(result)["accepted"] == len(rows)
        create_meter(server, "stdin_gz")
        piped = subprocess.run(
            import_args(server, "-", "stdin_gz", "--key", "{subject}:{row_id}", "--api-key", ADMIN_KEY, *mapping),
            input=stdin_data, capture_output=True, timeout=120,
        )
        assert piped.returncode == 0, piped.stderr
        assert not (tmp_path / "e.csv.gz.import-state").exists()
    with storage(server) as ch:
        for name in (*cases, "stdin_gz"):
            assert stored_totals(ch, name) == totals(rows), name
        # The same rows give the same events whatever the format: same keys,
        # same timestamps, same typed metadata.
        stored = {
            name: ch.query(
                "SELECT idempotency_key, subject, quantity, toUnixTimestamp64Micro(timestamp), metadata"
                " FROM usage_events FINAL WHERE meter = {m:String} ORDER BY idempotency_key",
                parameters={"m": name},
            ).result_rows
            for name in (*cases, "stdin_gz")
        }
    first = stored["jsonl"]
    assert first[0][4]["cached"] in ("true", "false") and first[0][4]["tokens.in"].isdigit()
    for name, events in stored.items():
        assert events == first, name


def test_rejects_file_names_each_refused_row_and_imports_again_once_fixed(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    rows: list[dict[str, Any]] = usage_rows(50)
    rows[3]["quantity"] = "lots"
    rows[10]["timestamp"] = "2026-01-15 12:00:00"  # no offset
    rows[20]["colour"] = "red"  # not a dimension
    del rows[30]["region"]  # required
    rows[40]["timestamp"] = int(time.time()) - 400 * 86_400  # older than retention
    path = write_jsonl(tmp_path / "billing.jsonl", rows)
    result = run_import(shared_server, path, meter, "--key", KEY)
    assert result.returncode == 3, result.stderr
    assert summary_counts(result)["rejected"] == 5
    rejects_path = tmp_path / "billing.rejects.jsonl"
    rejects = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert [(r["_reject_row"], r["_reject_field"]) for r in rejects] == [
        (4, "quantity"), (11, "timestamp"), (21, "metadata.colour"), (31, "metadata.region"), (41, "timestamp"),
    ]
    assert rejects[0]["_reject_reason"] == "must be a number, got 'lots'"
    assert "UTC offset" in rejects[1]["_reject_reason"]
    assert "is not a dimension" in rejects[2]["_reject_reason"]
    assert rejects[3]["_reject_reason"] == f"is required by meter {meter!r}"
    assert "older than" in rejects[4]["_reject_reason"]
    # Each carries the key its row got from the template, so a fixed row is
    # stored under the key the original would have had.
    assert [r["idempotency_key"] for r in rejects] == [
        f"billing:{rows[n - 1]['subject']}:{meter}:{n}" for n in (4, 11, 21, 31, 41)
    ]

    fixed = []
    fixed_at = int(time.time()) - 60  # a fixed row keeps its time: the same in both files
    for record in rejects:
        record.update(quantity=1, timestamp=fixed_at, region="eu")
        record.pop("colour", None)
        fixed.append(record)
    write_jsonl(rejects_path, fixed)
    again = run_import(shared_server, rejects_path, meter, "--key", KEY)
    assert again.returncode == 0, again.stderr + again.stdout
    assert summary_counts(again)["accepted"] == 5
    # Re-running the original now finds every row stored, the fixed ones under their original keys.
    write_jsonl(path, [{**row, "quantity": 1, "timestamp": fixed_at, "region": "eu"}
                       if n in (3, 10, 20, 30, 40) else row for n, row in enumerate(rows)])
    original = run_import(shared_server, path, meter, "--key", KEY, "--ignore-column", "colour")
    assert summary_counts(original)["duplicates"] == 50, original.stdout + original.stderr


def test_dry_run_checks_every_row_on_the_server_and_stores_nothing(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    rows = usage_rows(1_000)
    rows[7]["cached"] = "maybe"  # JSON string for a boolean dimension: the server's rule
    path = write_jsonl(tmp_path / "u.jsonl", rows)
    dry = run_import(shared_server, path, meter, "--key", KEY, "--dry-run")
    assert dry.returncode == 3, dry.stderr
    counts = summary_counts(dry)
    assert (counts["would be accepted"], counts["already stored"], counts["would be rejected"]) == (999, 0, 1)
    assert "nothing stored" in dry.stdout
    assert not Path(f"{path}.import-state").exists()

    real = run_import(shared_server, path, meter, "--key", KEY)
    assert summary_counts(real)["accepted"] == 999  # none was stored by the dry run

    after = run_import(shared_server, path, meter, "--key", KEY, "--dry-run")
    assert summary_counts(after)["already stored"] == 999


def test_validate_only_bulk_call_answers_like_a_real_one_and_stores_nothing(
    client: Client, meter: str
) -> None:
    events = [
        json_format.ParseDict(
            {"idempotency_key": f"v-{i}", "subject": "org", "meter": meter, "quantity": 1,
             "metadata": {"region": "eu"} if i else {}},
            usage_pb2.UsageEvent(),
        )
        for i in range(3)
    ]
    check = usage_pb2.RecordUsagesRequest(events=events, validate_only=True, idempotency_key="ignored")
    answer = client.call(client.usage.RecordUsages, check)
    assert (answer.accepted, answer.duplicates, answer.rejected) == (2, 0, 1)
    assert answer.results[0].rejection.field == "metadata.region"
    stored = client.call(client.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=events))
    assert (stored.accepted, stored.duplicates) == (2, 0)
    assert client.call(client.usage.RecordUsages, check).duplicates == 2


def test_refuses_to_run_without_a_key_column_or_template(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    jsonl = run_import(shared_server, write_jsonl(tmp_path / "u.jsonl", usage_rows(10)), meter)
    assert jsonl.returncode == 2
    assert "--key TEMPLATE" in jsonl.stderr
    csv_file = write_csv(tmp_path / "u.csv", usage_rows(10))
    assert run_import(shared_server, csv_file, meter).returncode == 2
    unknown = run_import(shared_server, csv_file, meter, "--key", "{invoice}:{row_id}")
    assert unknown.returncode == 2
    assert "invoice" in unknown.stderr
    # Nothing was sent: the same rows are still new to the server.
    dry = run_import(shared_server, csv_file, meter, "--key", KEY, "--dry-run")
    assert summary_counts(dry)["would be accepted"] == 10, dry.stderr


def test_rows_with_their_own_keys_need_no_template(shared_server: ServerProcess, meter: str, tmp_path: Path) -> None:
    rows = [{"idempotency_key": f"legacy_billing:row_{i}", **row} for i, row in enumerate(usage_rows(20))]
    path = write_csv(tmp_path / "own.csv", rows)
    first = run_import(shared_server, path, meter, "--progress", "bar")
    assert first.returncode == 0, first.stderr
    assert summary_counts(first)["accepted"] == 20


def test_an_ingest_key_is_enough_to_import_csv(shared_server: ServerProcess, meter: str, tmp_path: Path) -> None:
    client = Client(shared_server.address)
    created = client.call(
        client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.INGEST, name="backfill")
    )
    rows = [{"idempotency_key": f"ingest_key:row_{i}", **row} for i, row in enumerate(usage_rows(5))]
    result = run_import(shared_server, write_csv(tmp_path / "k.csv", rows), meter, api_key=created.secret)
    assert result.returncode == 0, result.stderr
    assert summary_counts(result)["accepted"] == 5


def test_seed_environment_variables_name_the_server_and_key(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "env.jsonl", usage_rows(10))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSPANNER_", "OPEN_SPANNER_"))}
    env.update(OPEN_SPANNER_BASE_URL=f"http://{shared_server.address}", OPEN_SPANNER_API_KEY=ADMIN_KEY)
    result = subprocess.run(
        [sys.executable, "-m", "openspanner", "import", str(path), "--meter", meter, "--key", KEY],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert summary_counts(result)["accepted"] == 10


def test_a_truncated_gzip_stops_with_an_error_after_answering_what_was_sent(
    shared_server: ServerProcess, meter: str, tmp_path: Path
) -> None:
    whole = write_jsonl(tmp_path / "whole.jsonl.gz", usage_rows(5_000)).read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = run_import(shared_server, cut, meter, "--key", KEY, "--batch-size", "500")
    assert result.returncode == 2
    assert "cut.jsonl.gz: cannot read on" in result.stderr
    state = Path(f"{cut}.import-state").read_text().splitlines()
    assert len(state) > 1  # the batches read before the cut were sent and recorded
