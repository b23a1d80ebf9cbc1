"""`openspanner plans ...`, `check` and `consume` as an operator runs them against a real server;
answers read from stdout and compared with what openspanner.client gets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openspanner.client import Client
from openspanner.commands.entitlements import EXIT_NOT_ALLOWED
from openspanner.commands.output import json_text
from tests.harness import ADMIN_KEY, ServerProcess
from tests.integration.test_cli import ok, run


@pytest.fixture
def api(shared_server: ServerProcess) -> Iterator[Client]:
    with Client(shared_server.address, ADMIN_KEY) as client:
        yield client


@pytest.fixture
def env(shared_server: ServerProcess) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": shared_server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}


def a_meter(api: Client) -> str:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    api.create_meter({"name": name, "aggregation": "sum", "dimensions": [
        {"name": "region", "type": "string", "required": True},
        {"name": "cached", "type": "boolean", "required": False},
    ]})
    return name


def test_plans_from_flags_and_files_assign_progress_and_delete(
    env: dict[str, str], api: Client, tmp_path: Path
) -> None:
    meter = a_meter(api)
    plan = json.loads(ok(env, "plans", "create", "--name", "starter", "--limit", f"{meter}:100:week:hard"))
    assert plan == json.loads(json_text(api.get_plan(plan["id"])))
    assert [(lim["meter"], lim["limit"], lim["period"], lim["enforcement"]) for lim in plan["limits"]] == [
        (meter, 100, "week", "hard"),
    ]
    listing = ok(env, "plans", "list")
    assert listing.splitlines()[0].split() == ["ID", "NAME", "VERSION", "CURRENT", "LIMITS"]
    assert any(line.startswith(plan["id"]) and f"{meter} 100/week hard" in line for line in listing.splitlines())
    assert json.loads(ok(env, "plans", "show", plan["id"]))["name"] == "starter"

    definition = tmp_path / "plan.json"
    definition.write_text(json.dumps({"name": "starter", "limits": [{"meter": meter, "limit": 300, "period": "week"}]}))
    updated = json.loads(ok(env, "plans", "update", plan["id"], "--file", str(definition)))
    assert (updated["version"], updated["parent_plan_id"]) == (2, plan["id"])

    subject = f"org_{uuid.uuid4().hex[:8]}"
    assigned = json.loads(ok(env, "plans", "assign", subject, updated["id"]))
    assert (assigned["subject"], assigned["status"]) == (subject, "active")
    api.record_usage({"idempotency_key": uuid.uuid4().hex, "subject": subject, "meter": meter, "quantity": 60,
                      "metadata": {"region": "eu"}})
    progress = ok(env, "plans", "progress", subject)
    assert progress.splitlines()[0] == f"{subject}: plan starter v2"
    assert progress.splitlines()[2].split()[:6] == [meter, "week", "ok", "60", "300", "20.0%"]
    assert json.loads(ok(env, "plans", "progress", subject, "--format", "json")) == json.loads(
        json_text(api.get_subject_progress(subject))
    )
    table = ok(env, "plans", "assignments", "--subject", subject, "--history")
    assert [line.split()[3] for line in table.splitlines()[1:]] == ["active"]

    refused = run(env, "plans", "delete", updated["id"])
    assert refused.returncode == 1 and refused.stderr.startswith("error: FAILED_PRECONDITION")
    assert json.loads(ok(env, "plans", "unassign", subject))["status"] == "ended"
    assert ok(env, "plans", "delete", updated["id"]).strip() == f"plan {updated['id']} deleted"

    bad = run(env, "plans", "create", "--name", "x", "--limit", f"{meter}:0")
    assert bad.returncode == 1 and "plan.limits[0].limit" in bad.stderr
    assert run(env, "plans", "create", "--name", "x", "--limit", "nonsense").returncode == 2


def test_check_and_consume_exit_by_the_answer(env: dict[str, str], api: Client) -> None:
    meter = a_meter(api)
    plan = api.create_plan({"name": "tiny", "limits": [{"meter": meter, "limit": 2, "enforcement": "hard"}]})
    subject = f"org_{uuid.uuid4().hex[:8]}"
    no_plan = run(env, "check", subject, meter)
    assert no_plan.returncode == EXIT_NOT_ALLOWED and "subject is not assigned to a plan" in no_plan.stdout
    api.assign_plan(subject, plan["id"])
    quota = json.loads(ok(env, "check", subject, meter, "--quantity", "2", "--format", "json"))
    assert (quota["allowed"], quota["state"], quota["remaining"]) == (True, "exceeded", 0)

    key = uuid.uuid4().hex
    consumed = ok(env, "consume", subject, meter, "--key", key, "--quantity", "2",
                  "--metadata", "region=eu", "--metadata", "cached=true")
    assert consumed.splitlines()[0] == "accepted"
    (event,) = list(api.list_events(meter, subjects=[subject]))
    assert (event["idempotency_key"], event["metadata"]) == (key, {"region": "eu", "cached": True})

    refused = run(env, "consume", subject, meter, "--key", uuid.uuid4().hex, "--metadata", "region=eu",
                  "--format", "json")
    assert refused.returncode == EXIT_NOT_ALLOWED, refused.stderr
    decision = json.loads(refused.stdout)
    assert (decision["accepted"], decision["quota"]["state"], decision["quota"]["current"]) == (False, "exceeded", 2)
    over = run(env, "check", subject, meter)
    assert over.returncode == EXIT_NOT_ALLOWED and over.stdout.splitlines()[1].split()[:2] == ["false", "exceeded"]
