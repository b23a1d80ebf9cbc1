"""The alerting pages of the dashboard (alert rules, destinations, deliveries) in Chromium,
against a real server and a real webhook receiver started by the test.

What the pages show is compared with what the API answers, and the secrets the destination
page shows are checked by verifying the receiver's requests with them (the product's HMAC by
hand, and the Standard Webhooks library). The browser fixtures and helpers are the dashboard
tests' own; this module runs its server with private targets allowed (the receiver listens on
loopback) and fast retries, so a dead letter comes within seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.harness import ServerProcess, running_server
from tests.support.http_calls import http
from tests.support.webhook_receiver import Received, Receiver, webhook_receiver
from tests.system.test_dashboard import (
    NOT_AVAILABLE,
    XSS,
    browser,
    create_meter,
    page,
    read_key,
    send_bulk,
    shots,
    sign_in,
    unique,
)

__all__ = ["browser", "page", "shots"]

SERVER_SETTINGS = {
    "OPENSPANNER_WEBHOOK_ALLOW_PRIVATE": "true",
    "OPENSPANNER_WEBHOOK_RETRY_SECONDS": "0.2",
    "OPENSPANNER_WEBHOOK_POLL_SECONDS": "0.1",
    "OPENSPANNER_WEBHOOK_MAX_ATTEMPTS": "2",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("dashboard-alerts"), **SERVER_SETTINGS) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def make_destination(server: ServerProcess, url: str, name: str = "receiver") -> dict[str, Any]:
    code, body = http(server, "POST", "/v1/alerts/destinations", {"name": name, "webhook_url": url})
    assert code == 201, body
    return dict(body)


def job_when(server: ServerProcess, job_id: str, status: str) -> dict[str, Any]:
    """The delivery job with its log once it has `status` (the test fails if it never does)."""
    deadline = time.monotonic() + 60
    while True:
        code, job = http(server, "GET", f"/v1/alerts/delivery-jobs/{job_id}")
        assert code == 200, job
        if job["status"] == status:
            return dict(job)
        assert time.monotonic() < deadline, f"job is {job['status']}, never {status}"
        time.sleep(0.1)


def product_signature_ok(request: Received, secret: str) -> bool:
    """The product's signature, by hand: HMAC-SHA256 keyed with the secret string over timestamp.body."""
    timestamp = request.headers["x-open-spanner-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-open-spanner-signature"], f"v1={expected}")


def verifies(request: Received, secret: str, standard_secret: str) -> bool:
    """Both signatures of a request, checked with the two secrets the page showed (the Standard
    Webhooks library raises when its signature does not match)."""
    standard = Webhook(standard_secret).verify(request.body, request.headers)
    return product_signature_ok(request, secret) and standard == json.loads(request.body)


def shown_secrets(page: Any) -> tuple[str, str]:
    card = page.locator(".secret-card")
    card.wait_for()
    values = [box.input_value() for box in card.locator("input.secret").all()]
    assert len(values) == 2
    return values[0], values[1]


# --- destinations ----------------------------------------------------------------------------


