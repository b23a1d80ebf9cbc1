"""Webhook deliveries end to end: a real server, a real receiver started by the test, the
outbox surviving receiver failures and SIGKILL (docs/webhooks.md).

Deliveries are made with POST /v1/alerts/destinations/{id}/test, which enqueues a test event
through the same outbox as every other event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from standardwebhooks.webhooks import Webhook

from openspanner.client import AsyncClient
from openspanner.client import Client as OurClient
from openspanner.v1 import webhook_pb2, webhook_pb2_grpc
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, server_env, start_server
from tests.support.http_calls import http
from tests.support.webhook_receiver import Received, webhook_receiver

# The receiver listens on loopback: these servers allow private targets.
PRIVATE_OK = {"OPENSPANNER_WEBHOOK_ALLOW_PRIVATE": "true"}
FAST_RETRIES = {**PRIVATE_OK, "OPENSPANNER_WEBHOOK_RETRY_SECONDS": "0.2", "OPENSPANNER_WEBHOOK_POLL_SECONDS": "0.1"}


def create_destination(server: ServerProcess, url: str) -> dict[str, Any]:
    code, body = http(server, "POST", "/v1/alerts/destinations", {"name": "receiver", "webhook_url": url})
    assert code == 201, body
    return dict(body)


def send_test_event(server: ServerProcess, destination_id: str) -> dict[str, Any]:
    code, job = http(server, "POST", f"/v1/alerts/destinations/{destination_id}/test")
    assert code == 202, job
    assert job["status"] == "pending"
    return dict(job)


def job_when(server: ServerProcess, job_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """The job with its delivery log once it has `status` (fails the test if it never does)."""
    deadline = time.monotonic() + timeout
    while True:
        code, job = http(server, "GET", f"/v1/alerts/delivery-jobs/{job_id}")
        assert code == 200, job
        if job["status"] == status:
            return dict(job)
        assert time.monotonic() < deadline, f"job is {job['status']}, never {status}: {job}"
        time.sleep(0.1)


def product_signature_ok(secret: str, request: Received) -> bool:
    """The product's check, by hand: HMAC-SHA256 keyed with the secret string over timestamp.body."""
    timestamp = request.headers["x-open-spanner-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-open-spanner-signature"], f"v1={expected}")


def test_every_attempt_is_signed_both_ways_and_retried_until_a_2xx_with_one_webhook_id(tmp_path: Path) -> None:
    with webhook_receiver(statuses=[500, 500, 200]) as receiver, running_server(tmp_path, **FAST_RETRIES) as server:
        destination = create_destination(server, receiver.url)
        signing = destination["webhook_signing"]
        job = send_test_event(server, destination["id"])

        delivered = job_when(server, job["id"], "delivered")
        requests = receiver.wait_for(3)

    assert len(requests) == 3
    assert [row["status"] for row in delivered["deliveries"]] == ["failed", "failed", "delivered"]
    assert [row["status_code"] for row in delivered["deliveries"]] == [500, 500, 200]
    assert [row["attempt"] for row in delivered["deliveries"]] == [1, 2, 3]
    assert delivered["attempts"] == 3
    # One delivery, one id, one body: the payload was frozen when the event was enqueued.
    assert {r.headers["webhook-id"] for r in requests} == {job["id"]}
    assert {r.headers["x-open-spanner-delivery-id"] for r in requests} == {job["id"]}
    assert len({r.body for r in requests}) == 1
    assert json.loads(requests[0].body)["event"]["type"] == "test"
    standard = Webhook(signing["standard_webhooks_secret"])
    for request in requests:
        assert product_signature_ok(signing["secret"], request)
        # The Standard Webhooks library verifies (and checks the timestamp is recent).
        assert standard.verify(request.body, request.headers) == json.loads(request.body)
    assert signing["secret"].startswith("osp_whsec_")


