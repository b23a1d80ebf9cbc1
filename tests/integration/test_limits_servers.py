"""Limits with two servers on one ClickHouse server (OPENSPANNER_CLICKHOUSE_URL); skipped otherwise.

docs/limits.md ("Several servers on one ClickHouse"): each server sees the
other's commits within its refresh interval; consumes of a subject sent to
one server stay exact; split over both, a hard limit is never undershot and
what was accepted is exactly what was stored.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ServerProcess, running_server
from tests.integration.test_limits import assign, check, consume, new_meter, new_plan, stored_total, subject

pytestmark = pytest.mark.skipif(
    not os.environ.get("OPENSPANNER_CLICKHOUSE_URL"), reason="needs a ClickHouse server: OPENSPANNER_CLICKHOUSE_URL"
)
WAIT_SECONDS = 30


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    refresh = {"OPENSPANNER_LIMITS_REFRESH_SECONDS": "0.5"}
    with (
        running_server(tmp_path / "a", database, **refresh) as a,
        running_server(tmp_path / "b", database, **refresh) as b,
    ):
        yield a, b


def eventually(condition: Callable[[], Any]) -> None:
    """Poll until `condition` holds: another server's writes arrive after its refresh interval."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the other server's writes never arrived"
        time.sleep(0.2)


def test_each_server_sees_the_others_usage_after_a_refresh(servers: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = servers
    meter, who = new_meter(a), subject()
    assign(a, who, new_plan(a, {"meter": meter, "limit": 100, "enforcement": "hard"})["id"])
    eventually(lambda: check(b, who, meter)["state"] != "no_plan")
    assert consume(a, who, meter, 60)[0] == 201
    eventually(lambda: check(b, who, meter)["current"] == 60)
    assert consume(b, who, meter, 50)[0] == 429
    assert consume(b, who, meter, 40)[0] == 201
    eventually(lambda: check(a, who, meter)["current"] == 100)


def test_split_consumes_never_undershoot_and_routed_ones_stay_exact(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = servers
    meter, split, routed = new_meter(a), subject(), subject()
    plan = new_plan(a, {"meter": meter, "limit": 1000, "enforcement": "hard"})
    assign(a, split, plan["id"])
    assign(a, routed, plan["id"])
    eventually(lambda: check(b, split, meter)["state"] != "no_plan")
    with ThreadPoolExecutor(64) as pool:
        split_codes = list(pool.map(lambda i: consume((a, b)[i % 2], split, meter)[0], range(2000)))
        routed_codes = list(pool.map(lambda _: consume(b, routed, meter)[0], range(2000)))
    accepted = split_codes.count(201)
    assert 1000 <= accepted <= 2000 and accepted + split_codes.count(429) == 2000
    assert stored_total(a, meter, split) == (accepted, accepted)
    assert (routed_codes.count(201), stored_total(b, meter, routed)) == (1000, (1000, 1000))
