"""The operator commands (`openspanner meters|usage|events ...`) as an operator runs them, against a real server.

Answers are read back from stdout and compared with what openspanner.client
gets for the same call. (`keys` is in test_auth.py.)
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from openspanner.client import Client, NotFoundError, UsageAnswer
from tests.harness import ADMIN_KEY, ServerProcess

LINE_TIMEOUT_SECONDS = 60


@pytest.fixture
def api(shared_server: ServerProcess) -> Iterator[Client]:
    with Client(shared_server.address, ADMIN_KEY) as client:
        yield client


@pytest.fixture
def env(shared_server: ServerProcess) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": shared_server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openspanner", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=env,
    )


def ok(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = run(env, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def a_meter(api: Client) -> str:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    api.create_meter({
        "name": name,
        "aggregation": "sum",
        "dimensions": [
            {"name": "region", "type": "string", "required": True},
            {"name": "cached", "type": "boolean", "required": False},
        ],
    })
    return name


def an_event(meter: str, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": uuid.uuid4().hex, "subject": "org_a", "meter": meter, "quantity": 1.0,
            "metadata": {"region": "eu"}, **fields}


def test_meters_create_get_update_delete(env: dict[str, str], api: Client, tmp_path: Path) -> None:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    definition = tmp_path / "meter.json"
    definition.write_text(json.dumps({"name": name, "aggregation": "sum", "unit": "request",
                                      "dimensions": [{"name": "region", "type": "string"}]}))
    created = json.loads(ok(env, "meters", "create", str(definition)))
    assert json.loads(ok(env, "meters", "get", name)) == created
    meter = api.get_meter(name)
    assert created["id"] == meter["id"] and created["dimensions"] == meter["dimensions"]
    assert datetime.fromisoformat(created["create_time"]) == meter["create_time"]
    listed = ok(env, "meters", "list")
    assert re.search(rf"^{name}\s+sum\s+request\s+90d\s+region$", listed, re.MULTILINE), listed
    assert name in [m["name"] for m in json.loads(ok(env, "meters", "list", "--format", "json"))]

    updated = json.loads(ok(env, "meters", "update", name, "--description", "calls", "--retention-days", "30",
                            "--add-dimension", "model:string"))
    assert (updated["description"], updated["event_retention_days"], updated["unit"]) == ("calls", 30, "request")
    assert [(d["name"], d["required"]) for d in api.get_meter(name)["dimensions"]] == [
        ("region", True), ("model", False)
    ]
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"unit": "call"}))
    assert json.loads(ok(env, "meters", "update", name, "--file", str(changes)))["unit"] == "call"

    refused = run(env, "meters", "update", name, "--retention-days", "99999")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: INVALID_ARGUMENT: event_retention_days: "), refused.stderr

    api.record_usage(an_event(name))
    kept = run(env, "meters", "delete", name)
    assert kept.returncode == 1 and kept.stderr.startswith("error: FAILED_PRECONDITION: force: "), kept.stderr
    assert ok(env, "meters", "delete", name, "--force").strip() == f"meter {name} deleted with its 1 events"
    with pytest.raises(NotFoundError):
        api.get_meter(name)
    gone = run(env, "meters", "get", name)
    assert gone.returncode == 1 and gone.stderr.startswith("error: NOT_FOUND: "), gone.stderr


def recorded_meter(api: Client) -> tuple[str, datetime, datetime]:
    """A meter with events over a few hours of a day, and the range around them."""
    meter = a_meter(api)
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    rows = [(0.5, "org_a", "eu", True), (1.2, "org_b", "eu", True), (1.7, "org_a", "us", True),
            (2.1, "org_a", "eu", False), (3.9, "org_b", "us", True), (4.0, "org_c", "eu", True)]
    api.record_usages([
        an_event(meter, subject=subject, quantity=n * 10 + 0.25, timestamp=start + timedelta(hours=hours),
                 metadata={"region": region, "cached": cached})
        for n, (hours, subject, region, cached) in enumerate(rows)
    ])
    return meter, start, start + timedelta(hours=5)


Row = tuple[datetime, datetime, str, str, float | None, int]


def answer_rows(answer: UsageAnswer) -> list[Row]:
    return [(r["window_start"], r["window_end"], r["group"]["region"], r["subject"] or "", r["value"],
             r["event_count"]) for r in answer["rows"]]


def text_rows(header: list[str], cells: list[list[str]]) -> list[Row]:
    assert header == ["window_start", "window_end", "region", "subject", "value", "event_count"]
    return [(datetime.fromisoformat(c[0]), datetime.fromisoformat(c[1]), c[2], c[3], float(c[4]), int(c[5]))
            for c in cells]


def test_usage_as_a_table_json_and_csv_is_query_usage_s_answer(env: dict[str, str], api: Client) -> None:
    meter, start, end = recorded_meter(api)
    answer = api.query_usage(meter, start, end, window_size="hour", time_zone="Asia/Kolkata",
                             subjects=["org_a", "org_b"], filters={"cached": "true"}, group_by=["region", "subject"])
    assert len(answer["rows"]) == 4, "the filters are applied"
    flags = ["usage", meter, "--from", start.isoformat(), "--to", end.isoformat().replace("+00:00", "Z"),
             "--window", "hour", "--time-zone", "Asia/Kolkata", "--subject", "org_a", "--subject", "org_b",
             "--filter", "cached=true", "--group-by", "region", "--group-by", "subject"]

    lines = ok(env, *flags).splitlines()
    table = [re.split(r"\s{2,}", line.strip()) for line in lines]
    assert text_rows(table[0], table[1:]) == answer_rows(answer)
    assert "+05:30" in lines[1], "windows are printed in the query's time zone"

    as_csv = list(csv.reader(io.StringIO(ok(env, *flags, "--format", "csv"))))
    assert text_rows(as_csv[0], as_csv[1:]) == answer_rows(answer)

    as_json = json.loads(ok(env, *flags, "--format", "json"))
    assert (as_json["aggregation"], as_json["time_zone"]) == ("sum", "Asia/Kolkata")
    assert [(datetime.fromisoformat(r["window_start"]), datetime.fromisoformat(r["window_end"]), r["group"]["region"],
             r["subject"], r["value"], r["event_count"]) for r in as_json["rows"]] == answer_rows(answer)


def test_usage_over_a_relative_range_without_windows(env: dict[str, str], api: Client) -> None:
    meter = a_meter(api)
    now = datetime.now(UTC)
    api.record_usages([an_event(meter, quantity=3, timestamp=now - timedelta(minutes=10)),
                       an_event(meter, quantity=5, timestamp=now - timedelta(hours=2))])
    [row] = json.loads(ok(env, "usage", meter, "--from", "-1h", "--format", "json"))["rows"]
    assert (row["value"], row["event_count"]) == (3, 1)
    assert json.loads(ok(env, "usage", meter, "--from=-3h", "--to", "now", "--format", "json"))["rows"][0]["value"] == 8
    lines = ok(env, "usage", meter, "--from", "-1d", "--fill", "--window", "hour").splitlines()
    assert len(lines) == 1 + 25, "a header and one row per hour of a day, the first and last clipped"


def test_usage_errors_name_the_field_or_the_flag(env: dict[str, str], api: Client) -> None:
    meter = a_meter(api)
    unknown = run(env, "usage", meter, "--group-by", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: INVALID_ARGUMENT: group_by: unknown dimension 'nope'"), unknown.stderr
    zone = run(env, "usage", meter, "--time-zone", "Mars/Base")
    assert zone.returncode == 1 and zone.stderr.startswith("error: INVALID_ARGUMENT: time_zone: "), zone.stderr
    bad_time = run(env, "usage", meter, "--from", "yesterday")
    assert bad_time.returncode == 2 and bad_time.stderr.startswith("error: --from: "), bad_time.stderr
    no_key = run({**env, "OPENSPANNER_API_KEY": ""}, "usage", meter)
    assert no_key.returncode == 2 and "a read key is needed" in no_key.stderr


def test_events_lists_the_newest_first(env: dict[str, str], api: Client) -> None:
    meter = a_meter(api)
    now = datetime.now(UTC)
    events = [an_event(meter, quantity=n, timestamp=now - timedelta(minutes=10 - n),
                       subject="org_b" if n == 3 else "org_a") for n in range(5)]
    api.record_usages(events)
    printed = [json.loads(line) for line in ok(env, "events", meter, "--limit", "3").splitlines()]
    assert [e["idempotency_key"] for e in printed] == [e["idempotency_key"] for e in events[:1:-1]]
    listed = list(api.list_events(meter))[:3]
    assert [datetime.fromisoformat(e["timestamp"]) for e in printed] == [e["timestamp"] for e in listed]
    assert printed[0]["metadata"] == {"region": "eu"}
    only_b = ok(env, "events", meter, "--subject", "org_b").splitlines()
    assert [json.loads(line)["quantity"] for line in only_b] == [3]
    ranged = ok(env, "events", meter, "--from", events[1]["timestamp"].isoformat(),
                "--to", events[3]["timestamp"].isoformat()).splitlines()
    assert [json.loads(line)["quantity"] for line in ranged] == [2, 1]
    missing = run(env, "events", f"no_{uuid.uuid4().hex[:8]}")
    assert missing.returncode == 1 and missing.stderr.startswith("error: NOT_FOUND: meter: "), missing.stderr


class Lines:
    """The stdout lines of a running command, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._queue.put(line)

    def next(self) -> dict[str, Any]:
        return dict(json.loads(self._queue.get(timeout=LINE_TIMEOUT_SECONDS)))

    def left(self) -> list[str]:
        lines = []
        while not self._queue.empty():
            lines.append(self._queue.get())
        return lines