def test_a_receiver_down_until_the_dead_letter_gets_it_on_a_manual_retry(tmp_path: Path) -> None:
    settings = {**FAST_RETRIES, "OPENSPANNER_WEBHOOK_MAX_ATTEMPTS": "3"}
    with webhook_receiver() as receiver, running_server(tmp_path, **settings) as server:
        receiver.default_status = 503
        destination = create_destination(server, receiver.url)
        job = send_test_event(server, destination["id"])

        dead = job_when(server, job["id"], "dead_letter")
        assert [row["status"] for row in dead["deliveries"]] == ["failed"] * 3
        assert dead["last_status_code"] == 503
        query = f"status=dead_letter&destination_id={destination['id']}"
        code, listed = http(server, "GET", f"/v1/alerts/delivery-jobs?{query}")
        assert code == 200 and [item["id"] for item in listed["items"]] == [job["id"]]

        receiver.default_status = 204
        code, requeued = http(server, "POST", f"/v1/alerts/delivery-jobs/{job['id']}/retry")
        assert code == 200, requeued
        assert requeued["status"] == "pending"
        delivered = job_when(server, job["id"], "delivered")
        code, again = http(server, "POST", f"/v1/alerts/delivery-jobs/{job['id']}/retry")

    assert [row["status"] for row in delivered["deliveries"]] == ["failed"] * 3 + ["delivered"]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {job["id"]}
    assert code == 409 and again["error"]["code"] == "conflict"


def test_a_job_stored_but_never_attempted_before_a_kill_is_delivered_after_the_restart(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        # No worker runs: the job is stored and nothing attempts it before the kill.
        server = start_server(tmp_path, **PRIVATE_OK, OPENSPANNER_WORKERS="false")
        destination = create_destination(server, receiver.url)
        job = send_test_event(server, destination["id"])
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert receiver.requests == []

        with running_server(tmp_path, server.database, **FAST_RETRIES) as restarted:
            job_when(restarted, job["id"], "delivered")
    assert [r.headers["webhook-id"] for r in receiver.requests] == [job["id"]]


def test_an_attempt_in_flight_at_a_kill_is_made_again_after_the_restart(tmp_path: Path) -> None:
    # A lease shorter than the default 30 s, so the test waits less for the interrupted attempt; the
    # attempt's timeout stays long enough that the kill comes while the receiver holds it.
    lease = {"OPENSPANNER_WEBHOOK_TIMEOUT_SECONDS": "5", "OPENSPANNER_WEBHOOK_LEASE_SECONDS": "6"}
    with webhook_receiver() as receiver:
        receiver.hang.set()
        server = start_server(tmp_path, **FAST_RETRIES, **lease)
        destination = create_destination(server, receiver.url)
        job = send_test_event(server, destination["id"])
        receiver.wait_for(1)  # the attempt is in flight: the receiver holds it
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        code, running = 0, None
        receiver.hang.clear()

        with running_server(tmp_path, server.database, **FAST_RETRIES, **lease) as restarted:
            code, running = http(restarted, "GET", f"/v1/alerts/delivery-jobs/{job['id']}")
            delivered = job_when(restarted, job["id"], "delivered")
    requests = receiver.wait_for(2)
    assert code == 200 and running is not None
    assert {r.headers["webhook-id"] for r in requests} == {job["id"]}
    # The killed attempt left no row in the log (its outcome was never known): this one is the first.
    assert [row["attempt"] for row in delivered["deliveries"]] == [1]


def test_openspanner_worker_delivers_what_a_server_without_workers_stored(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        with running_server(tmp_path, **PRIVATE_OK, OPENSPANNER_WORKERS="false") as server:
            destination = create_destination(server, receiver.url)
            job = send_test_event(server, destination["id"])
        assert receiver.requests == []
        worker = subprocess.Popen(
            [sys.executable, "-m", "openspanner", "worker"],
            env=server_env(tmp_path, server.database, FAST_RETRIES), stderr=subprocess.PIPE, text=True,
        )
        try:
            requests = receiver.wait_for(1)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, log = worker.communicate(timeout=60)
    assert worker.returncode == 0, log
    assert [r.headers["webhook-id"] for r in requests] == [job["id"]]
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e["event"] == "delivery attempted" and e["status"] == "delivered" for e in events)
    assert any(e["event"] == "worker started" for e in events)
    assert not any(e["event"] == "server started" for e in events)  # no ports


def test_a_hanging_receiver_holds_only_its_own_attempt(tmp_path: Path) -> None:
    with webhook_receiver() as hanging, webhook_receiver() as healthy:
        hanging.hang.set()
        with running_server(tmp_path, **FAST_RETRIES, OPENSPANNER_WEBHOOK_CONCURRENCY="4") as server:
            stuck = send_test_event(server, create_destination(server, hanging.url)["id"])
            hanging.wait_for(1)
            # While that attempt hangs, another destination's delivery goes out and usage is recorded.
            other = send_test_event(server, create_destination(server, healthy.url)["id"])
            job_when(server, other["id"], "delivered")
            code, meter = http(server, "POST", "/v1/meters", {"name": "hooks_usage", "aggregation": "sum"})
            assert code == 201, meter
            code, usage = http(server, "POST", "/v1/usages", {
                "idempotency_key": "k1", "subject": "s", "meter": "hooks_usage", "quantity": 1,
            })
            assert code == 201, usage
            code, running = http(server, "GET", f"/v1/alerts/delivery-jobs/{stuck['id']}")
            hanging.released.set()
    assert running["status"] == "running"


@pytest.fixture
def destination(shared_server: ServerProcess) -> dict[str, Any]:
    # A public address: nothing is sent to it (no event is enqueued for it).
    return create_destination(shared_server, "https://93.184.215.14/hook")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "http or https"),
        ("/relative", "http or https"),
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://localhost/x", "this host"),
        ("http://10.1.2.3/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://user:pw@93.184.215.14/", "credentials"),
    ],
)
def test_a_target_it_may_not_call_is_refused_naming_the_field(
    shared_server: ServerProcess, url: str, reason: str
) -> None:
    code, body = http(shared_server, "POST", "/v1/alerts/destinations", {"name": "x", "webhook_url": url})
    assert code == 400, body
    assert body["error"]["field"] == "webhook_url"
    assert reason in body["error"]["message"]


