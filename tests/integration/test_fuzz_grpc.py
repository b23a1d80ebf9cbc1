"""Fuzzing the gRPC API: no request is answered INTERNAL or UNKNOWN; a refusal names its field.

Every method of our services and of the product's open_spanner.v1.UsageService
gets requests built field by field from its message descriptor (any text,
control characters included; any number, NaN and 1e308 included; enum
numbers no enum declares; timestamps from year 1 to beyond 9999; Structs
nested past protobuf's limit; page tokens of any shape), with the names of
real meters and dimensions mixed in so that requests get past "no such
meter". Streams get a start message and a few batches. Then the same
methods get bytes that are not their message at all, through a generic
channel method (no serializer).

Answers are checked: never INTERNAL or UNKNOWN; INVALID_ARGUMENT names its
field in the google.rpc.BadRequest trailer and the message (or says the
request is not the message); an event refused inside a bulk answer or a
stream ack names its field too. One server of this module's own (meters
are deleted and keys revoked); budgets are fixed and derandomized.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, message, message_factory, struct_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.grpc.status import STATUS_DETAILS_KEY
from openspanner.v1 import api_key_pb2, meter_pb2, open_spanner_usage_pb2, query_pb2, usage_pb2
from tests.fuzz_strategies import (
    FUZZ_SETTINGS,
    edge_values,
    json_values,
    numbers,
    page_tokens,
    server_tracebacks,
    texts,
)
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server

METERS = {
    "fuzz_meter": [("region", meter_pb2.string), ("tokens", meter_pb2.number), ("cached", meter_pb2.boolean)],
    "fuzz_devices": [("device_id", meter_pb2.string), ("fleet", meter_pb2.string), ("region", meter_pb2.string)],
    "fuzz_queue": [("queue", meter_pb2.string), ("outcome", meter_pb2.string), ("worker_region", meter_pb2.string)],
}
DIMENSIONS = sorted({name for dimensions in METERS.values() for name, _ in dimensions} | {"subject"})
SERVICES = [
    usage_pb2.DESCRIPTOR.services_by_name["UsageService"],
    meter_pb2.DESCRIPTOR.services_by_name["MeterService"],
    query_pb2.DESCRIPTOR.services_by_name["QueryService"],
    api_key_pb2.DESCRIPTOR.services_by_name["ApiKeyService"],
    open_spanner_usage_pb2.DESCRIPTOR.services_by_name["UsageService"],
]
METHODS = [method for service in SERVICES for method in service.methods]
METADATA = [("authorization", f"Bearer {ADMIN_KEY}"), ("idempotency-key", "fuzz-batch")]
NOW_S = int(time.time())
PLAIN_TEXT = texts(surrogates=False)  # protobuf strings cannot hold a lone surrogate
CALL_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("fuzz-grpc")) as server:
        client = Client(server.address)
        for name, dimensions in METERS.items():
            client.call(client.meters.CreateMeter, meter_pb2.Meter(
                name=name, aggregation=meter_pb2.sum,
                dimensions=[meter_pb2.Dimension(name=n, type=t, required=False) for n, t in dimensions],
            ))
        client.close()
        yield server


@pytest.fixture(scope="module")
def channel(fuzz_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_server.address) as opened:
        yield opened


# --- requests built from descriptors ----------------------------------------

def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _value(raw: Any) -> struct_pb2.Value:
    """A Value of a JSON-like value, built by hand: Struct.update refuses huge ints and NaN keys."""
    value = struct_pb2.Value()
    if raw is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(raw, bool):
        value.bool_value = raw
    elif isinstance(raw, int | float):
        value.number_value = _float(raw)
    elif isinstance(raw, str):
        value.string_value = raw
    elif isinstance(raw, list):
        value.list_value.values.extend(_value(item) for item in raw)
    else:
        value.struct_value.CopyFrom(_struct(raw))
    return value


def _struct(raw: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in raw.items():
        struct.fields[key].CopyFrom(_value(item))
    return struct


@st.composite
def deep_structs(draw: st.DrawFn) -> struct_pb2.Struct:
    """A Struct nested up to 120 levels: protobuf's decoder stops at 100 message levels."""
    root = struct_pb2.Struct()
    inner = root
    for _ in range(draw(st.integers(1, 120))):
        inner = inner.fields[draw(st.sampled_from(DIMENSIONS))].struct_value
    inner.fields["x"].number_value = 1
    return root


