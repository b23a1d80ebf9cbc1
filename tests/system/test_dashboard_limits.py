"""The dashboard's plan and entitlement pages in a real browser against a real server.

Plans, a subject's progress, decisions and entitlement states, driven in
headless Chromium as test_dashboard.py drives the other pages (its fixtures and
helpers are shared), and every number a page shows compared with what the API
answers for the same request. The pages against a server without the routes,
and against answers of the documented shapes, are checked with the API's
answers replaced in the browser.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ServerProcess
from tests.support.http_calls import http, request
from tests.system.test_dashboard import (
    XSS,
    browser,
    create_meter,
    page,
    read_key,
    rfc3339,
    send_bulk,
    server,
    shots,
    sign_in,
    unique,
)

# Fixtures of test_dashboard.py, used here by name.
__all__ = ["browser", "page", "server", "shots"]

NOT_AVAILABLE = "not available yet"


def create_plan(server: ServerProcess, name: str, limits: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    code, plan = http(server, "POST", "/v1/plans", {"name": name, "limits": limits, **fields})
    assert code == 201, plan
    return plan


def assign(server: ServerProcess, subject: str, plan_id: str) -> dict[str, Any]:
    code, assignment = http(server, "PUT", f"/v1/plans/subjects/{urllib.parse.quote(subject, safe='')}",
                            {"plan_id": plan_id})
    assert code in (200, 201), assignment
    return assignment


def consume(server: ServerProcess, key: str, subject: str, meter: str, quantity: float) -> tuple[int, dict[str, Any]]:
    code, answer = http(server, "POST", "/v1/entitlements/consume",
                        {"idempotency_key": key, "subject": subject, "meter": meter, "quantity": quantity,
                         "metadata": {"model": "gpt"}})
    assert code in (201, 429), answer
    return code, answer


def shown_numbers(card: Any) -> dict[str, str]:
    """A decision or state row's numeric cells by their field name."""
    cells: dict[str, str] = card.evaluate(
        "row => Object.fromEntries([...row.querySelectorAll('[data-field]')].map(td => [td.dataset.field, td.textContent]))"
    )
    return cells


def number(value: float) -> str:
    """As the pages print numbers (en-US, up to 6 decimals)."""
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text


# --- a server without the routes, and the documented answers ------------------------------------


@pytest.mark.parametrize(
    ("route", "endpoint"),
    [
        ("#/plans", "**/v1/plans?*"),
        ("#/decisions", "**/v1/entitlements/decisions?*"),
        ("#/entitlements", "**/v1/entitlements/states?*"),
    ],
)
def test_a_limits_page_on_a_server_without_its_route_says_it_is_not_available_yet(
    page: Any, route: str, endpoint: str
) -> None:
    """As a server that does not serve plans yet answers (501 in the error body)."""
    unserved = json.dumps({"error": {"code": "not_implemented", "message": "GET /v1/x: not served yet"}})
    page.route(endpoint, lambda r: r.fulfill(status=501, content_type="application/json", body=unserved))
    sign_in(page, route=route)
    page.get_by_text(NOT_AVAILABLE).wait_for()


def mock(page: Any, pattern: str, answer: Any) -> None:
    page.route(pattern, lambda r: r.fulfill(status=200, content_type="application/json", body=json.dumps(answer)))


def progress_item(meter: str, state: str, current: float, limit: float, **fields: Any) -> dict[str, Any]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return {
        "meter": meter, "period": "month", "state": state, "current": current, "limit": limit,
        "remaining": max(limit - current, 0), "overage": max(current - limit, 0), "percent": current / limit * 100,
        "warning_percent": 80, "from": rfc3339(at), "to": rfc3339(at + timedelta(days=31)),
        "period_reset_at": rfc3339(at + timedelta(days=31)), "unit": "token", "aggregation": "sum", **fields,
    }


def test_progress_bars_draw_the_documented_answer_with_warning_and_exceeded_marked(page: Any) -> None:
    """Values no real run gives at once (a meter over its limit, markup in a meter name)."""
    plan = {"id": "plan-1", "name": "Pro", "version": 3, "is_current": True, "limits": []}
    mock(page, "**/v1/plans/subjects/org_mocked/progress", {"subject": "org_mocked", "plan": plan, "items": [
        progress_item("tokens", "ok", 250, 1000),
        progress_item("requests", "warning", 85, 100),
        progress_item(XSS, "exceeded", 1500, 1000),
    ]})
    sign_in(page, route="#/subjects/org_mocked")
    cards = page.locator(".quota-card")
    cards.nth(2).wait_for()
    assert [cards.nth(i).get_attribute("data-state") for i in range(3)] == ["ok", "warning", "exceeded"]
    assert page.locator(".subject-plan .plan-link").text_content() == "Pro v3"
    # The fill is the share used (full, not past full, when exceeded); the warning mark at 80 %.
    assert page.locator(".quota-card[data-meter=tokens] .quota-fill").get_attribute("class") == "quota-fill w-25"
    assert "w-100" in page.locator(".quota-card.state-exceeded .quota-fill").get_attribute("class")
    assert page.locator(".quota-card[data-meter=requests] .quota-mark").get_attribute("class") == "quota-mark at-80"
    box = page.locator(".quota-card[data-meter=tokens] .quota-bar").bounding_box()
    fill = page.locator(".quota-card[data-meter=tokens] .quota-fill").bounding_box()
    assert fill["width"] == pytest.approx(box["width"] * 0.25, abs=3)
    exceeded = page.locator(".quota-card.state-exceeded")
    assert exceeded.locator("h3").text_content() == XSS
    assert "500 over" in exceeded.text_content()
    assert "85 of 100 token (85%)" in page.locator(".quota-card[data-meter=requests]").text_content()
    assert "2026-12-01 00:00 to 2027-01-01 00:00" in exceeded.text_content()
    assert page.locator("main img").count() == 0


def test_a_subject_without_a_plan_says_so(page: Any) -> None:
    missing = json.dumps({"error": {"code": "not_found", "message": "subject org_free has no plan"}})
    page.route("**/v1/plans/subjects/org_free/progress",
               lambda r: r.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, route="#/subjects/org_free")
    page.locator(".subject-plan .no-plan").wait_for()
    assert "not assigned to a plan" in page.locator(".subject-plan").text_content()
