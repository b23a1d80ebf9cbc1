"""Meter definitions in ClickHouse, so every server of a deployment shares them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from openspanner.domain.meters import Aggregation, Dimension, DimensionType, Meter, display_name_of
from openspanner.storage.schema import METERS_TABLE


class MeterStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def load_all(self) -> list[Meter]:
        """Every live meter; FINAL so a just-replaced version is never read twice."""
        rows = self._client.query(
            "SELECT definition FROM {table:Identifier} FINAL ORDER BY name",
            parameters={"table": METERS_TABLE},
        ).result_rows
        return [meter_from_json(row[0]) for row in rows]

    def save(self, meter: Meter) -> None:
        self._write(meter.name, meter_to_json(meter), deleted=0)

    def delete(self, name: str) -> None:
        self._write(name, "", deleted=1)

    def _write(self, name: str, definition: str, deleted: int) -> None:
        self._client.insert(
            METERS_TABLE,
            [[name, definition, time.time_ns(), deleted]],
            column_names=["name", "definition", "version", "deleted"],
            column_type_names=["String", "String", "UInt64", "UInt8"],
        )


def meter_to_json(meter: Meter) -> str:
    return json.dumps({
        "id": meter.id,
        "name": meter.name,
        "description": meter.description,
        "unit": meter.unit,
        "aggregation": meter.aggregation.value,
        "event_retention_days": meter.event_retention_days,
        "dimensions": [
            {
                "name": d.name,
                "type": d.type.value,
                "required": d.required,
                "display_name": d.display_name,
                "description": d.description,
                "deprecated": d.deprecated,
            }
            for d in meter.dimensions
        ],
        "create_time": _iso(meter.create_time),
        "update_time": _iso(meter.update_time),
        "unique_dimension": meter.unique_dimension,
    })


def meter_from_json(text: str) -> Meter:
    data: dict[str, Any] = json.loads(text)
    return Meter(
        # Meters saved before ids existed get one derived from the name, so
        # every server gives the same id (and the next save stores it).
        id=data.get("id") or legacy_meter_id(data["name"]),
        name=data["name"],
        description=data["description"],
        unit=data["unit"],
        aggregation=Aggregation(data["aggregation"]),
        event_retention_days=data["event_retention_days"],
        dimensions=tuple(
            Dimension(
                d["name"],
                DimensionType(d["type"]),
                d["required"],
                d.get("display_name") or display_name_of(d["name"]),
                d.get("description", ""),
                d.get("deprecated", False),
            )
            for d in data["dimensions"]
        ),
        create_time=_parse_iso(data.get("create_time")),
        update_time=_parse_iso(data.get("update_time")),
        unique_dimension=data.get("unique_dimension", ""),
    )


# Never change it: the ids of meters created before ids existed derive from it.
_LEGACY_METER_ID_NAMESPACE = uuid.UUID("0b9f4a52-6f0e-4f43-a1f4-5f2d7c7d1c3e")


def legacy_meter_id(name: str) -> str:
    return str(uuid.uuid5(_LEGACY_METER_ID_NAMESPACE, name))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None