ANY_JSON = json_values(PLAIN_TEXT, surrogates=False)
METADATA_VALUES = st.one_of(edge_values(surrogates=False), ANY_JSON, PLAIN_TEXT)
STRUCTS = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(DIMENSIONS), PLAIN_TEXT), METADATA_VALUES, max_size=4).map(_struct),
    deep_structs(),
)
TIMESTAMPS = st.builds(
    lambda seconds, nanos: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos),
    st.one_of(
        st.integers(NOW_S - 3 * 86_400, NOW_S + 600),
        st.sampled_from([0, -62_135_596_800, 253_402_300_799, 253_402_300_800, -(2**63), 2**63 - 1]),
        st.integers(-(2**63), 2**63 - 1),
    ),
    st.one_of(st.integers(0, 999_999_999), st.integers(-(2**31), 2**31 - 1)),
)
MESSAGE_FIELDS = {
    "google.protobuf.Struct": STRUCTS,
    "google.protobuf.Value": METADATA_VALUES.map(_value),
    "google.protobuf.Timestamp": TIMESTAMPS,
}
INTEGER_RANGES = {
    descriptor.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    descriptor.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    descriptor.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    descriptor.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    descriptor.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    descriptor.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    descriptor.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    descriptor.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    descriptor.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    descriptor.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _text(field: descriptor.FieldDescriptor) -> st.SearchStrategy[str]:
    """Any text, or for fields that name things, often a name that exists."""
    name = field.name
    if name == "page_token":
        return page_tokens()
    known: list[str] = []
    if name in ("meter", "meters", "connections_meter", "duration_meter") or (
        name == "name" and field.containing_type.name in ("Meter", "GetMeterRequest")
    ):
        known = list(METERS)
    elif name in ("dimension", "group_by", "paths", "unique_dimension"):
        known = [*DIMENSIONS, "description", "unit", "event_retention_days", "dimensions", "aggregation",
                 "unique_dimension"]
    elif name == "time_zone":
        known = ["UTC", "Europe/Berlin", "Mars/Base", "../../etc/passwd"]
    elif name in ("idempotency_key", "subject", "session_id", "device_id", "queue"):
        known = ["a", "b", "fuzz"]
    return st.one_of(st.sampled_from(known), PLAIN_TEXT) if known else PLAIN_TEXT


def _scalar(field: descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == descriptor.FieldDescriptor.TYPE_STRING:
        return _text(field)
    if kind == descriptor.FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=20)
    if kind == descriptor.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == descriptor.FieldDescriptor.TYPE_DOUBLE:
        return numbers().map(_float)
    if kind == descriptor.FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if kind == descriptor.FieldDescriptor.TYPE_ENUM:
        declared = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(declared), st.integers(-(2**31), 2**31 - 1))
    low, high = INTEGER_RANGES[kind]
    return st.one_of(st.integers(max(low, -2), 1000), st.integers(low, high))


