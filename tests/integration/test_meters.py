"""MeterService through gRPC: creation rules, updates, deletion, listing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from openspanner.v1 import meter_pb2, usage_pb2
from tests.harness import Client


def meter(**fields: Any) -> meter_pb2.Meter:
    definition = {"name": f"m_{uuid.uuid4().hex[:10]}", "aggregation": "sum"}
    definition.update(fields)
    return json_format.ParseDict(definition, meter_pb2.Meter())


def refused(client: Client, method: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        client.call(method, request)
    return caught.value


def test_defaults_are_filled_in(client: Client) -> None:
    created = client.call(client.meters.CreateMeter, meter())
    assert created.event_retention_days == 90
    assert created.create_time.seconds > 0
    assert client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=created.name)) == created


@pytest.mark.parametrize(
    ("fields", "field_name", "rule"),
    [
        ({"name": ""}, "name", "is required"),
        ({"name": "Api_requests"}, "name", "lowercase"),
        ({"name": "1requests"}, "name", "start with a letter"),
        ({"name": "api-requests"}, "name", "lowercase letters, digits and _"),
        ({"name": "a" * 65}, "name", "at most 64"),
        ({"aggregation": "AGGREGATION_UNSPECIFIED"}, "aggregation", "is required, one of sum, count"),
        ({"event_retention_days": 3651}, "event_retention_days", "between 1 and 3650"),
        ({"event_retention_days": -1}, "event_retention_days", "between 1 and 3650"),
        ({"dimensions": [{"name": "subject", "type": "string"}]}, "dimensions[0].name", "built in"),
        ({"dimensions": [{"name": "a b", "type": "string"}]}, "dimensions[0].name", "letters, digits"),
        ({"dimensions": [{"name": "", "type": "string"}]}, "dimensions[0].name", "is required"),
        (
            {"dimensions": [{"name": "x", "type": "string"}, {"name": "x", "type": "number"}]},
            "dimensions[1].name",
            "declared twice",
        ),
        ({"dimensions": [{"name": "x"}]}, "dimensions[0].type", "is required, one of string"),
    ],
)
def test_invalid_meters_are_refused_naming_the_field(
    client: Client, fields: dict[str, Any], field_name: str, rule: str
) -> None:
    error = refused(client, client.meters.CreateMeter, meter(**fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field_name}: ")
    assert rule in error.details()


def test_dimension_names_allow_letters_digits_underscore_hyphen_dot(client: Client) -> None:
    created = client.call(
        client.meters.CreateMeter,
        meter(dimensions=[{"name": "Cache-hit.v2_x", "type": "boolean", "required": True}]),
    )
    assert created.dimensions[0].name == "Cache-hit.v2_x"


def test_name_is_unique(client: Client) -> None:
    first = client.call(client.meters.CreateMeter, meter())
    error = refused(client, client.meters.CreateMeter, meter(name=first.name, aggregation="max"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.name in error.details()
    got = client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=first.name))
    assert got.aggregation == meter_pb2.sum


def test_get_unknown_meter_is_not_found(client: Client) -> None:
    error = refused(client, client.meters.GetMeter, meter_pb2.GetMeterRequest(name="no_such_meter"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_meter" in error.details()


def test_list_pages_through_every_meter_in_name_order(client: Client) -> None:
    prefix = f"page_{uuid.uuid4().hex[:6]}_"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for name in reversed(names):
        client.call(client.meters.CreateMeter, meter(name=name))
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = client.call(
            client.meters.ListMeters, meter_pb2.ListMetersRequest(page_size=3, page_token=token)
        )
        assert len(page.meters) <= 3
        seen.extend(m.name for m in page.meters)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen)
    assert [n for n in seen if n.startswith(prefix)] == names
    error = refused(client, client.meters.ListMeters, meter_pb2.ListMetersRequest(page_size=5000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("page_size:")


def update(client: Client, current: meter_pb2.Meter, paths: list[str] | None = None, **changes: Any) -> Any:
    changed = meter_pb2.Meter()
    changed.CopyFrom(current)
    for key, value in changes.items():
        if key == "dimensions":
            del changed.dimensions[:]
            changed.dimensions.extend(
                json_format.ParseDict(d, meter_pb2.Dimension()) for d in value
            )
        else:
            setattr(changed, key, value)
    request = meter_pb2.UpdateMeterRequest(meter=changed)
    if paths:
        request.update_mask.paths.extend(paths)
    return client.call(client.meters.UpdateMeter, request)


def test_update_changes_description_unit_retention_and_adds_optional_dimension(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    current = make_meter()
    dims = [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in current.dimensions]
    updated = update(
        client, current,
        description="new words", unit="call", event_retention_days=400,
        dimensions=[*dims, {"name": "plan", "type": "string"}],
    )
    assert (updated.description, updated.unit, updated.event_retention_days) == ("new words", "call", 400)
    assert [d.name for d in updated.dimensions][-1] == "plan"
    assert updated.create_time == current.create_time
    assert updated.update_time.ToNanoseconds() > current.update_time.ToNanoseconds()
    got = client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=current.name))
    assert got == updated


def test_update_with_mask_changes_only_the_named_fields(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    current = make_meter(description="before")
    updated = update(client, current, ["unit"], unit="token", description="ignored")
    assert (updated.unit, updated.description) == ("token", "before")


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"aggregation": meter_pb2.max}, grpc.StatusCode.FAILED_PRECONDITION, "totals already reported"),
        (
            {"dimensions": [{"name": "region", "type": "number", "required": True},
                            {"name": "cached", "type": "boolean", "required": False},
                            {"name": "tokens.in", "type": "number", "required": False}]},
            grpc.StatusCode.FAILED_PRECONDITION,
            "type of 'region' cannot change",
        ),
        (
            {"dimensions": [{"name": "region", "type": "string", "required": True}]},
            grpc.StatusCode.FAILED_PRECONDITION,
            "cannot be removed",
        ),
        (
            {"dimensions": [{"name": "region", "type": "string", "required": True},
                            {"name": "cached", "type": "boolean", "required": False},
                            {"name": "tokens.in", "type": "number", "required": False},
                            {"name": "plan", "type": "string", "required": True}]},
            grpc.StatusCode.FAILED_PRECONDITION,
            "must be optional",
        ),
        (
            {"dimensions": [{"name": "region", "type": "string", "required": True},
                            {"name": "cached", "type": "boolean", "required": True},
                            {"name": "tokens.in", "type": "number", "required": False}]},
            grpc.StatusCode.FAILED_PRECONDITION,
            "cannot become required",
        ),
        ({"event_retention_days": 9999}, grpc.StatusCode.INVALID_ARGUMENT, "between 1 and 3650"),
    ],
)
def test_update_refuses_changes_that_break_stored_events(
    client: Client, make_meter: Callable[..., meter_pb2.Meter],
    change: dict[str, Any], code: grpc.StatusCode, words: str,
) -> None:
    current = make_meter()
    record(client, current.name, "stored")
    with pytest.raises(grpc.RpcError) as caught:
        update(client, current, **change)
    assert caught.value.code() == code
    assert words in caught.value.details()
    assert client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=current.name)) == current


def test_a_meter_without_events_may_change_its_aggregation_and_dimensions(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    current = make_meter()
    updated = update(
        client, current, aggregation=meter_pb2.max,
        dimensions=[{"name": "region", "type": "number"}, {"name": "plan", "type": "string"}],
    )
    assert updated.aggregation == meter_pb2.max
    assert [(d.name, d.type, d.required) for d in updated.dimensions] == [
        ("region", meter_pb2.number, True), ("plan", meter_pb2.string, True)
    ]


def test_a_dimension_is_required_unless_said_otherwise_and_gets_a_label(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    created = make_meter(dimensions=[
        {"name": "import_batch", "type": "string"},
        {"name": "plan", "type": "string", "required": False, "display_name": "Plan tier",
         "description": "billing plan", "deprecated": True},
    ])
    batch, plan = created.dimensions
    assert (batch.required, batch.display_name) == (True, "Import batch")
    assert (plan.required, plan.display_name, plan.description, plan.deprecated) == (
        False, "Plan tier", "billing plan", True
    )
    uuid.UUID(created.id)
    by_id = client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=created.id))
    assert by_id == created


def test_update_mask_cannot_name_fixed_fields(client: Client, make_meter: Callable[..., meter_pb2.Meter]) -> None:
    current = make_meter()
    for path in ("name", "create_time"):
        with pytest.raises(grpc.RpcError) as caught:
            update(client, current, [path])
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("update_mask: cannot update")


def test_update_of_unknown_meter_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        update(client, meter(name="never_created"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def record(client: Client, meter_name: str, key: str, quantity: float = 1.0) -> Any:
    event = usage_pb2.UsageEvent(idempotency_key=key, subject="org_1", meter=meter_name, quantity=quantity)
    event.metadata.update({"region": "eu"})
    return client.call(client.usage.RecordUsage, event)


def test_delete_refuses_a_meter_with_events_unless_forced(
    client: Client, make_meter: Callable[..., meter_pb2.Meter]
) -> None:
    current = make_meter()
    record(client, current.name, "k1")
    record(client, current.name, "k2")
    error = refused(client, client.meters.DeleteMeter, meter_pb2.DeleteMeterRequest(name=current.name))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2 stored events" in error.details()
    assert client.call(client.meters.GetMeter, meter_pb2.GetMeterRequest(name=current.name))

    deleted = client.call(
        client.meters.DeleteMeter, meter_pb2.DeleteMeterRequest(name=current.name, force=True)
    )
    assert deleted.deleted_events == 2
    error = refused(client, client.meters.GetMeter, meter_pb2.GetMeterRequest(name=current.name))
    assert error.code() == grpc.StatusCode.NOT_FOUND

    # A meter re-created under the same name starts empty: old keys are gone.
    client.call(client.meters.CreateMeter, current)
    assert record(client, current.name, "k1").outcome == usage_pb2.ACCEPTED


def test_delete_meter_without_events(client: Client, make_meter: Callable[..., meter_pb2.Meter]) -> None:
    current = make_meter()
    deleted = client.call(client.meters.DeleteMeter, meter_pb2.DeleteMeterRequest(name=current.name))
    assert deleted.deleted_events == 0
    error = refused(client, client.meters.DeleteMeter, meter_pb2.DeleteMeterRequest(name=current.name))
    assert error.code() == grpc.StatusCode.NOT_FOUND
