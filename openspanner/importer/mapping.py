"""Row -> UsageEvent: columns to fields, text to the meter's dimension types.

The mapper only translates; the rules (required dimensions, value types,
timestamp window, lengths) are the server's, checked by its one validator.
What the mapper refuses itself is what it cannot translate: a quantity or
timestamp that is not a number or time, CSV text that is not of the
dimension's declared type, a row without an idempotency key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from openspanner.errors import ConfigError
from openspanner.importer.keys import MAPPED, KeyTemplate, MissingKeyPart, as_text
from openspanner.importer.source import Row
from openspanner.v1 import meter_pb2

# Epoch numbers at least this large are milliseconds: as seconds they would
# be after the year 5000, as milliseconds they are after 1973.
EPOCH_MS_THRESHOLD = 1e11
REJECT_PREFIX = "_reject_"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0"})


class RowRejected(Exception):
    """A row the importer cannot turn into an event; `field` as in server rejections."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ColumnMap:
    """Which column holds what; every other column is a dimension value."""

    subject: str = "subject"
    quantity: str = "quantity"
    timestamp: str = "timestamp"
    key: str = "idempotency_key"
    ignore: frozenset[str] = frozenset()
    # Dimension values for rows that have none (--metadata KEY=VALUE).
    defaults: Mapping[str, str] = field(default_factory=dict)
    # "auto" (by magnitude), "s" or "ms" for numeric timestamps.
    timestamp_unit: str = "auto"

    def reserved(self) -> frozenset[str]:
        """Columns that are never metadata."""
        return frozenset({self.subject, self.quantity, self.timestamp, self.key, "meter", "metadata"}) | self.ignore


