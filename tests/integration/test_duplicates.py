"""A duplicate is answered with the event that counts, and with what the resend got wrong.

Through real gRPC and HTTP on the shared server: a key sent again, with its
timestamp, another one or none, is DUPLICATE with the stored event; a resend
that differs names the differing fields; the stored event keeps counting.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from openspanner.v1 import meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess
from tests.integration.test_usage import FromNow


def send(client: Client, meter: str, key: str, **fields: Any) -> usage_pb2.RecordUsageResponse:
    payload: dict[str, Any] = {"idempotency_key": key, "subject": "org_1", "meter": meter, "quantity": 3,
                               "metadata": {"region": "eu"}}
    payload.update(fields)
    return client.call(client.usage.RecordUsage, json_format.ParseDict(payload, usage_pb2.UsageEvent()))


def total(client: Client, meter: str) -> float:
    request = query_pb2.QueryUsageRequest(meter=meter)
    request.start_time.FromSeconds(0)
    request.end_time.GetCurrentTime()
    request.end_time.FromSeconds(request.end_time.seconds + 600)
    return sum(row.value for row in client.call(client.query.QueryUsage, request).rows)


def test_a_key_sent_again_is_answered_with_the_stored_event_and_the_fields_that_differ(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    meter = make_meter(event_retention_days=30).name
    key = uuid.uuid4().hex
    first_time = FromNow(-3600).rfc3339()
    first = send(client, meter, key, quantity=5, timestamp=first_time, metadata={"region": "eu", "cached": True})
    assert first.outcome == usage_pb2.ACCEPTED
    stored = first.event
    assert (stored.idempotency_key, stored.subject, stored.meter, stored.quantity) == (key, "org_1", meter, 5)
    assert json_format.MessageToDict(stored.metadata) == {"region": "eu", "cached": True}
    assert stored.id and stored.HasField("ingest_time")

    same = send(client, meter, key, quantity=5, timestamp=first_time, metadata={"region": "eu", "cached": True})
    assert (same.outcome, same.event, list(same.conflicting_fields)) == (usage_pb2.DUPLICATE, stored, [])

    restamped = send(client, meter, key, quantity=5, metadata={"region": "eu", "cached": True})  # no timestamp
    assert (restamped.outcome, restamped.event, list(restamped.conflicting_fields)) == (
        usage_pb2.DUPLICATE, stored, []
    )

    changed = send(client, meter, key, quantity=9, subject="org_2", timestamp=FromNow(-60).rfc3339(),
                   metadata={"region": "us"})
    assert changed.outcome == usage_pb2.DUPLICATE
    assert changed.event == stored
    assert list(changed.conflicting_fields) == ["subject", "quantity", "timestamp", "metadata.cached",
                                                 "metadata.region"]
    assert total(client, meter) == 5

    listed = client.call(client.query.ListEvents, query_pb2.ListEventsRequest(meter=meter)).events
    assert [event.id for event in listed] == [stored.id]


def test_bulk_duplicates_carry_the_stored_event(client: Client, make_meter: Callable[..., meter_pb2.Meter]) -> None:
    meter = make_meter().name
    keys = [uuid.uuid4().hex for _ in range(3)]
    assert send(client, meter, keys[0], quantity=2).outcome == usage_pb2.ACCEPTED
    request = usage_pb2.RecordUsagesRequest()
    for key, quantity in zip([*keys, keys[1]], (2, 4, 6, 7), strict=True):
        json_format.ParseDict({"idempotency_key": key, "subject": "org_1", "meter": meter, "quantity": quantity,
                               "metadata": {"region": "eu"}}, request.events.add())
    answer = client.call(client.usage.RecordUsages, request)
    assert [r.outcome for r in answer.results] == [
        usage_pb2.DUPLICATE, usage_pb2.ACCEPTED, usage_pb2.ACCEPTED, usage_pb2.DUPLICATE
    ]
    assert [r.HasField("event") for r in answer.results] == [True, False, False, True]
    assert (answer.results[0].event.quantity, list(answer.results[0].conflicting_fields)) == (2, [])
    # Repeated inside the call: the first copy in the call is the one stored.
    assert (answer.results[3].event.quantity, list(answer.results[3].conflicting_fields)) == (4, ["quantity"])
    assert total(client, meter) == 12


def test_over_http_a_duplicate_answers_with_the_stored_event(
    shared_server: ServerProcess, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    meter = make_meter().name
    event = {"idempotency_key": uuid.uuid4().hex, "subject": "org_1", "meter": meter, "quantity": 3,
             "metadata": {"region": "eu"}}

    def post(body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            shared_server.base_url + "/v1/usages", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            return json.loads(response.read())

    accepted = post(event)
    again = post({**event, "quantity": 4})
    assert (accepted.pop("outcome"), again.pop("outcome")) == ("accepted", "duplicate")
    assert (accepted.pop("conflicting_fields"), again.pop("conflicting_fields")) == ([], ["quantity"])
    assert again == accepted
    assert accepted["quantity"] == 3