def _field_values(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
        return _scalar(field)
    if field.message_type.full_name in MESSAGE_FIELDS:
        return MESSAGE_FIELDS[field.message_type.full_name]
    return messages(field.message_type, depth + 1)


@st.composite
def messages(draw: st.DrawFn, message_type: descriptor.Descriptor, depth: int = 0) -> message.Message:
    """A message of `message_type` with any subset of its fields set to anything (one field of
    each oneof; nested messages down to a few levels)."""
    built = message_factory.GetMessageClass(message_type)()
    in_oneof = {field.name for oneof in message_type.oneofs for field in oneof.fields}
    chosen = [f for f in message_type.fields if f.name not in in_oneof and draw(st.integers(0, 3)) > 0]
    for oneof in message_type.oneofs:
        chosen.append(draw(st.sampled_from(list(oneof.fields))))
    for field in chosen:
        if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and depth >= 3:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _fill_map(draw, getattr(built, field.name), field.message_type, depth)
            continue
        values = _field_values(field, depth)
        if field.is_repeated:
            items = draw(st.lists(values, max_size=3))
            target = getattr(built, field.name)
            if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                for item in items:
                    target.add().CopyFrom(item)
            else:
                target.extend(items)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            getattr(built, field.name).CopyFrom(draw(values))
        else:
            setattr(built, field.name, draw(values))
    return built


def _fill_map(draw: st.DrawFn, target: Any, entry: descriptor.Descriptor, depth: int) -> None:
    """A map field (the product's metadata is map<string, Value>), keyed mostly by dimension names."""
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    keys = st.one_of(st.sampled_from(DIMENSIONS), _scalar(key_field))
    for key, value in draw(st.dictionaries(keys, _field_values(value_field, depth), max_size=4)).items():
        if value_field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            target[key].CopyFrom(value)
        else:
            target[key] = value


@st.composite
def stream_requests(draw: st.DrawFn, method: descriptor.MethodDescriptor) -> list[bytes]:
    """A stream's messages: mostly a start first (the product's stream has none), then a few of anything."""
    message_type = method.input_type
    first = draw(messages(message_type))
    start = message_type.fields_by_name.get("start")
    if start is not None and draw(st.integers(0, 3)) > 0:
        first = message_factory.GetMessageClass(message_type)()
        first.start.CopyFrom(draw(messages(start.message_type)))
    rest = draw(st.lists(messages(message_type), max_size=3))
    return [m.SerializeToString() for m in [first, *rest]]


# --- calls and what their answers must be ----------------------------------

def bad_request_field(error: grpc.RpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            for detail in status_pb2.Status.FromString(value).details:
                violations = error_details_pb2.BadRequest()
                if detail.Unpack(violations) and violations.field_violations:
                    return str(violations.field_violations[0].field)
    return ""


def assert_clear_refusal(error: grpc.RpcError) -> None:
    code, details = error.code(), error.details() or ""
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (code, details)
    assert details, code
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = bad_request_field(error)
        if field:
            assert details.startswith(f"{field}: "), (field, details)
        else:
            assert details.startswith("the request is not a valid "), details


def assert_rejections_name_fields(method: descriptor.MethodDescriptor, answers: list[bytes]) -> None:
    """Events refused inside an answer (bulk results, stream acks) each name their field."""
    output = method.output_type.full_name
    for raw in answers:
        if output == "openspanner.v1.RecordUsagesResponse":
            refused = [r.rejection for r in usage_pb2.RecordUsagesResponse.FromString(raw).results
                       if r.outcome == usage_pb2.REJECTED]
        elif output == "openspanner.v1.StreamAck":
            refused = [a.rejection for a in usage_pb2.StreamAck.FromString(raw).acks if a.outcome == usage_pb2.REJECTED]
        else:
            refused = []
        for rejection in refused:
            assert rejection.field and rejection.message, rejection


def call(channel: grpc.Channel, method: descriptor.MethodDescriptor, requests: list[bytes]) -> list[bytes]:
    """The answers of one call with requests given as bytes (no serializer: any bytes go)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    options: dict[str, Any] = {"metadata": METADATA, "timeout": CALL_TIMEOUT_S}
    if method.client_streaming and method.server_streaming:
        return list(channel.stream_stream(path)(iter(requests), **options))
    if method.client_streaming:
        return [channel.stream_unary(path)(iter(requests), **options)]
    if method.server_streaming:
        return list(channel.unary_stream(path)(requests[0], **options))
    return [channel.unary_unary(path)(requests[0], **options)]


def check_call(channel: grpc.Channel, method: descriptor.MethodDescriptor, requests: list[bytes]) -> None:
    try:
        answers = call(channel, method, requests)
    except grpc.RpcError as error:
        assert_clear_refusal(error)
        return
    assert_rejections_name_fields(method, answers)


def request_lists(method: descriptor.MethodDescriptor) -> st.SearchStrategy[list[bytes]]:
    if method.client_streaming:
        return stream_requests(method)
    return messages(method.input_type).map(lambda m: [m.SerializeToString()])


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.full_name}/{m.name}")
def test_any_request_is_answered_or_refused_naming_its_field(
    fuzz_server: ServerProcess, channel: grpc.Channel, method: descriptor.MethodDescriptor
) -> None:
    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(requests=request_lists(method))
    def run(requests: list[bytes]) -> None:
        check_call(channel, method, requests)

    with server_tracebacks(fuzz_server):
        run()


@st.composite
def undecodable(draw: st.DrawFn, method: descriptor.MethodDescriptor) -> bytes:
    """Bytes that are not the message: random, or a real message cut short or with a byte changed."""
    raw = draw(st.binary(min_size=1, max_size=40))
    if draw(st.booleans()):
        valid = draw(messages(method.input_type)).SerializeToString()
        if valid:
            position = draw(st.integers(0, len(valid) - 1))
            raw = valid[:position] if draw(st.booleans()) else (
                valid[:position] + bytes([draw(st.integers(0, 255))]) + valid[position + 1:]
            )
    return raw


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.full_name}/{m.name}")
def test_undecodable_bytes_are_refused_as_invalid(
    fuzz_server: ServerProcess, channel: grpc.Channel, method: descriptor.MethodDescriptor
) -> None:
    @settings(FUZZ_SETTINGS, max_examples=15)
    @given(raw=undecodable(method))
    def run(raw: bytes) -> None:
        check_call(channel, method, [raw])

    with server_tracebacks(fuzz_server):
        run()
