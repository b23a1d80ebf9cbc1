"""Stage 1, decode: protobuf UsageEvent -> plain Python event.

Reading the protobuf once, field by field, keeps the later stages free of
protobuf types and avoids converting the metadata Struct through dicts twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from openspanner.errors import InvalidArgument
from openspanner.v1 import usage_pb2


class UnsupportedValue:
    """A metadata value of a kind no dimension accepts (object or list)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


MetadataValue = str | bool | float | None | UnsupportedValue


@dataclass(slots=True)
class DecodedEvent:
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    # Microseconds since the epoch, or None when the client sent no timestamp.
    timestamp_us: int | None
    # Decoded, or the message's Struct as sent: the validator decodes each
    # distinct Struct of a batch once (validate.MetadataCache).
    metadata: dict[str, MetadataValue] | struct_pb2.Struct


# A Timestamp's nanos lie in [0, 1e9); over gRPC's binary encoding a client can
# send any int32, which would silently move the instant by seconds.
MAX_NANOS = 999_999_999


def read_timestamp_us(message: Any, field: str) -> int | None:
    """A google.protobuf.Timestamp field in microseconds since the epoch, None when unset."""
    if not message.HasField(field):
        return None
    ts = getattr(message, field)
    if not 0 <= ts.nanos <= MAX_NANOS:
        raise InvalidArgument(f"nanos must be between 0 and {MAX_NANOS:,}, got {ts.nanos:,}", field=field)
    return int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000


def decode_event(message: usage_pb2.UsageEvent) -> DecodedEvent:
    return DecodedEvent(
        idempotency_key=message.idempotency_key,
        subject=message.subject,
        meter=message.meter,
        quantity=message.quantity,
        timestamp_us=read_timestamp_us(message, "timestamp"),
        metadata=message.metadata,
    )


def key_or_generated(idempotency_key: str) -> str:
    """The key of an event from the product's API, which may leave it empty: then a new one.

    The product stores key-less events, each as a new event, and its client
    sends an empty key by default; our pipeline identifies every event by its
    key, so a key-less one gets a key no other event has. Such an event is
    counted again if the client sends it again, as in the product.
    """
    return idempotency_key or f"generated:{uuid.uuid4()}"


def decode_struct(struct: struct_pb2.Struct) -> dict[str, MetadataValue]:
    return {key: _decode_value(value) for key, value in struct.fields.items()}


def _decode_value(value: object) -> MetadataValue:
    kind = value.WhichOneof("kind")  # type: ignore[attr-defined]
    if kind == "string_value":
        return value.string_value  # type: ignore[attr-defined, no-any-return]
    if kind == "bool_value":
        return value.bool_value  # type: ignore[attr-defined, no-any-return]
    if kind == "number_value":
        return value.number_value  # type: ignore[attr-defined, no-any-return]
    if kind == "null_value" or kind is None:
        return None
    return UnsupportedValue("an object" if kind == "struct_value" else "a list")
