"""Stage 2, validate: a domain event against its meter -> a storable row (stage 1, decoding, is each API's edge).

The one validator of the product: unary, bulk and streaming ingestion all
call `validate_event`, so an event is judged the same whichever way it came.
It raises the typed error a single-event call returns; bulk and streams turn
that into a per-event rejection.

`validate_columns` is its fast path for the busiest streams (telemetry,
queue throughput): it checks a whole message a column at a time and only
answers "all of these pass". When any event might break a rule, the message
goes through `validate_event` event by event, which names the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from openspanner.domain.events import MetadataValue, UsageEvent
from openspanner.domain.meters import DimensionType, Meter
from openspanner.domain.values import Unsupported, stored_text
from openspanner.errors import InvalidArgument, NotFound, OpenSpannerError
from openspanner.storage.events import NO_CLIENT_TIME, EventBlock, EventRow

MAX_KEY_LENGTH = 256
MAX_SUBJECT_LENGTH = 256
MAX_VALUE_BYTES = 1024
MAX_FUTURE_US = 5 * 60 * 1_000_000
# Quantities are Float64 and totals are their sum(). Below 2**53 (9.007e15) every
# whole quantity is stored exactly, and no number of such events can add up to
# infinity (that takes more than 10**293 of them): a total is always a number.
MAX_QUANTITY = 1e15
_BOUND = f"{MAX_QUANTITY:.0e}".replace("+", "")  # 1e15
US_PER_DAY = 86_400 * 1_000_000


class MetadataCache:
    """The metadata check of each distinct metadata dict of one call, done once.

    An edge that decodes a batch hands the same dict to every event whose
    metadata it read from the same bytes (decoding a protobuf Struct
    costs ~5 us, and a batch repeats few distinct metadata), so checking each
    dict object once per meter keeps that saving here. Keyed by identity: the
    cache holds each dict, so its id cannot be reused while the cache lives.
    """

    __slots__ = ("_checked",)

    def __init__(self) -> None:
        self._checked: dict[tuple[str, int], tuple[Mapping[str, MetadataValue], dict[str, str] | OpenSpannerError]] = {}

    def checked(self, metadata: Mapping[str, MetadataValue], meter: Meter) -> dict[str, str]:
        key = (meter.name, id(metadata))
        entry = self._checked.get(key)
        if entry is None:
            try:
                found: dict[str, str] | OpenSpannerError = _checked_metadata(metadata, meter)
            except OpenSpannerError as error:
                found = error
            self._checked[key] = entry = (metadata, found)
        found = entry[1]
        if isinstance(found, OpenSpannerError):
            # A new instance per event: each rejection is its own.
            raise type(found)(found.message, field=found.field)
        return found


def validate_event(
    event: UsageEvent, meter: Meter | None, now_us: int, metadata_cache: MetadataCache | None = None
) -> EventRow:
    """The row to store for `event`, or the first rule it breaks.

    `meter` is the meter the event names, or None if there is none;
    `now_us` is the receive time, used when the event has no timestamp.
    Callers validating many events pass one `metadata_cache` for them all.
    """
    if not event.meter:
        raise InvalidArgument("is required", field="meter")
    if meter is None:
        raise NotFound(f"meter {event.meter!r} does not exist", field="meter")
    _check_identifier("idempotency_key", event.idempotency_key, MAX_KEY_LENGTH)
    _check_identifier("subject", event.subject, MAX_SUBJECT_LENGTH)
    _check_quantity(event.quantity)
    timestamp_us = now_us if event.timestamp_us is None else event.timestamp_us
    _check_timestamp(timestamp_us, meter, now_us)
    return EventRow(
        meter=meter.name,
        idempotency_key=event.idempotency_key,
        subject=event.subject,
        timestamp_us=timestamp_us,
        quantity=event.quantity,
        metadata=_metadata(event.metadata, meter, metadata_cache),
        retention_days=meter.event_retention_days,
        client_time_us=NO_CLIENT_TIME if event.timestamp_us is None else event.timestamp_us,
        received_us=now_us,
    )


@dataclass(slots=True)
class EventColumns:
    """The events of one stream message for one meter, a column per field.

    Times are microseconds since the epoch; `dimensions` maps each dimension
    the stream fills to its values, one per event. `decode_each` converts the
    same message event by event (the path that explains rejections).
    """

    meter: str
    idempotency_keys: list[str]
    subjects: list[str]
    quantities: list[float]
    timestamps_us: list[int]
    dimensions: dict[str, list[str]]
    decode_each: Callable[[], Sequence[UsageEvent | OpenSpannerError]]

    def __len__(self) -> int:
        return len(self.idempotency_keys)


def validate_columns(columns: EventColumns, meter: Meter | None, now_us: int) -> EventBlock | None:
    """The rows `validate_event` would return for every event, or None if any event may break a rule.

    A message costs a few passes over its columns in C (all, max, min)
    instead of a dozen Python steps per event, which kept the event loop busy
    at full speed (~10 us per reading on our machine, ~3 us this way). Each
    check is at least as strict as the rule it stands for; an unset timestamp
    reads as the epoch, which no meter keeps, so such messages also take the
    per-event path.
    """
    count = len(columns)
    if count == 0:
        return EventBlock([], [], [], [], [], [], [], [], [])
    if meter is None or not _only_string_dimensions(columns.dimensions, meter):
        return None
    times = columns.timestamps_us
    if not (
        _all_identifiers(columns.idempotency_keys, MAX_KEY_LENGTH)
        and _all_identifiers(columns.subjects, MAX_SUBJECT_LENGTH)
        and all(map(math.isfinite, columns.quantities))
        and min(columns.quantities) >= -MAX_QUANTITY
        and max(columns.quantities) <= MAX_QUANTITY
        and min(times) >= now_us - meter.event_retention_days * US_PER_DAY
        and max(times) <= now_us + MAX_FUTURE_US
        # At most 4 bytes per character: short enough without encoding.
        and all(max(map(len, values)) <= MAX_VALUE_BYTES // 4 for values in columns.dimensions.values())
    ):
        return None
    metadata: list[dict[str, str]] = [{} for _ in range(count)]
    for name, values in columns.dimensions.items():
        for stored, value in zip(metadata, values, strict=True):
            stored[name] = value
    return EventBlock(
        [meter.name] * count,
        columns.idempotency_keys,
        columns.subjects,
        times,
        columns.quantities,
        metadata,
        [meter.event_retention_days] * count,
        times,
        [now_us] * count,
    )


def _only_string_dimensions(dimensions: dict[str, list[str]], meter: Meter) -> bool:
    """Every filled dimension is a string dimension of the meter, and every required one is filled."""
    declared = meter.dimensions_by_name
    return all(
        name in declared and declared[name].type is DimensionType.STRING for name in dimensions
    ) and all(name in dimensions for name in meter.required_dimensions)


# Keys and subjects are printed in logs, CSV exports and the dashboard, and
# compared byte for byte: a NUL, newline or escape in one is a client bug that
# would corrupt all three, so it is refused rather than stored.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def _all_identifiers(values: list[str], limit: int) -> bool:
    """One scan of the joined values: no Python step per value. `isprintable` is false for
    every control character (and for some other characters the rule allows, whose
    events then take the per-event path); it scans ~2.5 times faster than the pattern."""
    return all(values) and max(map(len, values)) <= limit and "".join(values).isprintable()


def check_subject(subject: str) -> None:
    """The rule of an event's subject, for other places that name one (plans, entitlements)."""
    _check_identifier("subject", subject, MAX_SUBJECT_LENGTH)