def test_destination_routes_answer_the_products_shapes(
    shared_server: ServerProcess, destination: dict[str, Any]
) -> None:
    path = f"/v1/alerts/destinations/{destination['id']}"
    signing = destination["webhook_signing"]
    assert signing["algorithm"] == "hmac-sha256"
    assert signing["signature_header"] == "X-Open-Spanner-Signature"
    assert signing["standard_webhooks_secret"].startswith("whsec_")

    code, listed = http(shared_server, "GET", "/v1/alerts/destinations?enabled=true")
    assert code == 200
    mine = next(item for item in listed["items"] if item["id"] == destination["id"])
    assert "secret" not in mine["webhook_signing"] and "standard_webhooks_secret" not in mine["webhook_signing"]
    code, got = http(shared_server, "GET", path)
    assert code == 200 and got == mine

    code, updated = http(shared_server, "PUT", path, {"name": "renamed", "enabled": False})
    assert code == 200, updated
    assert (updated["name"], updated["enabled"]) == ("renamed", False)
    assert updated["webhook_url"] == destination["webhook_url"]
    code, refused = http(shared_server, "PUT", path, {"webhook_url": "http://192.168.0.1/"})
    assert code == 400 and refused["error"]["field"] == "webhook_url"

    assert updated["event_types"] == []
    types = ["entitlement.recovered", "entitlement.exceeded"]
    code, subscribed = http(shared_server, "PUT", path, {"event_types": types})
    assert code == 200 and subscribed["event_types"] == ["entitlement.exceeded", "entitlement.recovered"]
    code, refused = http(shared_server, "PUT", path, {"event_types": ["alert.triggered"]})
    assert code == 400 and refused["error"]["field"] == "event_types"

    code, rotated = http(shared_server, "POST", f"{path}/webhook-secret/rotate")
    assert code == 200
    assert rotated["webhook_signing"]["secret"] not in (None, signing["secret"])

    code, _ = http(shared_server, "DELETE", path)
    assert code == 204
    code, gone = http(shared_server, "GET", path)
    assert code == 404 and gone["error"]["code"] == "not_found"


