"""The Exports page in Chromium: an export started from the events page and from the usage
explorer, its progress to completed, and the download, compared with what the API answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness import ServerProcess
from tests.support.http_calls import http, request
from tests.system.test_dashboard import (
    browser,
    create_meter,
    page,
    rfc3339,
    send_bulk,
    server,
    shots,
    shown_request,
    sign_in,
    unique,
)

__all__ = ["browser", "page", "server", "shots"]


def load(server: ServerProcess, name: str) -> None:
    create_meter(server, name)
    now = datetime.now(UTC)
    send_bulk(server, [
        {"idempotency_key": f"ex-{i}", "subject": f"org_{i % 2}", "meter": name, "quantity": i,
         "timestamp": rfc3339(now - timedelta(minutes=50 - i)), "metadata": {"model": ["gpt", "claude"][i % 2]}}
        for i in range(10)
    ])


def completed_row(page: Any) -> Any:
    row = page.locator("tr.highlight")
    page.locator('tr.highlight[data-status="completed"]').wait_for(timeout=30_000)
    return row


def test_an_events_filter_exported_shows_its_progress_and_downloads(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    name = unique("exported")
    load(server, name)
    sign_in(page, route=f"#/meters/{name}/events")
    page.locator("tr.event-row").first.wait_for()
    page.get_by_label("Subject", exact=True).fill("org_1")
    page.get_by_label("Dimension").select_option("model")
    page.get_by_label("Value").fill("claude")
    page.get_by_label("Export format").select_option("jsonl")
    page.get_by_role("button", name="Export these events").click()

    page.wait_for_url("**/#/exports?job=*")
    row = completed_row(page)
    assert "5" in row.locator("td").nth(4).text_content()
    page.screenshot(path=str(shots / "exports.png"), full_page=True)
    with page.expect_download() as downloaded:
        row.get_by_role("button", name="Download").click()
    lines = Path(downloaded.value.path()).read_text().splitlines()
    code, listing = http(server, "GET", f"/v1/meters/{name}/events?subject=org_1&filter=model:claude")
    assert code == 200
    key = lambda e: (e["timestamp"], e["idempotency_key"])  # noqa: E731
    assert sorted(map(json.loads, lines), key=key) == sorted(listing["items"], key=key)


def test_the_usage_explorers_view_exported_is_the_products_csv(page: Any, server: ServerProcess) -> None:
    name = unique("exported_usage")
    load(server, name)
    sign_in(page, route=f"#/meters/{name}/usage")
    body = shown_request(page, meter=name)
    page.get_by_role("button", name="Export as a job").click()

    page.wait_for_url("**/#/exports?job=*")
    row = completed_row(page)
    with page.expect_download() as downloaded:
        row.get_by_role("button", name="Download").click()
    code, _, direct = request(server, "POST", "/v1/usages/export", body)
    assert code == 200
    assert Path(downloaded.value.path()).read_bytes() == direct
