"""/v1/alerts/destinations: webhook destinations, with the product's routes and JSON.

The signing secret is answered on create and on rotate only. Beside the
product's `osp_whsec_...` secret, `webhook_signing.standard_webhooks_secret`
gives the same HMAC key as `whsec_<base64>`, the form Standard Webhooks
libraries take (docs/webhooks.md). Beyond the product: GET of one
destination, and POST .../test, which enqueues a test event to it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from openspanner.errors import Unavailable
from openspanner.http.context import Deps, Services, authorized
from openspanner.http.delivery_jobs import DeliveryJobJson, delivery_job_json
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import Strict, rfc3339
from openspanner.webhooks.destinations import DestinationChanges, Destinations
from openspanner.webhooks.fanout import Fanout
from openspanner.webhooks.model import Destination
from openspanner.webhooks.signing import (
    PRODUCT_SIGNATURE_ALGORITHM,
    PRODUCT_SIGNATURE_HEADER,
    PRODUCT_TIMESTAMP_HEADER,
    standard_webhooks_secret,
)

router = APIRouter(prefix="/v1/alerts/destinations", tags=["alerts"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.DestinationService"


class DestinationCreateRequest(Strict):
    name: str = Field(description="For people; at most 120 characters.")
    type: str = Field("", description="`webhook`, the one type (empty means webhook).")
    enabled: bool = Field(True, description="A disabled destination's deliveries fail until it is enabled.")
    webhook_url: str = Field(
        description="Absolute http or https URL. Loopback, private, link-local and cloud-metadata addresses"
        " are refused unless the server allows them (OPENSPANNER_WEBHOOK_ALLOW_PRIVATE)."
    )
    event_types: list[str] = Field(
        default_factory=list,
        description="Beyond the product: events sent here without an alert rule: entitlement.warning,"
        " entitlement.exceeded, entitlement.recovered.",
    )


class DestinationUpdateRequest(Strict):
    """Each field left out stays as it is."""

    name: str | None = None
    type: str | None = None
    enabled: bool | None = None
    webhook_url: str | None = None
    event_types: list[str] | None = None


class WebhookSigning(BaseModel):
    enabled: bool
    algorithm: str = Field(description="hmac-sha256")
    signature_header: str
    timestamp_header: str
    secret: str | None = Field(
        None, description="The signing secret `osp_whsec_...`: its UTF-8 bytes are the HMAC key of"
        " X-Open-Spanner-Signature. Only in the answer of create and rotate."
    )
    standard_webhooks_secret: str | None = Field(
        None, description="The same key as `whsec_<base64 of the key>`, for the Standard Webhooks libraries"
        " (webhook-signature). Only in the answer of create and rotate."
    )


class DestinationJson(BaseModel):
    id: str
    name: str
    type: str
    enabled: bool
    webhook_url: str
    webhook_signing: WebhookSigning
    event_types: list[str]
    created_at: str
    updated_at: str


class DestinationList(BaseModel):
    items: list[DestinationJson]


def destination_json(destination: Destination, with_secret: bool = False) -> DestinationJson:
    return DestinationJson(
        id=destination.id,
        name=destination.name,
        type=destination.type,
        enabled=destination.enabled,
        webhook_url=destination.webhook_url,
        webhook_signing=WebhookSigning(
            enabled=destination.enabled and bool(destination.webhook_url and destination.secret),
            algorithm=PRODUCT_SIGNATURE_ALGORITHM,
            signature_header=PRODUCT_SIGNATURE_HEADER,
            timestamp_header=PRODUCT_TIMESTAMP_HEADER,
            secret=destination.secret if with_secret else None,
            standard_webhooks_secret=standard_webhooks_secret(destination.secret) if with_secret else None,
        ),
        event_types=list(destination.event_types),
        created_at=rfc3339(destination.created_at),
        updated_at=rfc3339(destination.updated_at),
    )


def destinations_of(services: Services) -> Destinations:
    if services.destinations is None:
        raise Unavailable("webhook destinations are not available on this server")
    return services.destinations


@router.get(
    "", response_model=DestinationList, response_model_exclude_none=True, summary="List webhook destinations",
    dependencies=[Depends(authorized(f"{_SERVICE}/ListDestinations"))],
)
async def list_destinations(
    services: Deps,
    type: Annotated[str | None, Query(description="Only this type (webhook).")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or disabled (false) ones.")] = None,
    limit: Annotated[int | None, Query(description="At most this many (100 when left out, at most 1000).")] = None,
) -> DestinationList:
    found = await destinations_of(services).list_destinations(type, enabled, limit)
    return DestinationList(items=[destination_json(d) for d in found])


@router.post(
    "", status_code=201, response_model=DestinationJson, response_model_exclude_none=True,
    summary="Create a webhook destination; its secret is answered only now",
    dependencies=[Depends(authorized(f"{_SERVICE}/CreateDestination"))],
)
async def create_destination(body: DestinationCreateRequest, services: Deps) -> DestinationJson:
    created = await destinations_of(services).create(
        body.name, body.type, body.enabled, body.webhook_url, body.event_types
    )
    return destination_json(created, with_secret=True)


@router.get(
    "/{id}", response_model=DestinationJson, response_model_exclude_none=True, summary="Get a webhook destination",
    dependencies=[Depends(authorized(f"{_SERVICE}/GetDestination"))],
)
async def get_destination(id: str, services: Deps) -> DestinationJson:
    return destination_json(await destinations_of(services).get(id))


@router.put(
    "/{id}", response_model=DestinationJson, response_model_exclude_none=True,
    summary="Update a webhook destination (fields left out stay)",
    dependencies=[Depends(authorized(f"{_SERVICE}/UpdateDestination"))],
)
async def update_destination(id: str, body: DestinationUpdateRequest, services: Deps) -> DestinationJson:
    changes = DestinationChanges(
        name=body.name, type=body.type, enabled=body.enabled, webhook_url=body.webhook_url,
        event_types=body.event_types,
    )
    return destination_json(await destinations_of(services).update(id, changes))


@router.delete(
    "/{id}", status_code=204, response_class=Response,
    summary="Delete a webhook destination (409 while an alert rule uses it)",
    dependencies=[Depends(authorized(f"{_SERVICE}/DeleteDestination"))],
)
async def delete_destination(id: str, services: Deps) -> Response:
    await destinations_of(services).delete(id)
    return Response(status_code=204)


@router.post(
    "/{id}/webhook-secret/rotate", response_model=DestinationJson, response_model_exclude_none=True,
    summary="Make a new signing secret; answered only now",
    dependencies=[Depends(authorized(f"{_SERVICE}/RotateDestinationSecret"))],
)
async def rotate_destination_secret(id: str, services: Deps) -> DestinationJson:
    return destination_json(await destinations_of(services).rotate_secret(id), with_secret=True)


@router.post(
    "/{id}/test", status_code=202, response_model=DeliveryJobJson, response_model_exclude_none=True,
    summary="Send a test event to the destination, through the outbox like any delivery",
    dependencies=[Depends(authorized(f"{_SERVICE}/TestDestination"))],
)
async def test_destination(id: str, services: Deps) -> DeliveryJobJson:
    if services.outbox is None:
        raise Unavailable("webhook deliveries are not available on this server")
    return delivery_job_json(await Fanout(destinations_of(services), services.outbox).send_test(id))