def test_bad_destination_input_names_its_field(shared_server: ServerProcess) -> None:
    code, body = http(shared_server, "POST", "/v1/alerts/destinations", {"name": " ", "webhook_url": "https://93.184.215.14/"})
    assert code == 400 and body["error"]["field"] == "name"
    code, body = http(shared_server, "POST", "/v1/alerts/destinations",
                      {"name": "x", "type": "email", "webhook_url": "https://93.184.215.14/"})
    assert code == 400 and body["error"]["field"] == "type"
    code, body = http(shared_server, "POST", "/v1/alerts/destinations/nope/webhook-secret/rotate")
    assert code == 404
    code, body = http(shared_server, "GET", "/v1/alerts/delivery-jobs?status=lost")
    assert code == 400 and body["error"]["field"] == "status"
    code, body = http(shared_server, "POST", "/v1/alerts/delivery-jobs/nope/retry")
    assert code == 404


def test_a_read_key_lists_destinations_but_cannot_change_them_or_see_secrets(
    shared_server: ServerProcess, destination: dict[str, Any]
) -> None:
    code, created = http(shared_server, "POST", "/v1/api-keys", {"scope": "read"})
    assert code == 201
    read_key = created["secret"]
    code, listed = http(shared_server, "GET", "/v1/alerts/destinations", key=read_key)
    assert code == 200 and destination["id"] in [item["id"] for item in listed["items"]]
    code, _ = http(shared_server, "GET", "/v1/alerts/delivery-jobs", key=read_key)
    assert code == 200
    for method, path in (
        ("POST", f"/v1/alerts/destinations/{destination['id']}/webhook-secret/rotate"),
        ("DELETE", f"/v1/alerts/destinations/{destination['id']}"),
        ("POST", f"/v1/alerts/destinations/{destination['id']}/test"),
    ):
        code, body = http(shared_server, method, path, key=read_key)
        assert code == 403, (method, path, body)


