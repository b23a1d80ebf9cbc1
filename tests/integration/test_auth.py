"""Every RPC but health and reflection needs a key whose scope covers it."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from openspanner.client import StreamClient, StreamError
from openspanner.v1 import api_key_pb2, meter_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, running_server, storage


def new_key(client: Client, scope: int, name: str = "test") -> str:
    response = client.call(client.keys.CreateApiKey, api_key_pb2.CreateApiKeyRequest(scope=scope, name=name))
    assert response.secret.startswith(f"osk_{response.api_key.id}_")
    return str(response.secret)


def status_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.fixture
def meter_name(make_meter: Callable[..., meter_pb2.Meter]) -> str:
    return make_meter().name


def usage(meter_name: str) -> usage_pb2.UsageEvent:
    event = usage_pb2.UsageEvent(idempotency_key="k", subject="s", meter=meter_name, quantity=1)
    event.metadata.update({"region": "eu"})
    return event


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer osk_000000000000_wrong",
        "test-admin-key-0123456789",  # the right key without the Bearer scheme
    ],
)
def test_missing_or_unknown_key_is_unauthenticated(
    client: Client, meter_name: str, authorization: str | None
) -> None:
    metadata = [("authorization", authorization)] if authorization else []
    with pytest.raises(grpc.RpcError) as caught:
        client.meters.GetMeter(meter_pb2.GetMeterRequest(name=meter_name), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization" in caught.value.details() or "api key" in caught.value.details()


def test_scopes_allow_exactly_their_calls(client: Client, meter_name: str) -> None:
    ingest = client.with_key(new_key(client, api_key_pb2.INGEST))
    read = client.with_key(new_key(client, api_key_pb2.READ))
    admin = client.with_key(new_key(client, api_key_pb2.ADMIN))
    get = meter_pb2.GetMeterRequest(name=meter_name)
    calls = {
        "record": lambda c: c.call(c.usage.RecordUsage, usage(meter_name)),
        "bulk": lambda c: c.call(c.usage.RecordUsages, usage_pb2.RecordUsagesRequest(events=[usage(meter_name)])),
        "get": lambda c: c.call(c.meters.GetMeter, get),
        "list": lambda c: c.call(c.meters.ListMeters, meter_pb2.ListMetersRequest()),
        "create": lambda c: c.call(
            c.meters.CreateMeter, meter_pb2.Meter(name=meter_name + "_x", aggregation=meter_pb2.count)
        ),
        "keys": lambda c: c.call(c.keys.ListApiKeys, api_key_pb2.ListApiKeysRequest()),
    }
    # An ingest key may read the meter it writes to, but not list meters.
    allowed = {"ingest": {"record", "bulk", "get"}, "read": {"get", "list"}, "admin": set(calls)}
    for name, key_client in (("ingest", ingest), ("read", read), ("admin", admin)):
        for call_name, call in calls.items():
            expected = grpc.StatusCode.OK if call_name in allowed[name] else grpc.StatusCode.PERMISSION_DENIED
            if call_name == "create" and name == "admin":
                continue  # checked below, once
            assert status_of(functools.partial(call, key_client)) == expected, (name, call_name)
    assert status_of(lambda: calls["create"](admin)) == grpc.StatusCode.OK


def test_permission_denied_names_scope_and_method(client: Client, meter_name: str) -> None:
    reader = client.with_key(new_key(client, api_key_pb2.READ))
    with pytest.raises(grpc.RpcError) as caught:
        reader.call(reader.usage.RecordUsage, usage(meter_name))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == (
        "this api key has scope read; /openspanner.v1.UsageService/RecordUsage needs ingest"
    )


def test_revoked_key_is_refused(client: Client, meter_name: str) -> None:
    secret = new_key(client, api_key_pb2.READ)
    reader = client.with_key(secret)
    reader.call(reader.meters.GetMeter, meter_pb2.GetMeterRequest(name=meter_name))
    key_id = secret.split("_")[1]
    revoked = client.call(client.keys.RevokeApiKey, api_key_pb2.RevokeApiKeyRequest(id=key_id))
    assert revoked.HasField("revoke_time")
    assert status_of(lambda: reader.call(reader.meters.GetMeter, meter_pb2.GetMeterRequest(name=meter_name))) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    listed = client.call(client.keys.ListApiKeys, api_key_pb2.ListApiKeysRequest())
    assert key_id not in {k.id for k in listed.api_keys}
    listed = client.call(client.keys.ListApiKeys, api_key_pb2.ListApiKeysRequest(include_revoked=True))
    assert key_id in {k.id for k in listed.api_keys}


def test_health_and_reflection_need_no_key(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    answer = health.Check(health_pb2.HealthCheckRequest(service="openspanner.v1.UsageService"))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openspanner", *args],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_keys_cli_creates_lists_revokes_and_stores_only_a_hash(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        env = {"OPENSPANNER_SERVER": server.address, "OPENSPANNER_ADMIN_API_KEY": ADMIN_KEY}
        created = cli("keys", "create", "--scope", "ingest", "--name", "billing-svc", **env)
        assert created.returncode == 0, created.stderr
        secret = created.stdout.strip()
        key_id = secret.split("_")[1]
        assert "shown only once" in created.stderr

        ingester = Client(server.address, secret)
        assert status_of(lambda: ingester.call(ingester.meters.ListMeters, meter_pb2.ListMetersRequest())) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        listed = cli("keys", "list", **env)
        assert key_id in listed.stdout and "billing-svc" in listed.stdout and "ingest" in listed.stdout
        assert secret not in listed.stdout

        assert cli("keys", "revoke", key_id, **env).returncode == 0
        assert key_id not in cli("keys", "list", **env).stdout
        assert key_id in cli("keys", "list", "--all", **env).stdout

        no_key = cli("keys", "list", OPENSPANNER_SERVER=server.address)
        assert no_key.returncode != 0 and "admin key" in no_key.stderr
    with storage(server) as ch:
        dump = str(ch.query("SELECT * FROM api_keys").result_rows)
        assert key_id in dump
        assert secret.split("_", 2)[2] not in dump


def test_offline_key_bootstraps_a_server_without_admin_env(tmp_path: Path) -> None:
    created = cli("keys", "create", "--scope", "admin", "--offline", OPENSPANNER_DATA_DIR=str(tmp_path),
                  OPENSPANNER_CLICKHOUSE_DATABASE="boot")
    assert created.returncode == 0, created.stderr
    with running_server(tmp_path, "boot", OPENSPANNER_ADMIN_API_KEY="") as server:
        admin = Client(server.address, created.stdout.strip())
        assert admin.call(admin.meters.ListMeters, meter_pb2.ListMetersRequest()) is not None
        env_key_client = Client(server.address, ADMIN_KEY)  # no bootstrap key on this server
        listing = functools.partial(
            env_key_client.call, env_key_client.meters.ListMeters, meter_pb2.ListMetersRequest()
        )
        assert status_of(listing) == grpc.StatusCode.UNAUTHENTICATED


def test_a_key_revoked_while_its_stream_is_open_stops_the_stream(tmp_path: Path) -> None:
    """Within the key cache's refresh interval (1 s in tests), not when the connection is recycled."""
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, meter_pb2.Meter(name="streamed", aggregation=meter_pb2.sum))
        secret = new_key(client, api_key_pb2.INGEST)
        key_id = secret.split("_")[1]

        def event(i: int) -> usage_pb2.UsageEvent:
            return usage_pb2.UsageEvent(idempotency_key=f"e{i}", subject="org", meter="streamed", quantity=1)

        async def scenario() -> tuple[int, StreamError]:
            start = usage_pb2.StreamUsageStart(meters=["streamed"])
            before = 0
            # The stream ends where the client next hears from it: a send, the flush or the close.
            with pytest.raises(StreamError) as ended:
                async with StreamClient(server.address, secret, start, batch_size=1) as stream:
                    for i in range(3):
                        await stream.send(event(i))
                    await stream.flush(timeout=30)
                    before = stream.stats.outcomes.get("ACCEPTED", 0)
                    await asyncio.to_thread(
                        client.call, client.keys.RevokeApiKey, api_key_pb2.RevokeApiKeyRequest(id=key_id)
                    )
                    await asyncio.sleep(1.5)
                    for i in range(3, 10):
                        await stream.send(event(i))
                        await asyncio.sleep(0.2)
                    await stream.flush(timeout=30)
            return before, ended.value

        accepted_before, ended = asyncio.run(scenario())
        client.close()
    assert accepted_before == 3
    assert ended.code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in ended.details
    with storage(server) as ch:
        stored = ch.query("SELECT count() FROM usage_events FINAL WHERE meter = 'streamed'").result_rows[0][0]
    assert stored == 3
