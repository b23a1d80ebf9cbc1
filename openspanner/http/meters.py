"""/v1/meters: the meter resource of the product's REST contract.

Addressed by the meter's id (a UUID) as in the product, or by its name.
PUT and PATCH both change only the fields the body carries.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from openspanner.domain import meters as domain
from openspanner.domain.paging import MAX_LIMIT
from openspanner.http.context import Deps, authorized
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import Strict, query_limit, rfc3339

router = APIRouter(prefix="/v1/meters", tags=["meters"], route_class=JsonBodyRoute)

AggregationName = Literal["sum", "count", "avg", "min", "max", "first", "last", "rate", "unique_count"]
DimensionTypeName = Literal["string", "number", "boolean"]
_SERVICE = "/openspanner.v1.MeterService"
_UNIQUE_DIMENSION = (
    "Our extension: the declared dimension whose distinct values a unique_count meter counts;"
    " required for unique_count and only for it."
)


class MeterDimension(Strict):
    name: str = Field(description="Metadata key: letters, digits, `_`, `-` and `.`; not `subject`.")
    type: DimensionTypeName = Field(description="Type every value of this key must have.")
    required: bool = Field(True, description="Every event must carry it. True when omitted, as in the product.")
    display_name: str = Field("", description="Label for people; made from the name when empty.")
    description: str = ""
    deprecated: bool = Field(False, description="Still accepted; clients should stop sending it.")


class MeterCreateRequest(Strict):
    name: str = Field(description="API name events use: lowercase `[a-z][a-z0-9_]*`, at most 64 characters.")
    description: str = ""
    unit: str = Field("", description="What one unit of quantity is: request, token, byte...")
    aggregation: AggregationName = Field(description="How quantities are summarized.")
    event_retention_days: int = Field(0, description="How long raw events are kept, 1..3650; 0 means 90.")
    dimensions: list[MeterDimension] = Field(default_factory=list)
    unique_dimension: str = Field("", description=_UNIQUE_DIMENSION)


class MeterUpdateRequest(Strict):
    """Each field left out stays as it is. Once the meter has events, a dimension may not be
    removed, change type or become required, a new one must be optional, and the
    aggregation is fixed: such a change is answered 409."""

    description: str | None = None
    unit: str | None = None
    aggregation: AggregationName | None = None
    event_retention_days: int | None = None
    dimensions: list[MeterDimension] | None = None
    unique_dimension: str | None = None


class Meter(BaseModel):
    id: str
    name: str
    description: str
    unit: str
    aggregation: AggregationName
    event_retention_days: int
    dimensions: list[MeterDimension]
    # Left out of the answer unless the meter counts distinct values, so the
    # product's meters keep the product's exact shape.
    unique_dimension: str | None = Field(None, description=_UNIQUE_DIMENSION)
    created_at: str | None
    updated_at: str | None


class MeterListResponse(BaseModel):
    items: list[Meter]
    next_cursor: str | None = Field(None, description="Cursor of the next page; absent on the last page.")


def _dimension(d: MeterDimension) -> domain.Dimension:
    return domain.Dimension(
        d.name, domain.DimensionType(d.type), d.required, d.display_name, d.description, d.deprecated
    )


def meter_json(meter: domain.Meter) -> Meter:
    extension = {"unique_dimension": meter.unique_dimension} if meter.unique_dimension else {}
    return Meter(
        id=meter.id,
        name=meter.name,
        description=meter.description,
        unit=meter.unit,
        aggregation=meter.aggregation.value,
        event_retention_days=meter.event_retention_days,
        dimensions=[
            MeterDimension(
                name=d.name,
                type=d.type.value,
                required=d.required,
                display_name=d.display_name,
                description=d.description,
                deprecated=d.deprecated,
            )
            for d in meter.dimensions
        ],
        created_at=rfc3339(meter.create_time) if meter.create_time else None,
        updated_at=rfc3339(meter.update_time) if meter.update_time else None,
        **extension,
    )


@router.post(
    "", status_code=201, response_model=Meter, response_model_exclude_unset=True, summary="Create a meter",
    dependencies=[Depends(authorized(f"{_SERVICE}/CreateMeter"))],
    responses={409: {"description": "A meter of that name exists."}},
)
async def create_meter(body: MeterCreateRequest, services: Deps) -> Meter:
    meter = domain.Meter(
        name=body.name,
        aggregation=domain.Aggregation(body.aggregation),
        description=body.description,
        unit=body.unit,
        event_retention_days=body.event_retention_days,
        dimensions=tuple(_dimension(d) for d in body.dimensions),
        unique_dimension=body.unique_dimension,
    )
    return meter_json(await services.catalog.create(meter))


@router.get(
    "", response_model=MeterListResponse, response_model_exclude_none=True, summary="List meters by name",
    dependencies=[Depends(authorized(f"{_SERVICE}/ListMeters"))],
)
async def list_meters(
    services: Deps,
    name: Annotated[str, Query(description="Only the meter of this name.")] = "",
    limit: Annotated[int, Query(description=f"Page size, 1..{MAX_LIMIT}; larger values are clamped.")] = 100,
    cursor: Annotated[str, Query(description="next_cursor of the previous page.")] = "",
) -> MeterListResponse:
    meters, next_name = services.catalog.page(query_limit(limit), cursor, name=name, size_field="limit")
    return MeterListResponse(items=[meter_json(m) for m in meters], next_cursor=next_name or None)


@router.get(
    "/{id}", response_model=Meter, response_model_exclude_unset=True, summary="Get a meter by id or name",
    dependencies=[Depends(authorized(f"{_SERVICE}/GetMeter"))],
)
async def get_meter(id: str, services: Deps) -> Meter:
    return meter_json(await services.catalog.get_by_reference(id))


async def _update(id: str, body: MeterUpdateRequest, services: Deps) -> Meter:
    current = await services.catalog.get_by_reference(id)
    fields = tuple(sorted(body.model_fields_set))
    requested = replace(
        current,
        description=body.description if body.description is not None else current.description,
        unit=body.unit if body.unit is not None else current.unit,
        aggregation=domain.Aggregation(body.aggregation) if body.aggregation else current.aggregation,
        event_retention_days=(
            body.event_retention_days if body.event_retention_days is not None else current.event_retention_days
        ),
        dimensions=(
            tuple(_dimension(d) for d in body.dimensions) if body.dimensions is not None else current.dimensions
        ),
        # Empty keeps the current one (domain.apply_update), as an omitted aggregation does.
        unique_dimension=body.unique_dimension or "",
    )
    if not fields:
        return meter_json(current)
    return meter_json(await services.catalog.update(requested, fields))


_UPDATE = {
    "response_model": Meter,
    "response_model_exclude_unset": True,
    "dependencies": [Depends(authorized(f"{_SERVICE}/UpdateMeter"))],
    "responses": {409: {"description": "The change would break stored events."}},
}
router.put("/{id}", summary="Update a meter", **_UPDATE)(_update)  # type: ignore[arg-type]
router.patch("/{id}", summary="Update a meter (same as PUT)", **_UPDATE)(_update)  # type: ignore[arg-type]


@router.delete(
    "/{id}", status_code=204, response_class=Response, summary="Delete a meter",
    dependencies=[Depends(authorized(f"{_SERVICE}/DeleteMeter"))],
    responses={409: {"description": "The meter has events and `force` is not set."}},
)
async def delete_meter(
    id: str,
    services: Deps,
    force: Annotated[bool, Query(description="Also delete the meter's events.")] = False,
) -> Response:
    meter = await services.catalog.get_by_reference(id)
    await services.catalog.delete(meter.name, force)
    return Response(status_code=204)