def _check_identifier(field_name: str, value: str, limit: int) -> None:
    if not value:
        raise InvalidArgument("is required", field=field_name)
    if len(value) > limit:
        raise InvalidArgument(
            f"must be at most {limit} characters, got {len(value)}", field=field_name
        )
    if found := _CONTROL_CHARACTER.search(value):
        raise InvalidArgument(
            f"must not contain control characters, found U+{ord(found.group()):04X} at position {found.start()}",
            field=field_name,
        )


def _check_quantity(quantity: float) -> None:
    if not math.isfinite(quantity):
        raise InvalidArgument(f"must be a finite number, got {quantity}", field="quantity")
    if abs(quantity) > MAX_QUANTITY:
        raise InvalidArgument(
            f"must be between -{_BOUND} and {_BOUND}, so that totals stay exact and finite; got {quantity!r}",
            field="quantity",
        )


def _check_timestamp(timestamp_us: int, meter: Meter, now_us: int) -> None:
    if timestamp_us > now_us + MAX_FUTURE_US:
        raise InvalidArgument("is more than 5 minutes in the future", field="timestamp")
    if timestamp_us < now_us - meter.event_retention_days * US_PER_DAY:
        raise InvalidArgument(
            f"is older than meter {meter.name!r} keeps events"
            f" (event_retention_days: {meter.event_retention_days})",
            field="timestamp",
        )


def _metadata(metadata: Mapping[str, MetadataValue], meter: Meter, cache: MetadataCache | None) -> dict[str, str]:
    if cache is None:
        return _checked_metadata(metadata, meter)
    return cache.checked(metadata, meter)


def _checked_metadata(metadata: Mapping[str, MetadataValue], meter: Meter) -> dict[str, str]:
    stored: dict[str, str] = {}
    dimensions = meter.dimensions_by_name
    for key, value in metadata.items():
        dimension = dimensions.get(key)
        if dimension is None:
            declared = ", ".join(dimensions) or "none"
            raise InvalidArgument(
                f"is not a dimension of meter {meter.name!r} (declared: {declared})",
                field=f"metadata.{key}",
            )
        if value is None:
            continue  # null is read as "not given"
        text = stored_text(value, dimension.type)
        if text is None:
            raise InvalidArgument(
                f"must be a {dimension.type}, got {_kind(value)}", field=f"metadata.{key}"
            )
        # A UTF-8 character takes at most 4 bytes: short texts need no encoding.
        if len(text) > MAX_VALUE_BYTES // 4 and len(text.encode()) > MAX_VALUE_BYTES:
            raise InvalidArgument(
                f"must be at most {MAX_VALUE_BYTES} bytes", field=f"metadata.{key}"
            )
        stored[key] = text
    for name in meter.required_dimensions:
        if name not in stored:
            raise InvalidArgument(
                f"is required by meter {meter.name!r}", field=f"metadata.{name}"
            )
    return stored


def _kind(value: MetadataValue) -> str:
    if isinstance(value, Unsupported):
        return value.kind
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the number {value}"
    return "a string"