def test_a_destination_shows_its_secret_once_in_both_forms_rotates_and_explains_a_refused_delete(
    page: Any, server: ServerProcess, receiver: Receiver, shots: Path
) -> None:
    name = unique("hooks")
    sign_in(page, route="#/destinations")
    form = page.locator("form.inline-form")
    form.get_by_label("Name").fill(name)
    url_box = form.get_by_label("Webhook URL")
    url_box.fill("ftp://example.com/hook")
    form.get_by_role("button", name="Create destination").click()
    url_error = page.locator(f"#{url_box.get_attribute('id')}-error")
    url_error.wait_for()
    assert "http or https" in url_error.text_content()

    url_box.fill(receiver.url)
    form.get_by_role("button", name="Create destination").click()
    secret, standard_secret = shown_secrets(page)
    assert secret.startswith("osp_whsec_") and standard_secret.startswith("whsec_")
    page.screenshot(path=str(shots / "destination-secret.png"), full_page=True)
    destination = next(d for d in http(server, "GET", "/v1/alerts/destinations")[1]["items"] if d["name"] == name)
    row = page.locator(f'tr[data-destination="{destination["id"]}"]')
    row.wait_for()

    # The secrets shown are the ones that sign: a test event verifies with both.
    row.get_by_role("button", name=f"Send a test event to {name}").click()
    first = receiver.wait_for(1)[0]
    assert verifies(first, secret, standard_secret)

    # Shown once: after a reload the page has no secret, and the API's list none either.
    page.reload()
    row.wait_for()
    assert page.locator(".secret-card").count() == 0
    assert secret not in page.content()
    assert "secret" not in destination["webhook_signing"]

    row.get_by_role("button", name=f"Rotate the secret of {name}").click()
    page.locator("dialog").get_by_role("button", name="Rotate secret").click()
    page.locator(".secret-card", has_text="New secret").wait_for()
    new_secret, new_standard = shown_secrets(page)
    assert new_secret != secret and new_secret.startswith("osp_whsec_")
    row.get_by_role("button", name=f"Send a test event to {name}").click()
    second = receiver.wait_for(2)[1]
    assert verifies(second, new_secret, new_standard)
    # The old secret no longer signs.
    assert not product_signature_ok(second, secret)

    # A rule uses it: the delete is refused (409) and the page says which rule.
    meter = unique("hooked")
    create_meter(server, meter)
    code, rule = http(server, "POST", "/v1/alerts",
                      {"name": "uses the hook", "meter": meter, "destination_id": destination["id"]})
    assert code == 201, rule
    row.get_by_role("button", name=f"Delete destination {name}").click()
    page.locator("dialog").get_by_role("button", name="Delete destination").click()
    refusal = page.locator(".form-error[role=alert]", has_text="was not deleted")
    refusal.wait_for()
    assert "uses the hook" in refusal.text_content()
    assert http(server, "GET", f"/v1/alerts/destinations/{destination['id']}")[0] == 200

    assert http(server, "DELETE", f"/v1/alerts/{rule['id']}")[0] == 204
    row.get_by_role("button", name=f"Delete destination {name}").click()
    page.locator("dialog").get_by_role("button", name="Delete destination").click()
    row.wait_for(state="detached")
    assert http(server, "GET", f"/v1/alerts/destinations/{destination['id']}")[0] == 404


# --- alert rules ------------------------------------------------------------------------------


