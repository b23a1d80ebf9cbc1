"""The dashboard in a real browser against a real server.

Headless Chromium (Debian's `chromium` package, driven by Playwright through
`executable_path`; Playwright's own browser download is never used) clicks
through the pages of a server started as an operator would, and every
number the pages show is compared with what the API answers for the same
request. Without /usr/bin/chromium the browser tests skip, saying so (and
fail under .ci/run, which installs it); the HTTP checks of how the pages are
served run anyway.

With OPENSPANNER_SCREENSHOTS=1 (`make screenshots`) the tests also save the
screenshots that README.md shows into docs/screenshots/; otherwise they go
to a temporary dir, so a test run leaves the work tree as it was.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from openspanner.client import StreamClient
from openspanner.dashboard.serving import CONTENT_SECURITY_POLICY
from openspanner.v1 import api_key_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server
from tests.support.http_calls import http, request
from tests.support.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 400, "height": 860}
XSS = "<img src=x onerror=alert(1)>"
# The text of the pages' state when an endpoint of the server-side work is missing.
NOT_AVAILABLE = "not available yet"
WAIT_MS = 20_000

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # .ci/run installs it and sets this, so CI never passes with the browser tests skipped.
        if os.environ.get("OPENSPANNER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is not installed at {CHROMIUM}, and OPENSPANNER_REQUIRE_BROWSER=1")
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium chromium-driver` "
            "(.ci/run does) to run the dashboard's browser tests"
        )
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


class Watch:
    """What a page did that it must not: script errors, alert/confirm dialogs."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(
        viewport=WIDE, locale="en-US", timezone_id="UTC", accept_downloads=True, base_url=server.base_url
    )
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    watch = Watch()
    tab.on("pageerror", lambda error: watch.errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.watch = watch
    yield tab
    context.close()
    assert watch.errors == [], "script errors on the page"
    assert watch.dialogs == [], "the page opened a browser dialog"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("OPENSPANNER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


# --- helpers -----------------------------------------------------------------


def sign_in(page: Any, key: str = ADMIN_KEY, route: str = "#/overview") -> None:
    page.goto(f"/{route}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#session .badge").wait_for()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def create_meter(server: ServerProcess, name: str, **fields: Any) -> dict[str, Any]:
    definition = {
        "name": name,
        "aggregation": "sum",
        "unit": "token",
        "description": "Tokens used by the model",
        "dimensions": [
            {"name": "model", "type": "string", "required": True},
            {"name": "region", "type": "string", "required": False},
        ],
        **fields,
    }
    code, meter = http(server, "POST", "/v1/meters", definition)
    assert code == 201, meter
    return meter


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send_bulk(server: ServerProcess, events: list[dict[str, Any]]) -> None:
    code, answer = http(server, "POST", "/v1/usages/bulk", events, headers={"Idempotency-Key": unique("batch")})
    assert code == 201 and answer["accepted"] == len(events), answer


def send_stream(server: ServerProcess, meter: str, events: list[usage_pb2.UsageEvent]) -> None:
    """Over a gRPC StreamUsage stream, acknowledged after commit. In a thread of its own:
    Playwright's sync API keeps an event loop of its own in this one."""
    outcome: dict[str, Any] = {}

    async def run() -> None:
        async with StreamClient(server.address, ADMIN_KEY, usage_pb2.StreamUsageStart(meters=[meter])) as stream:
            for event in events:
                await stream.send(event)
        outcome["stats"] = stream.stats

    def target() -> None:
        try:
            asyncio.run(run())
        except Exception as error:  # reported below, in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["stats"].outcomes == {"ACCEPTED": len(events)}


def stream_event(meter: str, key: str, subject: str, quantity: float, at: datetime, **metadata: str) -> Any:
    event = usage_pb2.UsageEvent(idempotency_key=key, subject=subject, meter=meter, quantity=quantity)
    event.timestamp.FromDatetime(at.astimezone(UTC).replace(tzinfo=None))
    event.metadata.update(metadata)
    return event


def shown_request(page: Any, **expected: Any) -> dict[str, Any]:
    """Wait until the usage explorer shows the answer to a request with `expected` fields;
    the request body as the page sent it."""
    page.wait_for_function(
        """expected => {
            const status = document.querySelector('.result-status');
            const pre = document.querySelector('pre.request-body');
            if (!status || !pre || status.dataset.state !== 'shown') return false;
            const body = JSON.parse(pre.textContent);
            return Object.entries(expected).every(([k, v]) => JSON.stringify(body[k]) === JSON.stringify(v));
        }""",
        arg=expected,
    )
    body: dict[str, Any] = json.loads(page.locator("pre.request-body").text_content())
    return body


def table_rows(page: Any, group_by: list[str]) -> list[tuple[Any, ...]]:
    """(bucket_start, group values..., quantity, events) of each row of the usage table."""
    rows = page.evaluate(
        """() => [...document.querySelectorAll('tr.usage-row')].map(tr => ({
            start: tr.dataset.bucketStart,
            cells: [...tr.querySelectorAll('td')].map(td => td.textContent),
            value: tr.querySelector('[data-value]').dataset.value,
        }))"""
    )
    found = []
    for row in rows:
        groups = row["cells"][1 : 1 + len(group_by)]
        events = int(row["cells"][-1].replace(",", ""))
        found.append((row["start"], *groups, float(row["value"]), events))
    return sorted(found)


def api_rows(server: ServerProcess, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    code, buckets = http(server, "POST", "/v1/usages/search", body)
    assert code == 200, buckets
    return sorted(
        (b["bucket_start"], *(b["group"].get(g, "") for g in body["group_by"]), float(b["quantity"]), b["events"])
        for b in buckets
    )


def read_key(server: ServerProcess) -> str:
    client = Client(server.address)
    try:
        answer = client.call(
            client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=api_key_pb2.READ, name="dashboard-read")
        )
    finally:
        client.close()
    secret: str = answer.secret
    # The server re-reads keys every second in tests (OPENSPANNER_CACHE_REFRESH_SECONDS).
    deadline = time.monotonic() + 10
    while http(server, "GET", "/v1/meters?limit=1", key=secret)[0] != 200:
        assert time.monotonic() < deadline, "the new read key was never accepted"
        time.sleep(0.2)
    return secret


# --- how the pages are served (no browser needed) ------------------------------------


def test_pages_are_served_at_the_root_with_a_strict_policy_and_the_api_is_unchanged(server: ServerProcess) -> None:
    code, headers, body = request(server, "GET", "/", key=None)
    assert code == 200
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert b'<script type="module" src="/dashboard/app.js"></script>' in body
    # No inline script or style in the page itself.
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son\w+=", body)

    code, headers, _ = request(server, "GET", "/dashboard/app.js", key=None)
    assert code == 200 and "javascript" in headers["content-type"]
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert request(server, "GET", "/dashboard/vendor/uplot/uPlot.esm.js", key=None)[0] == 200

    # The API and its document as before; unknown paths, under /dashboard too, answer the error body.
    assert http(server, "GET", "/openapi.json", key=None)[0] == 200
    assert "/" not in http(server, "GET", "/openapi.json", key=None)[1]["paths"]
    assert http(server, "GET", "/v1/meters")[0] == 200
    for path in ("/v2/nothing", "/dashboard/nothing.js", "/dashboard/../openspanner/cli.py"):
        code, answer = http(server, "GET", path, key=None)
        assert (code, answer["error"]["code"]) == (404, "not_found"), path


# --- sign in -------------------------------------------------------------------------


def test_sign_in_refuses_a_wrong_key_keeps_the_key_in_session_storage_only_and_signs_out(
    page: Any, shots: Path
) -> None:
    page.goto("/#/meters")
    key_box = page.get_by_label("API key")
    key_box.fill("osk_nothere_wrongsecret")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator(f"#{key_box.get_attribute('id')}-error")
    error.wait_for()
    assert "not accepted" in error.text_content()
    assert page.evaluate("sessionStorage.length") == 0
    page.screenshot(path=str(shots / "sign-in.png"))

    key_box.fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    # Back on the page asked for, as admin; the key is in sessionStorage and nowhere in the URL.
    page.get_by_role("heading", name="Meters", exact=True).wait_for()
    assert page.locator("#session .badge").text_content() == "admin"
    assert ADMIN_KEY in page.evaluate("Object.values(sessionStorage)")
    assert page.evaluate("localStorage.length") == 0
    assert ADMIN_KEY not in page.url

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").wait_for()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_read_key_sees_no_create_edit_or_delete(page: Any, server: ServerProcess) -> None:
    name = unique("readable")
    create_meter(server, name)
    sign_in(page, read_key(server), "#/meters")
    page.locator(f"tr[data-meter={name}]").wait_for()
    assert page.locator("#session .badge").text_content() == "read"
    assert page.get_by_role("link", name="Create meter").count() == 0
    assert page.get_by_role("button", name=re.compile("Delete")).count() == 0
    assert page.get_by_role("link", name="Edit").count() == 0
    assert page.get_by_role("link", name="API keys").count() == 0
    # Asked for directly, the form says why instead of showing controls that would fail.
    page.goto("/#/meters/new")
    page.get_by_text("needs an admin key").wait_for()
    assert page.get_by_role("button", name="Create meter").count() == 0


# --- meters --------------------------------------------------------------------------


def test_create_a_meter_with_dimensions_showing_each_error_beside_its_field(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    name = unique("tokens")
    sign_in(page, route="#/meters/new")
    form = page.locator("form.meter-form")
    form.get_by_label("Name", exact=True).fill("Not A Name")
    form.get_by_label("Unit").fill("token")
    form.get_by_role("button", name="Add dimension").click()
    form.get_by_label("Name of dimension 1").fill("model")
    form.get_by_role("button", name="Add dimension").click()
    form.get_by_label("Name of dimension 2").fill("bad name!")
    form.locator("fieldset.dimension-row").nth(1).get_by_label("Type").select_option("number")
    form.locator("fieldset.dimension-row").nth(0).get_by_label("Required on every event").check()

    form.get_by_role("button", name="Create meter").click()
    name_box = form.get_by_label("Name", exact=True)
    name_error = page.locator(f"#{name_box.get_attribute('id')}-error")
    name_error.wait_for()
    assert "lowercase letters" in name_error.text_content()
    assert name_box.get_attribute("aria-invalid") == "true"

    name_box.fill(name)
    form.get_by_role("button", name="Create meter").click()
    dimension_box = form.get_by_label("Name of dimension 2")
    dimension_error = page.locator(f"#{dimension_box.get_attribute('id')}-error")
    dimension_error.wait_for()
    # The API named dimensions[1].name: the error is beside the second row's name, not the first's.
    assert "'bad name!' must be letters" in dimension_error.text_content()
    assert name_error.is_hidden()
    assert form.get_by_label("Name of dimension 1").get_attribute("aria-invalid") is None
    page.screenshot(path=str(shots / "meter-create.png"), full_page=True)

    dimension_box.fill("context.tokens")
    form.get_by_role("button", name="Create meter").click()
    page.get_by_role("heading", name=f"Usage of {name}").wait_for()
    code, meter = http(server, "GET", f"/v1/meters/{name}")
    assert code == 200
    assert [(d["name"], d["type"], d["required"]) for d in meter["dimensions"]] == [
        ("model", "string", True),
        ("context.tokens", "number", False),
    ]
    assert meter["unit"] == "token"


def test_edit_saves_what_the_api_allows_and_explains_a_refused_change(page: Any, server: ServerProcess) -> None:
    name = unique("editable")
    create_meter(server, name)
    send_bulk(server, [{"idempotency_key": "e1", "subject": "org_1", "meter": name, "quantity": 1,
                        "metadata": {"model": "gpt"}}])
    sign_in(page, route=f"#/meters/{name}/edit")
    form = page.locator("form.meter-form")
    form.get_by_label("Description").fill("Edited from the dashboard")
    form.get_by_label("Event retention (days)").fill("30")
    form.get_by_role("button", name="Save changes").click()
    page.get_by_role("heading", name="Meters", exact=True).wait_for()
    meter = http(server, "GET", f"/v1/meters/{name}")[1]
    assert (meter["description"], meter["event_retention_days"]) == ("Edited from the dashboard", 30)

    # The meter has an event, so a dimension may not change its type: 409, explained.
    page.goto(f"/#/meters/{name}/edit")
    form.locator("fieldset.dimension-row").nth(0).get_by_label("Type").select_option("number")
    form.get_by_role("button", name="Save changes").click()
    refusal = form.locator(".form-error")
    refusal.wait_for()
    assert "The change was refused" in refusal.text_content()
    assert "once it has events" in refusal.text_content()
    assert http(server, "GET", f"/v1/meters/{name}")[1]["dimensions"][0]["type"] == "string"


def test_delete_asks_again_before_deleting_a_meter_with_events(page: Any, server: ServerProcess) -> None:
    empty_meter, used_meter = unique("unused"), unique("used")
    create_meter(server, empty_meter)
    create_meter(server, used_meter)
    send_bulk(server, [{"idempotency_key": "d1", "subject": "org_1", "meter": used_meter, "quantity": 5,
                        "metadata": {"model": "gpt"}}])
    sign_in(page, route="#/meters")

    page.get_by_role("button", name=f"Delete meter {empty_meter}").click()
    page.locator("dialog").get_by_role("button", name="Delete meter").click()
    page.locator(f"tr[data-meter={empty_meter}]").wait_for(state="detached")
    assert http(server, "GET", f"/v1/meters/{empty_meter}")[0] == 404

    page.get_by_role("button", name=f"Delete meter {used_meter}").click()
    page.locator("dialog").get_by_role("button", name="Delete meter").click()
    second = page.locator("dialog", has_text="has stored events")
    second.wait_for()
    # Cancelled: the meter and its events stay.
    second.get_by_role("button", name="Cancel").click()
    assert http(server, "GET", f"/v1/meters/{used_meter}")[0] == 200

    page.get_by_role("button", name=f"Delete meter {used_meter}").click()
    page.locator("dialog").get_by_role("button", name="Delete meter").click()
    page.locator("dialog", has_text="has stored events").get_by_role("button", name="Delete meter and events").click()
    page.locator(f"tr[data-meter={used_meter}]").wait_for(state="detached")
    assert http(server, "GET", f"/v1/meters/{used_meter}")[0] == 404


# --- the usage explorer ------------------------------------------------------------------


def test_usage_explorer_shows_what_the_api_answers_grouped_filtered_and_in_a_time_zone(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    name = unique("ai_tokens")
    create_meter(server, name)
    # Two hours ago, at :10 and :40 past a UTC hour: one UTC hour bucket, but two in
    # Asia/Kolkata (UTC+5:30), whose hours start at :30 past UTC's.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    first, second = hour + timedelta(minutes=10), hour + timedelta(minutes=40)
    send_bulk(server, [
        {"idempotency_key": "h1", "subject": "org_1", "meter": name, "quantity": 1000, "timestamp": rfc3339(first),
         "metadata": {"model": "gpt-4.1", "region": "eu"}},
        {"idempotency_key": "h2", "subject": "org_2", "meter": name, "quantity": 250, "timestamp": rfc3339(second),
         "metadata": {"model": "claude", "region": "us"}},
    ])
    send_stream(server, name, [
        stream_event(name, "s1", "org_1", 40, first + timedelta(minutes=1), model="claude", region="eu"),
        stream_event(name, "s2", "org_2", 2, second + timedelta(minutes=1), model="gpt-4.1"),
    ])

    sign_in(page, route=f"#/meters/{name}/usage")
    body = shown_request(page, meter=name, time_zone="UTC", bucket_size="hour")
    assert table_rows(page, []) == api_rows(server, body)
    assert table_rows(page, []) == [(rfc3339(hour), 1292.0, 4)]
    assert page.locator(".chart canvas").count() == 1
    assert "1,292 token in total" in page.locator(".result-status").text_content()

    page.get_by_label("model").check()
    body = shown_request(page, group_by=["model"])
    grouped = table_rows(page, ["model"])
    assert grouped == api_rows(server, body)
    assert grouped == [(rfc3339(hour), "claude", 290.0, 2), (rfc3339(hour), "gpt-4.1", 1002.0, 2)]
    page.screenshot(path=str(shots / "usage-explorer.png"), full_page=True)

    page.get_by_role("button", name="Add filter").click()
    page.locator(".filter-row").get_by_label("equals").fill("eu")
    page.locator(".filter-row").get_by_label("Dimension").select_option("region")
    page.locator(".filter-row").get_by_label("equals").press("Enter")
    body = shown_request(
        page, filter={"type": "group", "op": "and",
                      "rules": [{"type": "condition", "field": "metadata.region", "op": "eq", "value": "eu"}]}
    )
    assert table_rows(page, ["model"]) == api_rows(server, body)
    assert table_rows(page, ["model"]) == [(rfc3339(hour), "claude", 40.0, 1), (rfc3339(hour), "gpt-4.1", 1000.0, 1)]

    # A second value of the same dimension widens the filter (any of them), as `in`.
    page.get_by_role("button", name="Add filter").click()
    second_row = page.locator(".filter-row").nth(1)
    second_row.get_by_label("equals").fill("us")
    second_row.get_by_label("Dimension").select_option("region")
    second_row.get_by_label("equals").press("Enter")
    body = shown_request(
        page, filter={"type": "group", "op": "and",
                      "rules": [{"type": "condition", "field": "metadata.region", "op": "in", "value": ["eu", "us"]}]}
    )
    assert table_rows(page, ["model"]) == api_rows(server, body)
    assert sum(row[-1] for row in table_rows(page, ["model"])) == 3

    page.locator(".filter-row").nth(1).get_by_role("button", name="Remove").click()
    page.locator(".filter-row").get_by_role("button", name="Remove").click()
    page.get_by_label("Subject", exact=True).fill("org_2")
    page.get_by_label("Subject", exact=True).press("Enter")
    body = shown_request(page, subject="org_2")
    assert table_rows(page, ["model"]) == api_rows(server, body)
    assert sum(row[-2] for row in table_rows(page, ["model"])) == 252.0

    page.get_by_label("Subject", exact=True).fill("")
    page.get_by_label("model").uncheck()
    page.get_by_label("Time zone").fill("Asia/Kolkata")
    page.get_by_label("Time zone").press("Enter")
    body = shown_request(page, time_zone="Asia/Kolkata", group_by=[])
    in_kolkata = table_rows(page, [])
    assert in_kolkata == api_rows(server, body)
    assert in_kolkata == [
        (rfc3339(hour - timedelta(minutes=30)), 1040.0, 2),
        (rfc3339(hour + timedelta(minutes=30)), 252.0, 2),
    ]
    # Bucket starts are shown in the chosen zone.
    assert page.locator("thead").get_by_text("Bucket start (Asia/Kolkata)").count() == 1

    # The CSV holds exactly the rows shown, as the search and the export answer them.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    code, buckets = http(server, "POST", "/v1/usages/search", body)
    assert code == 200
    assert [(r["bucket_start"], r["bucket_end"], float(r["quantity"]), int(r["events"]), r["unit"]) for r in rows] == [
        (b["bucket_start"], b["bucket_end"], b["quantity"], b["events"], b["unit"]) for b in buckets
    ]
    exported = list(csv.DictReader(io.StringIO(request(server, "POST", "/v1/usages/export", body)[2].decode())))
    assert [(r["bucket_start"], float(r["quantity"])) for r in rows] == [
        (r["bucket_start"], float(r["quantity"])) for r in exported
    ]


def test_usage_explorer_at_a_narrow_width_and_an_error_beside_the_bucket(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    name = unique("narrow")
    create_meter(server, name)
    send_bulk(server, [{"idempotency_key": "n1", "subject": "org_1", "meter": name, "quantity": 3,
                        "metadata": {"model": "gpt"}}])
    page.set_viewport_size(NARROW)
    sign_in(page, route=f"#/meters/{name}/usage")
    shown_request(page, meter=name)
    # Nothing wider than the window but the tables, which scroll in their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.screenshot(path=str(shots / "usage-explorer-narrow.png"), full_page=True)

    # A month of minute buckets is more than the API answers. It names `to`, which the range
    # preset set, so the page shows the refusal beside the range.
    page.get_by_label("Range", exact=True).select_option("30d")
    page.get_by_label("Bucket", exact=True).select_option("minute")
    preset = page.get_by_label("Range", exact=True)
    error = page.locator(f"#{preset.get_attribute('id')}-error")
    error.wait_for()
    assert "minute buckets cover at most" in error.text_content()
    assert preset.get_attribute("aria-invalid") == "true"


# --- the events explorer -------------------------------------------------------------------


def test_events_explorer_filters_shows_a_record_and_tails_new_events(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    name = unique("requests")
    create_meter(server, name, unit="request")
    now = datetime.now(UTC)
    send_bulk(server, [
        {"idempotency_key": f"ev-{i}", "subject": f"org_{i % 2}", "meter": name, "quantity": i,
         "timestamp": rfc3339(now - timedelta(minutes=30 - i)), "metadata": {"model": ["gpt", "claude"][i % 2]}}
        for i in range(6)
    ])
    sign_in(page, route=f"#/meters/{name}/events")
    rows = page.locator("tr.event-row")
    rows.first.wait_for()
    assert rows.count() == 6
    # Newest first.
    assert page.locator("tr.event-row td.key").all_text_contents() == [f"ev-{i}" for i in reversed(range(6))]

    page.get_by_label("Subject", exact=True).fill("org_1")
    page.get_by_label("Dimension").select_option("model")
    page.get_by_label("Value").fill("claude")
    page.get_by_role("button", name="Show events").click()
    # A function, not an expression: the page's policy refuses eval, which an expression needs.
    page.wait_for_function("() => document.querySelectorAll('tr.event-row').length === 3")
    code, listing = http(server, "GET", f"/v1/meters/{name}/events?subject=org_1&filter=model:claude")
    assert [e["idempotency_key"] for e in listing["items"]] == page.locator("tr.event-row td.key").all_text_contents()

    first = rows.first
    first.get_by_role("button", name="Details").click()
    record = page.locator("tr.event-detail:not([hidden]) pre.record")
    assert json.loads(record.text_content()) == listing["items"][0]
    page.screenshot(path=str(shots / "events-explorer.png"), full_page=True)

    # The live tail: a new event shows up at the top within a few polls; paused, none do.
    page.get_by_role("button", name="Start live tail").click()
    page.get_by_text("Live: checking every 2 s").wait_for()
    code, _ = http(server, "POST", "/v1/usages", {"idempotency_key": "tail-1", "subject": "org_1", "meter": name,
                                                  "quantity": 9, "metadata": {"model": "claude"}})
    assert code == 201
    page.locator("tr.event-row.arrived", has_text="tail-1").wait_for(timeout=15_000)
    assert page.locator("tr.event-row td.key").first.text_content() == "tail-1"

    page.get_by_role("button", name="Pause live tail").click()
    http(server, "POST", "/v1/usages", {"idempotency_key": "tail-2", "subject": "org_1", "meter": name,
                                        "quantity": 1, "metadata": {"model": "claude"}})
    page.wait_for_timeout(5000)
    assert page.locator("tr.event-row", has_text="tail-2").count() == 0
    page.get_by_role("button", name="Resume live tail").click()
    page.locator("tr.event-row.arrived", has_text="tail-2").wait_for(timeout=15_000)


# --- data is text ----------------------------------------------------------------------------


def test_a_subject_and_dimension_value_holding_markup_are_shown_as_text(page: Any, server: ServerProcess) -> None:
    name = unique("hostile")
    create_meter(server, name)
    send_bulk(server, [{"idempotency_key": "x1", "subject": XSS, "meter": name, "quantity": 7,
                        "metadata": {"model": "<script>alert(2)</script>", "region": '"><svg onload=alert(3)>'}}])
    sign_in(page, route=f"#/meters/{name}/events")
    page.locator("td.subject", has_text=XSS).wait_for()
    page.get_by_text("<script>alert(2)</script>").first.wait_for()

    page.goto(f"/#/meters/{name}/usage")
    page.get_by_label("subject", exact=True).check()
    shown_request(page, group_by=["subject"])
    assert page.locator("tr.usage-row td", has_text=XSS).count() == 1

    page.goto(f"/#/subjects/{urllib.parse.quote(XSS, safe='')}")
    page.locator(f".meter-card[data-meter={name}]").wait_for()
    assert page.locator("h1 .subject-name").text_content() == XSS

    # Nothing of it became an element, and nothing ran (the fixture fails on any dialog).
    page.wait_for_timeout(500)
    assert page.locator("main img, main svg, main script").count() == 0
    assert page.watch.dialogs == []


# --- subjects ---------------------------------------------------------------------------------


def test_a_subject_page_shows_its_usage_on_each_meter(page: Any, server: ServerProcess, shots: Path) -> None:
    subject = unique("org")
    tokens, calls = unique("tokens"), unique("calls")
    create_meter(server, tokens)
    create_meter(server, calls, unit="request", aggregation="count", dimensions=[])
    now = datetime.now(UTC)
    send_bulk(server, [
        *({"idempotency_key": f"t{i}", "subject": subject, "meter": tokens, "quantity": 100 * i,
           "timestamp": rfc3339(now - timedelta(days=i, hours=1)), "metadata": {"model": "gpt"}} for i in range(1, 5)),
        *({"idempotency_key": f"c{i}", "subject": subject, "meter": calls, "quantity": 1,
           "timestamp": rfc3339(now - timedelta(hours=i))} for i in range(1, 4)),
    ])
    sign_in(page, route=f"#/subjects/{subject}")
    tokens_card = page.locator(f".meter-card[data-meter={tokens}]")
    tokens_card.wait_for()
    assert "1,000 token" in tokens_card.text_content()
    assert "3 events" in page.locator(f".meter-card[data-meter={calls}]").text_content()
    assert tokens_card.locator("canvas").count() == 1
    page.screenshot(path=str(shots / "subject.png"), full_page=True)
    tokens_card.get_by_role("link", name="Explore").click()
    shown_request(page, meter=tokens, subject=subject)


# --- pages of the server-side work -------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "endpoint"),
    [
        ("#/overview", "**/v1/stats/overview"),
        ("#/subjects", "**/v1/subjects?*"),
        ("#/ingest", "**/v1/stats/ingest"),
        ("#/api-keys", "**/v1/api-keys?*"),
    ],
)
def test_a_page_whose_endpoint_the_server_lacks_says_it_is_not_available_yet(
    page: Any, route: str, endpoint: str
) -> None:
    """As a server without the endpoint answers (404, no route), whatever this server has."""
    missing = json.dumps(
        {"error": {"code": "not_found", "message": "not found: no route for GET /v1/x; see /openapi.json"}}
    )
    page.route(endpoint, lambda r: r.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, route=route)
    page.get_by_text(NOT_AVAILABLE).wait_for()


def mock(page: Any, pattern: str, answer: Any) -> None:
    page.route(pattern, lambda r: r.fulfill(status=200, content_type="application/json", body=json.dumps(answer)))


def test_overview_ingest_and_keys_pages_render_the_documented_answers(page: Any, shots: Path) -> None:
    """The pages against answers of the documented shapes, with values no real run would give
    (several streams, a long ack latency, markup in a key name)."""
    at = rfc3339(datetime.now(UTC) - timedelta(minutes=3))
    mock(page, "**/v1/stats/overview", {
        "started_at": at, "stored_events": 123456, "open_streams": 2,
        "meters": [{"meter": "ai_tokens", "last_hour": {"accepted": 1200, "duplicates": 3, "rejected": 1},
                    "last_day": {"accepted": 20500, "duplicates": 17, "rejected": 9}, "latest_event_at": at,
                    "stored_events": 98000}],
    })
    mock(page, "**/v1/stats/ingest", {
        "window_seconds": 60,
        "rates": [{"meter": "ai_tokens", "path": "stream:usage", "accepted_per_second": 812.5,
                   "duplicates_per_second": 0.2, "rejected_per_second": 1.5}],
        "rejections": [{"meter": "ai_tokens", "field": "metadata.model", "rule": "required", "count": 4,
                        "latest": [{"at": at, "idempotency_key": "k-9", "subject": XSS,
                                    "message": "metadata.model: is required by meter 'ai_tokens'"}]}],
        "streams": [{"id": "st-1", "kind": "usage", "meters": ["ai_tokens"], "opened_at": at,
                     "events_acknowledged": 51234, "ack_latency_ms_p50": 41.2, "ack_latency_ms_p99": 97.8}],
    })
    mock(page, "**/v1/api-keys?*", {"items": [
        {"id": "a1b2c3", "name": "billing-svc", "scope": "ingest", "created_at": at, "revoked_at": None},
        {"id": "d4e5f6", "name": XSS, "scope": "read", "created_at": at, "revoked_at": None},
    ]})
    sign_in(page, route="#/overview")
    page.get_by_text("123,456").wait_for()
    assert "20,500" in page.locator("main table").text_content()
    page.goto("/#/ingest")
    page.get_by_text("812.5/s").wait_for()
    page.locator("details summary", has_text="latest 1 example").click()
    page.get_by_text(XSS).wait_for()
    assert "97.8 ms" in page.locator("main").text_content()
    page.goto("/#/api-keys")
    page.locator('tr[data-key-id="d4e5f6"]', has_text=XSS).wait_for()
    assert page.get_by_role("button", name="Revoke key billing-svc").count() == 1
    assert page.locator("main img").count() == 0


def test_create_and_revoke_a_key(page: Any, server: ServerProcess, shots: Path) -> None:
    sign_in(page, route="#/api-keys")
    page.get_by_label("Name").fill("dashboard-test")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("input.secret")
    secret.wait_for()
    token = secret.input_value()
    assert token.startswith("osk_")
    assert http(server, "GET", "/v1/meters?limit=1", key=token)[0] == 200
    page.screenshot(path=str(shots / "api-keys.png"), full_page=True)
    key_id = token.split("_")[1]
    row = page.locator(f'tr[data-key-id="{key_id}"]')
    row.wait_for()
    row.get_by_role("button", name=re.compile("Revoke")).click()
    page.locator("dialog").get_by_role("button", name="Revoke key").click()
    page.locator(f'tr[data-key-id="{key_id}"]').wait_for(state="detached")
    _, keys = http(server, "GET", "/v1/api-keys?include_revoked=true")
    assert next(k for k in keys["items"] if k["id"] == key_id)["revoked_at"]


def test_overview_counts_what_was_sent(page: Any, server: ServerProcess, shots: Path) -> None:
    name = unique("overview")
    create_meter(server, name)
    send_bulk(server, [{"idempotency_key": f"o{i}", "subject": "org_1", "meter": name, "quantity": 1,
                        "metadata": {"model": "gpt"}} for i in range(3)])
    sign_in(page, route="#/overview")
    row = page.locator("main tr", has_text=name)
    row.wait_for()
    _, stats = http(server, "GET", "/v1/stats/overview")
    mine = next(m for m in stats["meters"] if m["meter"] == name)
    assert mine["last_hour"]["accepted"] == 3
    assert row.locator("td").nth(1).text_content().startswith("3 /")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_ingest_health_shows_a_rejection(page: Any, server: ServerProcess, shots: Path) -> None:
    name = unique("rejecting")
    create_meter(server, name)
    code, _ = http(server, "POST", "/v1/usages/bulk", [
        {"idempotency_key": "ok", "subject": "org_1", "meter": name, "quantity": 1, "metadata": {"model": "gpt"}},
        {"idempotency_key": "bad", "subject": "org_1", "meter": name, "quantity": 1, "metadata": {}},
    ], headers={"Idempotency-Key": unique("batch")})
    assert code == 201
    sign_in(page, route="#/ingest")
    rejection = page.locator("tr.rejection-row", has_text=name)
    rejection.wait_for(timeout=15_000)
    assert "metadata.model" in rejection.text_content()
    page.screenshot(path=str(shots / "ingest-health.png"), full_page=True)


def test_subjects_list_links_each_subject(page: Any, server: ServerProcess) -> None:
    name, subject = unique("listed"), unique("org")
    create_meter(server, name)
    send_bulk(server, [{"idempotency_key": "l1", "subject": subject, "meter": name, "quantity": 42,
                        "metadata": {"model": "gpt"}}])
    sign_in(page, route="#/subjects")
    page.get_by_role("link", name=subject).click()
    page.locator(f".meter-card[data-meter={name}]").wait_for()



def test_a_unique_count_meter_is_offered_created_and_shown_as_distinct_values(
    page: Any, server: ServerProcess
) -> None:
    name = unique("active_users")
    sign_in(page, route="#/meters/new")
    form = page.locator("form.meter-form")
    counted = form.get_by_label("Counted dimension")
    assert counted.is_hidden(), "only unique_count names a dimension"
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Unit").fill("user")
    form.get_by_label("Aggregation").select_option("unique_count")
    form.get_by_role("button", name="Add dimension").click()
    form.get_by_label("Name of dimension 1").fill("user")
    form.locator("fieldset.dimension-row").nth(0).get_by_label("Required on every event").check()
    form.get_by_role("button", name="Create meter").click()
    counted_error = page.locator(f"#{counted.get_attribute('id')}-error")
    counted_error.wait_for()
    assert "is required for aggregation unique_count" in counted_error.text_content()

    counted.fill("user")
    form.get_by_role("button", name="Create meter").click()
    page.get_by_role("heading", name=f"Usage of {name}").wait_for()
    code, meter = http(server, "GET", f"/v1/meters/{name}")
    assert code == 200 and (meter["aggregation"], meter["unique_dimension"]) == ("unique_count", "user")

    # Two hours ago: ana twice and bo once; an hour ago ana again. Hourly distinct users 2 and 1.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    send_bulk(server, [
        {"idempotency_key": f"u{n}", "subject": "org_1", "meter": name, "quantity": 1,
         "timestamp": rfc3339(hour + timedelta(minutes=minutes)), "metadata": {"user": user}}
        for n, (user, minutes) in enumerate([("ana", 10), ("ana", 40), ("bo", 50), ("ana", 70)])
    ])
    page.reload()  # the page answered "no usage" before the events existed
    body = shown_request(page, meter=name, bucket_size="hour")
    assert table_rows(page, []) == api_rows(server, body)
    assert table_rows(page, []) == [(rfc3339(hour), 2.0, 3), (rfc3339(hour + timedelta(hours=1)), 1.0, 1)]
    assert "distinct values of user" in page.locator("p.lead").text_content()
    assert "in total" not in page.locator(".result-status").text_content(), "distinct counts do not add up"
    assert page.locator("thead").get_by_text("unique_count of user (user)").count() == 1

    page.goto("/#/meters")
    page.locator(f"tr[data-meter='{name}']").get_by_text("unique_count of user").wait_for()