def test_our_grpc_api_serves_the_same_destinations_and_deliveries(client: Client) -> None:
    destinations = webhook_pb2_grpc.DestinationServiceStub(client.channel)
    deliveries = webhook_pb2_grpc.DeliveryServiceStub(client.channel)
    created = client.call(destinations.CreateDestination, webhook_pb2.CreateDestinationRequest(
        name="grpc", webhook_url="https://93.184.215.14/hook", enabled=False,
    ))
    assert created.signing_secret.secret.startswith("osp_whsec_")
    assert created.signing_secret.standard_webhooks_secret.startswith("whsec_")
    assert not created.destination.enabled
    destination_id = created.destination.id

    got = client.call(destinations.GetDestination, webhook_pb2.GetDestinationRequest(id=destination_id))
    assert got.destination == created.destination
    renamed = client.call(destinations.UpdateDestination, webhook_pb2.UpdateDestinationRequest(
        id=destination_id, name="renamed",
    ))
    assert (renamed.destination.name, renamed.destination.webhook_url) == ("renamed", "https://93.184.215.14/hook")
    listed = client.call(destinations.ListDestinations, webhook_pb2.ListDestinationsRequest(enabled=False))
    assert destination_id in [d.id for d in listed.destinations]

    # The destination is disabled: its test event fails at once and waits for its next attempt.
    job = client.call(destinations.TestDestination, webhook_pb2.TestDestinationRequest(id=destination_id)).delivery_job
    deadline = time.monotonic() + 60
    while True:
        answer = client.call(deliveries.GetDeliveryJob, webhook_pb2.GetDeliveryJobRequest(id=job.id))
        if answer.attempts:
            break
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    assert answer.attempts[0].error == "destination is disabled"
    assert answer.delivery_job.status == "pending" and answer.delivery_job.HasField("next_attempt_time")
    with pytest.raises(grpc.RpcError) as refused:
        client.call(deliveries.RetryDeliveryJob, webhook_pb2.RetryDeliveryJobRequest(id=job.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    listed_jobs = client.call(deliveries.ListDeliveryJobs, webhook_pb2.ListDeliveryJobsRequest(
        destination_id=destination_id,
    ))
    assert [j.id for j in listed_jobs.delivery_jobs] == [job.id]

    with pytest.raises(grpc.RpcError) as invalid:
        client.call(destinations.CreateDestination, webhook_pb2.CreateDestinationRequest(
            name="x", webhook_url="http://169.254.169.254/",
        ))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "webhook_url" in (invalid.value.details() or "")
    client.call(destinations.DeleteDestination, webhook_pb2.DeleteDestinationRequest(id=destination_id))
    with pytest.raises(grpc.RpcError) as gone:
        client.call(destinations.GetDestination, webhook_pb2.GetDestinationRequest(id=destination_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_python_clients_and_the_command_line_manage_destinations_and_deliveries(
    shared_server: ServerProcess,
) -> None:
    with OurClient(shared_server.address, ADMIN_KEY) as api:
        created = api.create_destination("from the client", "https://93.184.215.14/hook", enabled=False)
        destination_id = created["destination"]["id"]
        assert created["signing_secret"]["standard_webhooks_secret"].startswith("whsec_")
        assert api.get_destination(destination_id)["enabled"] is False
        job = api.test_destination(destination_id)
        assert job["status"] == "pending"

    async def from_the_async_client() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with AsyncClient(shared_server.address, ADMIN_KEY) as aio:
            return await aio.get_delivery_job(job["id"]), await aio.list_destinations(enabled=False)

    answer, listed = asyncio.run(from_the_async_client())
    assert answer["delivery_job"]["id"] == job["id"]
    assert destination_id in [d["id"] for d in listed]

    env = {"PATH": "/usr/bin:/bin", "OPENSPANNER_SERVER": shared_server.address, "OPENSPANNER_API_KEY": ADMIN_KEY}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "openspanner", *args], capture_output=True, text=True,
                              timeout=120, env=env)

    made = cli("destinations", "create", "cli", "https://93.184.215.14/other")
    assert made.returncode == 0, made.stderr
    made_id = json.loads(made.stdout)["destination"]["id"]
    assert json.loads(made.stdout)["signing_secret"]["secret"].startswith("osp_whsec_")
    assert "shown only once" in made.stderr
    listing = cli("destinations", "list")
    assert listing.returncode == 0 and made_id in listing.stdout and "cli" in listing.stdout
    updated = cli("destinations", "update", made_id, "--disable", "--name", "cli-renamed")
    assert updated.returncode == 0 and json.loads(updated.stdout)["name"] == "cli-renamed"
    refused = cli("destinations", "create", "bad", "http://10.0.0.1/")
    assert refused.returncode == 1 and "webhook_url" in refused.stderr
    jobs = cli("deliveries", "list", "--destination", destination_id, "--format", "json")
    assert jobs.returncode == 0 and [j["id"] for j in json.loads(jobs.stdout)] == [job["id"]]
    retried = cli("deliveries", "retry", job["id"])
    assert retried.returncode == 1 and "FAILED_PRECONDITION" in retried.stderr
    assert cli("destinations", "delete", made_id).returncode == 0
    assert cli("destinations", "get", made_id).returncode == 1