def test_an_alert_rule_is_created_with_errors_beside_fields_evaluated_now_and_edited(
    page: Any, server: ServerProcess, receiver: Receiver, shots: Path
) -> None:
    meter = unique("alerted")
    create_meter(server, meter)
    destination = make_destination(server, receiver.url, unique("dest"))
    send_bulk(server, [
        {"idempotency_key": "a1", "subject": "org_1", "meter": meter, "quantity": 150,
         "metadata": {"model": "gpt", "region": "eu"}},
        {"idempotency_key": "a2", "subject": "org_1", "meter": meter, "quantity": 50,
         "metadata": {"model": "claude", "region": "eu"}},
        # Filtered out by the rule's region filter.
        {"idempotency_key": "a3", "subject": "org_1", "meter": meter, "quantity": 900,
         "metadata": {"model": "claude", "region": "us"}},
    ])

    sign_in(page, route="#/alerts/new")
    form = page.locator("form.alert-form")
    form.get_by_label("Name").fill("models over 100")
    form.get_by_label("Meter").select_option(meter)
    form.get_by_label("Destination").select_option(destination["id"])
    form.get_by_label("Threshold").fill("100")
    window = form.get_by_label("Window (seconds)")
    window.fill("5")
    form.get_by_label("Group by").select_option("model")
    form.get_by_role("button", name="Add filter").click()
    form.get_by_label("Dimension of filter 1").fill("zone")
    form.get_by_label("Value of filter 1").fill("eu")
    form.get_by_role("button", name="Create alert rule").click()

    window_error = page.locator(f"#{window.get_attribute('id')}-error")
    window_error.wait_for()
    assert "at least 60 seconds" in window_error.text_content()
    assert window.get_attribute("aria-invalid") == "true"
    window.fill("3600")
    form.get_by_role("button", name="Create alert rule").click()
    # The API named metadata.zone: the error is beside that filter's dimension box.
    key_box = form.get_by_label("Dimension of filter 1")
    key_error = page.locator(f"#{key_box.get_attribute('id')}-error")
    key_error.wait_for()
    assert "unknown dimension 'zone'" in key_error.text_content()
    assert window_error.is_hidden()
    page.screenshot(path=str(shots / "alert-rule-form.png"), full_page=True)

    key_box.fill("region")
    form.get_by_role("button", name="Create alert rule").click()
    page.get_by_role("heading", name="models over 100").wait_for()
    rules = http(server, "GET", f"/v1/alerts?meter={meter}")[1]["items"]
    assert len(rules) == 1
    rule = rules[0]
    assert (rule["window_seconds"], rule["comparator"], rule["threshold"], rule["group_by"], rule["metadata"]) == (
        3600, "gte", 100.0, "model", {"region": "eu"}
    )

    page.get_by_role("button", name="Evaluate now").click()
    page.locator(".evaluation-result[data-count='1']").wait_for()
    page.locator("tr.state-row[data-group=gpt][data-status=alerting]").wait_for()
    page.locator("tr.event-row[data-type=triggered][data-group=gpt]").wait_for()
    states = http(server, "GET", f"/v1/alerts/{rule['id']}")[1]["states"]
    assert shown_states(page) == sorted((s["group_value"], s["status"], s["value"]) for s in states)
    assert shown_states(page) == [("claude", "ok", 50.0), ("gpt", "alerting", 150.0)]
    page.screenshot(path=str(shots / "alert-rule.png"), full_page=True)
    # The triggered event is delivered to the receiver; once it is, its log is one click away.
    receiver.wait_for(1)
    delivered_event(server, rule["id"])
    page.reload()
    page.locator("tr.event-row[data-type=triggered] [data-status=delivered]").wait_for()
    page.locator("tr.event-row[data-type=triggered]").get_by_role("link", name="log").click()
    page.locator("tr.attempt-row[data-attempt='1'][data-status=delivered]").wait_for()
    assert receiver.requests and json.loads(receiver.requests[0].body)["event"]["type"] == "triggered"
    page.go_back()
    page.get_by_role("heading", name="models over 100").wait_for()

    # Evaluated again while alerting (the page drawn anew): no second triggered event.
    page.get_by_role("button", name="Evaluate now").click()
    page.locator(".evaluation-result[data-count='1']", has_text="no new event").wait_for()
    assert page.locator("tr.event-row").count() == 1
    assert len(http(server, "GET", f"/v1/alerts/events?rule_id={rule['id']}")[1]["items"]) == 1

    # The list shows each rule's state per group.
    page.goto("/#/alerts")
    listed = page.locator(f'tr[data-rule="{rule["id"]}"]')
    listed.locator('li[data-group="gpt"] [data-status=alerting]').wait_for()
    assert listed.locator('li[data-group="claude"] [data-status=ok]').count() == 1

    # Edited above both values: evaluating resolves gpt.
    listed.get_by_role("link", name="Edit").click()
    form.get_by_label("Threshold").fill("1000")
    form.get_by_role("button", name="Save changes").click()
    page.get_by_role("heading", name="models over 100").wait_for()
    page.get_by_role("button", name="Evaluate now").click()
    page.locator(".evaluation-result[data-count='1']").wait_for()
    page.locator("tr.event-row[data-type=resolved][data-group=gpt]").wait_for()
    assert shown_states(page) == [("claude", "ok", 50.0), ("gpt", "ok", 150.0)]
    events = http(server, "GET", f"/v1/alerts/events?rule_id={rule['id']}")[1]["items"]
    assert [(e["type"], e["group_value"]) for e in events] == [("resolved", "gpt"), ("triggered", "gpt")]
    assert http(server, "GET", f"/v1/alerts/{rule['id']}")[1]["threshold"] == 1000.0


def delivered_event(server: ServerProcess, rule_id: str) -> None:
    """Until the rule's latest event has a delivered attempt (fails the test if it never does)."""
    deadline = time.monotonic() + 60
    while True:
        events = http(server, "GET", f"/v1/alerts/events?rule_id={rule_id}")[1]["items"]
        if events and (events[0].get("delivery") or {}).get("status") == "delivered":
            return
        assert time.monotonic() < deadline, f"never delivered: {events}"
        time.sleep(0.1)


def shown_states(page: Any) -> list[tuple[str, str, float]]:
    rows = page.evaluate(
        """() => [...document.querySelectorAll('tr.state-row')].map(tr => [
            tr.dataset.group, tr.dataset.status, tr.querySelectorAll('td')[2].textContent])"""
    )
    return sorted((group, status, float(value.replace(",", ""))) for group, status, value in rows)


# --- deliveries -------------------------------------------------------------------------------


