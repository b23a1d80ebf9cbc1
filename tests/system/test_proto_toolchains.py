"""proto/ stands on its own for other toolchains: buf lints and builds it, and a
Node client loaded from the .proto files at run time calls a real server.

The Node tools are pinned in tests/node/package-lock.json and installed there
on first use (`make node-tools`); without npm these tests are skipped, except
where OPENSPANNER_REQUIRE_NODE=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from openspanner.v1 import query_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess
from tests.support.paths import ROOT

NODE_DIR = ROOT / "tests" / "node"
BUF = NODE_DIR / "node_modules" / ".bin" / "buf"


@pytest.fixture(scope="module")
def node_tools() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("OPENSPANNER_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are required here (OPENSPANNER_REQUIRE_NODE=1)")
        pytest.skip("node and npm are not installed: the non-Python toolchain checks need them")
    if not BUF.exists():
        subprocess.run(["make", "-C", str(ROOT), "node-tools"], check=True, capture_output=True, timeout=600)
    return NODE_DIR


def buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=ROOT / "proto", capture_output=True, text=True, timeout=120)


def test_buf_lint_is_clean_with_the_documented_exceptions(node_tools: Path) -> None:
    linted = buf("lint")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_buf_builds_the_protos_with_nothing_but_proto(node_tools: Path, tmp_path: Path) -> None:
    built = buf("build", "-o", str(tmp_path / "image.binpb"))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "image.binpb").stat().st_size > 0


def test_no_breaking_change_against_the_previous_commit(node_tools: Path) -> None:
    """On main after a merge, the first parent is main before the change landed."""
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD~1"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("no previous commit to compare with (a shallow clone)")
    checked = buf("breaking", "--against", f"{ROOT}/.git#ref=HEAD~1,subdir=proto")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_node_client_from_the_protos_calls_the_server(
    node_tools: Path, shared_server: ServerProcess, client: Client
) -> None:
    meter = f"node_{uuid.uuid4().hex[:8]}"
    ran = subprocess.run(
        ["node", str(node_tools / "call.js"), shared_server.address, ADMIN_KEY, meter],
        capture_output=True, text=True, timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert (answer["created"], answer["aggregation"]) == (meter, "sum")
    assert answer["outcomes"] == ["ACCEPTED", "ACCEPTED", "DUPLICATE"]
    [row] = answer["rows"]
    assert (row["value"], int(row["event_count"])) == (5, 2)
    assert answer["refused"]["code"] == "INVALID_ARGUMENT"
    assert "quantity" in answer["refused"]["details"]
    # And what Node recorded is what a Python client reads back.
    now = time.time()
    window = query_pb2.QueryUsageRequest(meter=meter)
    window.start_time.FromSeconds(int(now) - 3600)
    window.end_time.FromSeconds(int(now) + 3600)
    python_rows = client.call(client.query.QueryUsage, window).rows
    assert [(r.value, r.event_count) for r in python_rows] == [(5.0, 2)]
