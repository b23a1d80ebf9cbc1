"""The product's official client against the two REST refusals (tests/integration/test_rest_refusals.py):
its functions send only the parameters they declare, and its bulk retries replay the first answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerProcess, running_server
from tests.integration.test_rest_refusals import new_meter, stored_keys
from tests.system.test_product_rest import run_rest


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("rest-refusals-product")) as running:
        yield running


def test_the_product_client_reads_the_refusal(server: ServerProcess) -> None:
    """Its functions send only what they declare; a caller adding a parameter gets the error body."""
    meter = new_meter(server)
    out = run_rest(server, """
        import httpx
        listed = list_meters.sync_detailed(client=client, limit=10)
        raw = client.get_httpx_client().get("/v1/meters", params={"limit": 10, "page_size": 1})
        emit({"listed": listed.status_code, "raw": [raw.status_code, raw.json()]})
    """, METER=meter)
    assert out["listed"] == 200
    assert out["raw"][0] == 400 and out["raw"][1]["error"]["field"] == "page_size"


def test_the_product_clients_bulk_retry_replays(server: ServerProcess) -> None:
    """The product's client resends its body unchanged (retry_usage_write calls the same request
    again): the second answer is the first, marked; its README's events built anew replay too."""
    meter = new_meter(server)
    out = run_rest(server, """
        from open_spanner_client.retry import retry_usage_write
        batch_key = "batch-" + meter

        def events():
            return [usage(f"p{i}", i + 1, timestamp=datetime.now(UTC).isoformat(), metadata={"model": "m1"})
                    for i in range(3)]

        body = events()
        call = lambda: create_usage_bulk.sync_detailed(client=client, body=body, idempotency_key=batch_key)
        first, second = retry_usage_write(call), retry_usage_write(call)
        rebuilt = create_usage_bulk.sync_detailed(client=client, body=events(), idempotency_key=batch_key)
        emit({name: {"status": r.status_code, "replayed": r.headers.get("Idempotent-Replayed"),
                     "parsed": r.parsed} for name, r in (("first", first), ("second", second), ("rebuilt", rebuilt))})
    """, METER=meter)
    assert (out["first"]["status"], out["first"]["replayed"], out["first"]["parsed"]["accepted"]) == (201, None, 3)
    for again in (out["second"], out["rebuilt"]):
        assert (again["status"], again["replayed"], again["parsed"]) == (201, "true", out["first"]["parsed"])
    assert stored_keys(server, meter) == ["p0", "p1", "p2"]