def test_events_follow_prints_each_new_event_once_in_order(env: dict[str, str], api: Client) -> None:
    meter = a_meter(api)
    now = datetime.now(UTC)
    before = [an_event(meter, quantity=n, timestamp=now - timedelta(seconds=20 - n)) for n in range(3)]
    api.record_usages(before)
    process = subprocess.Popen(
        [sys.executable, "-m", "openspanner", "events", meter, "--follow", "--limit", "2", "--interval", "0.2",
         "--lag", "5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = Lines(process)
        # The oldest is older than --lag, but not than the newest printed: not shown, now or later.
        assert [lines.next()["quantity"] for _ in range(2)] == [1, 2], "the newest --limit, oldest first"

        api.record_usage(an_event(meter, quantity=10))
        assert lines.next()["quantity"] == 10
        # One call, so one poll sees both: printed in timestamp order, not the order sent.
        later = datetime.now(UTC)
        api.record_usages([an_event(meter, quantity=12, timestamp=later),
                           an_event(meter, quantity=11, timestamp=later - timedelta(seconds=2))])
        assert [lines.next()["quantity"] for _ in range(2)] == [11, 12]
        api.record_usage(an_event(meter, quantity=13))
        assert lines.next()["quantity"] == 13, "nothing printed twice"
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert lines.left() == []
