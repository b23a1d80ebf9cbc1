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
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ServerProcess
from tests.support.http_calls import http
from tests.system.test_dashboard import (
    NARROW,
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
        "row => Object.fromEntries([...row.querySelectorAll('[data-field]')]"
        ".map(td => [td.dataset.field, td.textContent]))"
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
        ("#/plans", "**/v1/plans"),
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
    # In a narrow window the bars stack; nothing is wider than the window.
    page.set_viewport_size(NARROW)
    page.wait_for_function("() => document.documentElement.scrollWidth <= 400")


def test_a_subject_without_a_plan_says_so(page: Any) -> None:
    missing = json.dumps({"error": {"code": "not_found", "message": "subject org_free has no plan"}})
    page.route("**/v1/plans/subjects/org_free/progress",
               lambda r: r.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, route="#/subjects/org_free")
    page.locator(".subject-plan .no-plan").wait_for()
    assert "not assigned to a plan" in page.locator(".subject-plan").text_content()


# --- against the server's own plans and entitlements ------------------------------------------


def api_refusal(server: ServerProcess, path: str, body: dict[str, Any]) -> tuple[str, str]:
    """The field the API names for `body`, and its message as shown beside that field."""
    code, answer = http(server, "POST", path, body)
    assert code in (400, 404), answer
    error = answer["error"]
    message = re.sub(r"^invalid input: ", "", error["message"])
    return error["field"], message.removeprefix(f"{error['field']}: ")


def field_error(page: Any, control: Any) -> Any:
    return page.locator(f"#{control.get_attribute('id')}-error")


def test_create_a_plan_with_the_limits_editor_showing_each_refusal_beside_its_field(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    tokens, calls, name = unique("tokens"), unique("calls"), unique("Pro")
    create_meter(server, tokens)
    create_meter(server, calls, aggregation="count", dimensions=[])
    sign_in(page, route="#/plans/new")
    form = page.locator("form.plan-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Meter of limit 1").select_option(tokens)
    form.get_by_label("Limit 1", exact=True).fill("1000")
    form.get_by_label("Warning percent of limit 1").fill("90")
    form.locator("fieldset.limit-row").nth(0).get_by_label("Enforcement").select_option("hard")
    form.locator("fieldset.limit-row").nth(0).get_by_label("When unsure").select_option("fail_closed")
    form.get_by_role("button", name="Add limit").click()
    form.get_by_label("Meter of limit 2").select_option(calls)
    form.locator("fieldset.limit-row").nth(1).get_by_label("Period").select_option("day")
    form.get_by_label("Limit 2", exact=True).fill("0")

    # The second limit's zero: its refusal beside that row's limit, as the API words it.
    form.get_by_role("button", name="Create plan").click()
    second_limit = form.get_by_label("Limit 2", exact=True)
    field_error(page, second_limit).wait_for()
    expected = api_refusal(server, "/v1/plans", {"name": name, "limits": [
        {"meter": tokens, "limit": 1000}, {"meter": calls, "period": "day", "limit": 0}]})
    assert expected[0] == "limits[1].limit"
    assert field_error(page, second_limit).text_content() == expected[1]
    assert second_limit.get_attribute("aria-invalid") == "true"
    assert form.get_by_label("Limit 1", exact=True).get_attribute("aria-invalid") is None

    # Then a warning percent past 100 on the first row: beside it, the earlier error gone.
    second_limit.fill("50")
    warning = form.get_by_label("Warning percent of limit 1")
    warning.fill("150")
    form.get_by_role("button", name="Create plan").click()
    field_error(page, warning).wait_for()
    expected = api_refusal(server, "/v1/plans", {"name": name, "limits": [
        {"meter": tokens, "limit": 1000, "warning_percent": 150}]})
    assert expected[0] == "limits[0].warning_percent"
    assert field_error(page, warning).text_content() == expected[1]
    assert field_error(page, second_limit).is_hidden()
    page.screenshot(path=str(shots / "plan-create.png"), full_page=True)

    warning.fill("90")
    form.get_by_role("button", name="Create plan").click()
    page.locator(".version-list").wait_for()
    assert page.locator("h1").text_content() == f"{name} v1"
    plan_id = urllib.parse.unquote(page.url.split("#/plans/")[1])
    code, plan = http(server, "GET", f"/v1/plans/{plan_id}")
    assert code == 200 and plan["name"] == name
    assert [(li["meter"], li["period"], li["limit"], li["warning_percent"], li["enforcement"], li["failure_policy"])
            for li in plan["limits"]] == [
        (tokens, "month", 1000, 90, "hard", "fail_closed"),
        (calls, "day", 50, 80, "advisory", "fail_open"),
    ]
    page.goto("/#/plans")
    row = page.locator(f'tr[data-plan-id="{plan_id}"]')
    row.wait_for()
    assert tokens in row.text_content() and "1,000 per month, hard" in row.text_content()


def test_assign_a_subject_then_edit_makes_a_version_that_takes_it_along(page: Any, server: ServerProcess) -> None:
    tokens, subject = unique("tokens"), unique("org")
    create_meter(server, tokens)
    first = create_plan(server, unique("Team"), [{"meter": tokens, "limit": 100}])
    sign_in(page, route=f"#/plans/{first['id']}")
    assign_form = page.locator("form.assign-form")
    assign_form.get_by_label("Subject").fill(subject)
    assign_form.get_by_role("button", name="Assign").click()
    page.locator(f'tr.assignment-row[data-subject="{subject}"]').wait_for()
    _, assignments = http(server, "GET", f"/v1/plans/assignments?subject={subject}")
    assert [(a["plan_id"], a["status"]) for a in assignments["items"]] == [(first["id"], "active")]

    send_bulk(server, [{"idempotency_key": "u1", "subject": subject, "meter": tokens, "quantity": 90,
                        "metadata": {"model": "gpt"}}])

    page.get_by_role("link", name="Edit (new version)").click()
    limit = page.get_by_label("Limit 1", exact=True)
    assert limit.input_value() == "100"
    limit.fill("250")
    # Before saving: 90 of 100 is a warning, 90 of 250 would be ok, as the API's preview says.
    page.get_by_role("button", name="Preview impact").click()
    summary = page.locator(".impact-summary")
    summary.wait_for()
    code, preview = http(server, "POST", f"/v1/plans/{first['id']}/preview",
                         {"name": first["name"], "description": "", "limits": [
                             {"meter": tokens, "period": "month", "limit": 250, "enforcement": "advisory",
                              "failure_policy": "fail_open"}]})
    assert code == 200, preview
    assert (preview["summary"]["subjects"], preview["summary"]["ok"], preview["summary"]["warning"]) == (1, 1, 0)
    assert summary.text_content().startswith("1 subject assigned: 1 ok, 0 warning, 0 exceeded")
    change = page.locator(".plan-impact tbody tr")
    assert change.count() == 1
    assert [b.text_content() for b in change.locator(".badge").all()] == ["warning", "ok"]
    assert http(server, "GET", f"/v1/plans/{first['id']}")[1]["is_current"] is True
    page.get_by_role("button", name="Save new version").click()
    page.locator(".version-list li").nth(1).wait_for()
    assert page.locator("h1").text_content() == f"{first['name']} v2"
    assert page.locator("[data-current]").first.text_content() == "current"
    second_id = urllib.parse.unquote(page.url.split("#/plans/")[1])
    second = http(server, "GET", f"/v1/plans/{second_id}")[1]
    assert (second["version"], second["parent_plan_id"], second["limits"][0]["limit"]) == (2, first["id"], 250)
    # The subject moved to the new version, which lists it.
    page.locator(f'tr.assignment-row[data-subject="{subject}"]').wait_for()
    _, assignments = http(server, "GET", f"/v1/plans/assignments?subject={subject}")
    assert [(a["plan_id"], a["status"]) for a in assignments["items"]] == [(second_id, "active")]

    # The retired version says so, links to the current one and offers no edit or assign.
    page.get_by_role("link", name=f"{first['name']} v1").click()
    page.locator('.version-list li[data-version="2"] a').wait_for()
    assert page.locator("h1").text_content() == f"{first['name']} v1"
    assert page.locator(".page-head [data-current]").text_content() == "retired"
    assert page.get_by_role("link", name="Edit (new version)").count() == 0
    assert page.locator("form.assign-form").count() == 0

    # A plan in use is not deleted: the API's 409, said in words.
    page.goto("/#/plans")
    page.get_by_role("button", name=f"Delete plan {first['name']}").click()
    page.locator("dialog").get_by_role("button", name="Delete plan").click()
    page.locator(".notice-error", has_text="was not deleted").wait_for()
    assert http(server, "GET", f"/v1/plans/{second_id}")[0] == 200

    # Ended from the plan's page: gone from the list, shown again with the ended ones.
    page.goto(f"/#/plans/{second_id}")
    page.get_by_role("button", name=f"End the assignment of {subject}").click()
    page.locator("dialog").get_by_role("button", name="End assignment").click()
    page.locator(f'tr.assignment-row[data-subject="{subject}"]').wait_for(state="detached")
    assert http(server, "GET", f"/v1/plans/subjects/{subject}/progress")[0] == 404
    page.get_by_label("Include ended assignments").check()
    page.locator(f'tr.assignment-row[data-subject="{subject}"][data-status="ended"]').wait_for()


def test_a_read_key_sees_plans_but_no_way_to_change_them(page: Any, server: ServerProcess) -> None:
    tokens = unique("tokens")
    create_meter(server, tokens)
    plan = create_plan(server, f"{XSS} {unique('Readable')}", [{"meter": tokens, "limit": 5}], description=XSS)
    sign_in(page, read_key(server), "#/plans")
    page.locator(f'tr[data-plan-id="{plan["id"]}"]', has_text=plan["name"]).wait_for()
    assert page.get_by_role("link", name="Create plan").count() == 0
    assert page.get_by_role("button", name=re.compile("Delete")).count() == 0
    page.goto(f"/#/plans/{plan['id']}")
    page.locator(".version-list").wait_for()
    assert page.locator("form.assign-form").count() == 0
    assert page.get_by_role("link", name="Edit (new version)").count() == 0
    # The plan's name and description, markup in both, are text.
    assert page.locator("h1").text_content() == f"{plan['name']} v1"
    assert page.locator("main .lead").text_content() == XSS
    assert page.locator("main img").count() == 0


def test_a_subject_page_shows_a_bar_per_limit_after_usage_is_sent(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    tokens, calls, subject = unique("tokens"), unique("calls"), unique("org")
    create_meter(server, tokens)
    create_meter(server, calls, aggregation="count", unit="request", dimensions=[])
    plan = create_plan(server, unique("Growth"), [
        {"meter": tokens, "period": "month", "limit": 100, "warning_percent": 80, "enforcement": "hard"},
        {"meter": tokens, "period": "day", "limit": 1000},
        {"meter": calls, "period": "month", "limit": 2},
    ])
    assign(server, subject, plan["id"])
    now = datetime.now(UTC)
    send_bulk(server, [
        {"idempotency_key": "p1", "subject": subject, "meter": tokens, "quantity": 60, "timestamp": rfc3339(now),
         "metadata": {"model": "gpt"}},
        {"idempotency_key": "p2", "subject": subject, "meter": tokens, "quantity": 25, "timestamp": rfc3339(now),
         "metadata": {"model": "claude"}},
        *({"idempotency_key": f"c{i}", "subject": subject, "meter": calls, "quantity": 1,
           "timestamp": rfc3339(now)} for i in range(3)),
    ])
    code, progress = http(server, "GET", f"/v1/plans/subjects/{subject}/progress")
    assert code == 200, progress
    # 85 of 100 tokens this month passes the warning at 80 %, 85 of 1,000 today does not,
    # and 3 calls are past a limit of 2.
    assert [(i["meter"], i["period"], i["state"], i["current"]) for i in progress["items"]] == [
        (tokens, "month", "warning", 85), (tokens, "day", "ok", 85), (calls, "month", "exceeded", 3)]

    sign_in(page, route=f"#/subjects/{subject}")
    cards = page.locator(".quota-card")
    cards.nth(2).wait_for()
    assert page.locator(".subject-plan .plan-link").text_content() == f"{plan['name']} v1"
    for index, item in enumerate(progress["items"]):
        card = cards.nth(index)
        assert card.get_attribute("data-state") == item["state"]
        assert card.locator(".quota-current").text_content() == number(item["current"])
        assert card.locator(".badge").text_content() == item["state"]
        assert f"of {number(item['limit'])}" in card.text_content()
    assert "w-85" in cards.nth(0).locator(".quota-fill").get_attribute("class")
    assert "at-80" in cards.nth(0).locator(".quota-mark").get_attribute("class")
    assert "1 over" in cards.nth(2).text_content()
    # The usage below the plan is the same page as before.
    page.locator(f".meter-card[data-meter={tokens}]").wait_for()
    page.screenshot(path=str(shots / "subject-plan.png"), full_page=True)


def test_decisions_filter_by_subject_meter_and_outcome_and_show_each_quota(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    tokens, other, first, second = unique("tokens"), unique("images"), unique("org"), unique("org")
    create_meter(server, tokens)
    create_meter(server, other, dimensions=[{"name": "model", "type": "string", "required": False}])
    plan = create_plan(server, unique("Hard"), [
        {"meter": tokens, "limit": 10, "enforcement": "hard"},
        {"meter": other, "limit": 100, "enforcement": "hard"},
    ])
    assign(server, first, plan["id"])
    assign(server, second, plan["id"])
    outcomes = [consume(server, f"{first}-{i}", first, tokens, 4)[0] for i in range(3)]
    assert outcomes == [201, 201, 429]
    consume(server, f"{first}-img", first, other, 7)
    consume(server, f"{second}-0", second, tokens, 20)

    def listed(**filters: str) -> list[dict[str, Any]]:
        code, answer = http(server, "GET", f"/v1/entitlements/decisions?{urllib.parse.urlencode(filters)}")
        assert code == 200, answer
        items: list[dict[str, Any]] = answer["items"]
        return items

    def shown_keys(count: int) -> list[str]:
        page.wait_for_function(
            "count => document.querySelectorAll('tr.decision-row').length === count "
            "&& !document.querySelector('.state-loading')",
            arg=count,
        )
        keys: list[str] = page.locator("tr.decision-row").evaluate_all("rows => rows.map(r => r.dataset.key)")
        return keys

    sign_in(page, route=f"#/decisions?subject={first}")
    expected = listed(subject=first)
    assert len(expected) == 4
    assert shown_keys(4) == [d["idempotency_key"] for d in expected]

    page.get_by_label("Outcome").select_option("rejected")
    expected = listed(subject=first, outcome="rejected")
    assert [d["idempotency_key"] for d in expected] == [f"{first}-2"]
    assert shown_keys(1) == [f"{first}-2"]
    assert "outcome=rejected" in page.url
    row = page.locator("tr.decision-row")
    quota = expected[0]["quota"]
    assert shown_numbers(row) == {name: number(quota[name]) for name in
                                  ("quantity", "current", "projected", "limit", "remaining", "overage")}
    assert (quota["projected"], quota["overage"]) == (12, 2)
    assert row.locator(".badge").text_content() == "exceeded"
    row.get_by_role("button", name="Details").click()
    record = page.locator("tr.decision-detail:not([hidden]) pre.record")
    assert json.loads(record.text_content()) == expected[0]
    page.screenshot(path=str(shots / "decisions.png"), full_page=True)

    page.get_by_label("Outcome").select_option("accepted")
    page.get_by_label("Meter").select_option(other)
    expected = listed(subject=first, meter=other, outcome="accepted")
    assert shown_keys(1) == [d["idempotency_key"] for d in expected] == [f"{first}-img"]

    page.get_by_label("Subject").fill(second)
    page.get_by_label("Meter").select_option(tokens)
    page.get_by_label("Outcome").select_option("")
    page.get_by_role("button", name="Show decisions").click()
    assert shown_keys(1) == [f"{second}-0"]
    assert page.locator("tr.decision-row .outcome-rejected").count() == 1


def test_entitlement_states_list_with_filters(page: Any, server: ServerProcess) -> None:
    tokens, near, far = unique("tokens"), unique("org"), unique("org")
    create_meter(server, tokens)
    plan = create_plan(server, unique("States"), [{"meter": tokens, "limit": 100, "warning_percent": 80}])
    assign(server, near, plan["id"])
    assign(server, far, plan["id"])
    send_bulk(server, [
        {"idempotency_key": "s1", "subject": near, "meter": tokens, "quantity": 90, "metadata": {"model": "gpt"}},
        {"idempotency_key": "s2", "subject": far, "meter": tokens, "quantity": 10, "metadata": {"model": "gpt"}},
    ])
    # States follow the events as they commit; the page shows them once the API has both.
    deadline = time.monotonic() + 30
    while len(states := http(server, "GET", f"/v1/entitlements/states?meter={tokens}")[1]["items"]) < 2:
        assert time.monotonic() < deadline, f"the states of {tokens} never came: {states}"
        time.sleep(0.2)
    sign_in(page, route="#/entitlements")
    page.get_by_label("Meter").select_option(tokens)
    rows = page.locator("tr.state-row")
    page.wait_for_function("() => document.querySelectorAll('tr.state-row').length === 2")
    assert sorted(rows.evaluate_all("rows => rows.map(r => [r.dataset.subject, r.dataset.state])")) == sorted(
        [s["subject"], s["state"]] for s in states) == sorted([[near, "warning"], [far, "ok"]])

    page.get_by_label("State").select_option("warning")
    page.wait_for_function("() => document.querySelectorAll('tr.state-row').length === 1")
    row = rows.first
    assert row.get_attribute("data-subject") == near
    state = next(s for s in states if s["subject"] == near)
    assert shown_numbers(row) == {name: number(state[name]) for name in ("current", "limit", "remaining")}
    assert "state=warning" in page.url
    row.get_by_role("link", name=near).click()
    page.locator(".quota-card.state-warning").wait_for()


def test_an_admin_puts_a_subject_without_a_plan_on_one_from_its_page(page: Any, server: ServerProcess) -> None:
    tokens, subject = unique("tokens"), unique("org")
    create_meter(server, tokens)
    plan = create_plan(server, unique("Starter"), [{"meter": tokens, "limit": 50}])
    send_bulk(server, [{"idempotency_key": "a1", "subject": subject, "meter": tokens, "quantity": 5,
                        "metadata": {"model": "gpt"}}])
    sign_in(page, route=f"#/subjects/{subject}")
    page.locator(".subject-plan .no-plan").wait_for()
    assert http(server, "GET", f"/v1/plans/subjects/{subject}/progress")[0] == 404
    page.get_by_label("Assign a plan").select_option(plan["id"])
    page.locator("form.subject-assign").get_by_role("button", name="Assign").click()
    card = page.locator(f".quota-card[data-meter={tokens}]")
    card.wait_for()
    _, progress = http(server, "GET", f"/v1/plans/subjects/{subject}/progress")
    assert progress["plan"]["id"] == plan["id"]
    assert card.locator(".quota-current").text_content() == number(progress["items"][0]["current"])