class RowMapper:
    def __init__(
        self,
        meter: meter_pb2.Meter,
        columns: ColumnMap,
        template: KeyTemplate | None,
        source: str,
        text_values: bool,
    ) -> None:
        """`text_values`: values are text to convert to dimension types (CSV), not JSON-typed."""
        self._meter = meter.name
        self._columns = columns
        self._template = template
        self._text_values = text_values
        self._reserved = columns.reserved()
        self._render_key = template.bind(
            {name: getattr(columns, name) for name in MAPPED}, {"meter": meter.name, "source": source}
        ) if template else None
        self._types = {d.name: meter_pb2.DimensionType.Name(d.type) for d in meter.dimensions}
        try:
            self._defaults = {name: self._typed(name, value) for name, value in columns.defaults.items()}
        except RowRejected as error:
            raise ConfigError(f"--metadata: {error}") from None

    def check_header(self, header: list[str]) -> None:
        """Refuse a CSV whose columns the meter cannot take, before sending anything."""
        unknown = [
            c for c in header
            if c not in self._reserved and c not in self._types and not c.startswith(REJECT_PREFIX)
        ]
        if unknown:
            declared = ", ".join(self._types) or "none"
            raise ConfigError(
                f"column {', '.join(unknown)} is not a dimension of meter {self._meter!r} (declared: {declared});"
                " map it with --subject-column/--quantity-column/--timestamp-column/--key-column"
                " or skip it with --ignore-column"
            )
        if self._columns.key not in header and self._template is None:
            raise ConfigError(
                f"the file has no {self._columns.key!r} column: pass --key TEMPLATE"
                " (e.g. --key '{source}:{subject}:{meter}:{row_id}') or --key-column NAME"
            )
        if self._template is not None:
            self._template.check_columns(set(header))

    def add_event(self, row: Row, events: Any) -> None:
        """Append the event of one row to `events` (a repeated UsageEvent field).

        Everything that can refuse the row runs before the append, so a
        refused row (RowRejected, with the field and the reason) leaves
        `events` unchanged. Filling the message in place saves a copy per row.
        """
        if row.error:
            raise RowRejected("row", row.error)
        fields = row.fields
        columns = self._columns
        named = fields.get("meter")
        if named and named != self._meter:
            raise RowRejected("meter", f"the row names meter {named!r}; this import is into {self._meter!r}")
        key = self.key_of(row)
        quantity = self._quantity(fields.get(columns.quantity))
        timestamp_us = self._timestamp_us(fields.get(columns.timestamp))
        metadata = self._metadata(fields)
        event = events.add(
            idempotency_key=key,
            subject=as_text(fields.get(columns.subject)) or "",
            meter=self._meter,
            quantity=quantity,
        )
        if timestamp_us is not None:
            seconds, micros = divmod(timestamp_us, 1_000_000)
            event.timestamp.seconds = seconds
            event.timestamp.nanos = micros * 1000
        if metadata:
            try:
                event.metadata.update(metadata)
            except (ValueError, TypeError) as error:
                del events[-1]
                raise RowRejected("metadata", f"has a value JSON cannot hold: {error}") from None

    def key_of(self, row: Row) -> str:
        """The row's idempotency key: its key column, else the template."""
        own = as_text(row.fields.get(self._columns.key))
        if own:
            return own
        if self._render_key is None:
            raise RowRejected(
                "idempotency_key",
                f"is missing (no {self._columns.key!r} value); give one or pass --key TEMPLATE",
            )
        try:
            return self._render_key(row.fields, row.position)
        except MissingKeyPart as missing:
            raise RowRejected(
                "idempotency_key", f"the key template needs {{{missing.name}}}, which is empty in this row"
            ) from None

    def _quantity(self, value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip():
            try:
                return float(value)
            except ValueError:
                raise RowRejected("quantity", f"must be a number, got {value!r}") from None
        if value is None or value == "":
            raise RowRejected("quantity", f"is required (column {self._columns.quantity!r})")
        raise RowRejected("quantity", f"must be a number, got {value!r}")

    def _timestamp_us(self, value: Any) -> int | None:
        """Microseconds since the epoch; None (server receive time) when the row has none."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            text = value.strip()
            try:
                number = float(text)
            except ValueError:
                return _rfc3339_us(text)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            raise RowRejected("timestamp", f"must be RFC 3339 text or epoch seconds/milliseconds, got {value!r}")
        if not math.isfinite(number):
            raise RowRejected("timestamp", f"must be a finite number, got {value!r}")
        unit = self._columns.timestamp_unit
        if unit == "ms" or (unit == "auto" and abs(number) >= EPOCH_MS_THRESHOLD):
            return round(number * 1000)
        return round(number * 1_000_000)

    def _metadata(self, fields: dict[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        nested = fields.get("metadata")
        if isinstance(nested, dict):
            metadata.update(nested)
        elif nested not in (None, ""):
            raise RowRejected("metadata", "must be a JSON object")
        reserved = self._reserved
        for name, value in fields.items():
            if name in reserved or name.startswith(REJECT_PREFIX):
                continue
            if self._text_values:
                if value == "":
                    continue  # an empty CSV cell is "not given"
                value = self._typed(name, value)
            metadata[name] = value
        for name, value in self._defaults.items():
            if metadata.get(name) is None:
                metadata[name] = value
        return metadata

    def _typed(self, name: str, text: str) -> Any:
        """CSV text as the dimension's declared type; undeclared names stay text (the server names them)."""
        kind = self._types.get(name)
        if kind == "number":
            try:
                return float(text)
            except ValueError:
                raise RowRejected(f"metadata.{name}", f"must be a number, got {text!r}") from None
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in TRUE_TEXT:
                return True
            if lowered in FALSE_TEXT:
                return False
            raise RowRejected(f"metadata.{name}", f"must be a boolean (true/false), got {text!r}")
        return text


def _rfc3339_us(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowRejected(
            "timestamp", f"must be RFC 3339 (2026-01-15T12:00:00Z) or epoch seconds/milliseconds, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise RowRejected("timestamp", f"needs a UTC offset (e.g. Z or +02:00), got {text!r}")
    return (moment - EPOCH) // ONE_MICROSECOND