def test_deliveries_show_the_log_per_attempt_and_a_dead_letter_is_retried_from_the_page(
    page: Any, server: ServerProcess, receiver: Receiver, shots: Path
) -> None:
    receiver.default_status = 500
    destination = make_destination(server, receiver.url, unique("down"))
    code, job = http(server, "POST", f"/v1/alerts/destinations/{destination['id']}/test")
    assert code == 202, job
    dead = job_when(server, job["id"], "dead_letter")

    sign_in(page, route="#/deliveries")
    page.get_by_label("Status").select_option("dead_letter")
    row = page.locator(f'tr.job-row[data-job="{job["id"]}"][data-status=dead_letter]')
    row.wait_for()
    assert "500" in row.text_content()
    row.get_by_role("link").first.click()

    page.locator("tr.attempt-row").nth(1).wait_for()
    assert shown_log(page) == [
        (a["attempt"], a["status"], str(a["status_code"]), a["error"], f"{a['duration_ms']:,} ms")
        for a in dead["deliveries"]
    ]
    assert [entry[1:3] for entry in shown_log(page)] == [("failed", "500"), ("failed", "500")]
    page.screenshot(path=str(shots / "delivery-log.png"), full_page=True)

    receiver.default_status = 200
    page.get_by_role("button", name="Retry delivery").click()
    page.locator("tr.attempt-row[data-attempt='3'][data-status=delivered]").wait_for()
    delivered = job_when(server, job["id"], "delivered")
    assert [entry[1:3] for entry in shown_log(page)] == [("failed", "500"), ("failed", "500"), ("delivered", "200")]
    assert len(delivered["deliveries"]) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {job["id"]}
    assert page.get_by_role("button", name="Retry delivery").count() == 0


def shown_log(page: Any) -> list[tuple[int, str, str, str, str]]:
    rows = page.evaluate(
        """() => [...document.querySelectorAll('tr.attempt-row')].map(tr => [
            Number(tr.dataset.attempt), tr.dataset.status,
            ...[...tr.querySelectorAll('td')].slice(2, 5).map(td => td.textContent)])"""
    )
    return [(n, status, code, "" if error == "—" else error, duration) for n, status, code, error, duration in rows]


def test_a_read_key_sees_the_alerting_pages_without_their_controls(
    page: Any, server: ServerProcess, receiver: Receiver
) -> None:
    meter = unique("watched")
    create_meter(server, meter)
    destination = make_destination(server, receiver.url, unique("seen"))
    code, rule = http(server, "POST", "/v1/alerts",
                      {"name": unique("seen_rule"), "meter": meter, "destination_id": destination["id"]})
    assert code == 201, rule
    sign_in(page, read_key(server), "#/alerts")
    page.locator(f'tr[data-rule="{rule["id"]}"]').wait_for()
    assert page.get_by_role("link", name="Create alert rule").count() == 0
    assert page.get_by_role("button", name="Evaluate now").count() == 0
    page.goto(f"/#/alerts/{rule['id']}")
    page.get_by_role("heading", name=rule["name"]).wait_for()
    assert page.get_by_role("button", name="Evaluate now").count() == 0
    page.goto("/#/destinations")
    page.locator(f'tr[data-destination="{destination["id"]}"]').wait_for()
    assert page.get_by_role("button", name="Create destination").count() == 0
    assert page.get_by_role("button", name=f"Rotate the secret of {destination['name']}").count() == 0
    page.goto("/#/alerts/new")
    page.get_by_text("needs an admin key").wait_for()


def test_names_holding_markup_are_shown_as_text(page: Any, server: ServerProcess, receiver: Receiver) -> None:
    meter = unique("marked")
    create_meter(server, meter)
    destination = make_destination(server, receiver.url, XSS)
    code, rule = http(server, "POST", "/v1/alerts", {"name": XSS, "meter": meter, "destination_id": destination["id"]})
    assert code == 201, rule
    sign_in(page, route="#/alerts")
    page.locator(f'tr[data-rule="{rule["id"]}"]', has_text=XSS).wait_for()
    page.goto(f"/#/alerts/{rule['id']}")
    page.get_by_role("heading", name=XSS).wait_for()
    page.goto("/#/destinations")
    page.locator(f'tr[data-destination="{destination["id"]}"]', has_text=XSS).wait_for()
    assert page.locator("main img").count() == 0


@pytest.mark.parametrize(
    ("route", "endpoint"),
    [
        ("#/alerts", "**/v1/alerts?*"),
        ("#/destinations", "**/v1/alerts/destinations?*"),
        ("#/deliveries", "**/v1/alerts/delivery-jobs?*"),
    ],
)
def test_an_alerting_page_on_a_server_without_its_routes_says_it_is_not_available_yet(
    page: Any, route: str, endpoint: str
) -> None:
    missing = json.dumps(
        {"error": {"code": "not_found", "message": "not found: no route for GET /v1/alerts; see /openapi.json"}}
    )
    page.route(endpoint, lambda r: r.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, route=route)
    page.get_by_text(NOT_AVAILABLE).wait_for()
