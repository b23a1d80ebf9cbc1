"""/v1/usages and /v1/usages/bulk: recording usage, as the product's REST contract has it.

Both go through the one ingest pipeline, as gRPC calls and streams do. An
event whose meter and idempotency_key are stored already is answered 201 with
the event stored first (a replay), never counted twice.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from openspanner.domain import events as domain
from openspanner.domain.events import MetadataValue, Outcome, key_or_generated
from openspanner.domain.values import Unsupported
from openspanner.errors import IdempotencyKeyReused, InvalidArgument
from openspanner.http import bulk_keys
from openspanner.http.context import Deps, Services, authorized
from openspanner.http.direct import direct_route
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.problems import ErrorResponse, error_response
from openspanner.http.wire import Strict, UsageEvent, us_of, usage_event
from openspanner.product_errors import rejection_code

router = APIRouter(prefix="/v1/usages", tags=["usages"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.UsageService"
_RECORD_USAGE = f"{_SERVICE}/RecordUsage"
_OUTCOME_NAMES: dict[Outcome, Literal["accepted", "duplicate"]] = {
    Outcome.ACCEPTED: "accepted",
    Outcome.DUPLICATE: "duplicate",
}


class UsageCreateRequest(Strict):
    idempotency_key: str = Field(
        "",
        description="Identifies the event within its meter: reusing it replays the stored event. Without one "
        "the server gives the event a new key, and a resend is counted again.",
    )
    subject: str = Field("", description="Who the usage is billed to.")
    meter: str = Field("", description="Name of an existing meter.")
    quantity: float
    timestamp: AwareDatetime | None = Field(
        None, description="When the usage happened (RFC 3339 with an offset); defaults to the receive time."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Values of the meter's dimensions.")


class UsageCreateResponse(UsageEvent):
    outcome: Literal["accepted", "duplicate"] = Field(
        description="accepted: stored now; duplicate: this meter and key were stored before, and that event "
        "is the one answered (and counted)."
    )
    conflicting_fields: list[str] = Field(
        description="Of a duplicate: the fields of this request that differ from the stored event."
    )


class UsageBulkFailure(BaseModel):
    index: int = Field(description="Position in the request array.")
    code: str = Field(description="invalid_input, not_found (unknown meter) or invalid_timestamp.")
    message: str
    field: str = Field(description="The event field that was refused.")


class UsageBulkResult(BaseModel):
    accepted: int
    duplicates: int
    failed: int
    accepted_items: list[UsageEvent]
    duplicate_items: list[UsageEvent] = Field(description="The events stored first under those keys.")
    failed_items: list[UsageBulkFailure]


def domain_event(body: UsageCreateRequest) -> domain.UsageEvent:
    """The domain event of a request body: the timestamp to the microsecond, JSON values as Struct reads them."""
    return domain.UsageEvent(
        idempotency_key=key_or_generated(body.idempotency_key),
        subject=body.subject,
        meter=body.meter,
        quantity=body.quantity,
        timestamp_us=None if body.timestamp is None else us_of(body.timestamp),
        metadata={key: _metadata_value(value) for key, value in body.metadata.items()},
    )


def _metadata_value(value: Any) -> MetadataValue:
    """A JSON value as a dimension value. Numbers are floats, as in google.protobuf.Value; an
    object or array is refused by its kind alone (no dimension takes either), its contents unread."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return Unsupported("a list" if isinstance(value, list) else "an object")


@router.post(
    "", status_code=201, response_model=UsageCreateResponse, summary="Record one usage event",
    dependencies=[Depends(authorized(_RECORD_USAGE))],
    responses={404: {"model": ErrorResponse, "description": "No such meter."}},
)
async def create_usage(body: UsageCreateRequest, services: Deps) -> UsageCreateResponse:
    answer = await services.pipeline.record_one(domain_event(body))
    assert answer.event is not None  # a single event is answered with the event stored
    return usage_event(
        answer.event,
        UsageCreateResponse,
        outcome=_OUTCOME_NAMES[answer.outcome],
        conflicting_fields=list(answer.conflicting_fields),
    )


async def _create_usage_response(body: UsageCreateRequest, services: Services) -> Response:
    # As FastAPI answers a route's response model: pydantic's JSON of it, by alias.
    answer = await create_usage(body, services)
    return Response(answer.model_dump_json(by_alias=True), status_code=201, media_type="application/json")


DIRECT_ROUTES = [direct_route(router, "/v1/usages", UsageCreateRequest, _RECORD_USAGE, _create_usage_response)]


@router.post(
    "/bulk", status_code=201, response_model=UsageBulkResult, summary="Record many usage events",
    description="A bare JSON array of events. One refused event does not refuse the others; when every "
    "event is refused the answer is 400 with this body and an `error`.\n\n"
    "With an `Idempotency-Key`, the first answer is kept under the key. The same batch sent again under "
    "it gets that answer again, with `Idempotent-Replayed: true`, and stores nothing. The same batch: the "
    "same events in the same order, each with the same meter, subject, quantity, metadata and "
    "idempotency_key, and the same timestamp if it has no idempotency_key (an event with a key is that "
    "key, and a retry built anew stamps it anew). Another batch under a used key is refused with 422 "
    "`idempotency_key_reused` naming the header, and stores nothing.",
    dependencies=[Depends(authorized(f"{_SERVICE}/RecordUsages"))],
    responses={
        201: {"headers": {bulk_keys.REPLAYED_HEADER: {
            "description": "`true` on the first answer of this key, replayed.", "schema": {"type": "string"}}}},
        400: {"model": ErrorResponse},
        422: {"model": ErrorResponse, "description": "The Idempotency-Key was used for another batch."},
    },
)
async def create_usage_bulk(
    body: list[UsageCreateRequest],
    services: Deps,
    response: Response,
    idempotency_key: Annotated[
        str, Header(alias=bulk_keys.HEADER, description="Batch key: the same batch sent again under it "
                    "replays the first answer; another batch under it is refused (422).")
    ] = "",
    validate_only: Annotated[bool, Query(description="Check the events and answer, storing nothing.")] = False,
) -> UsageBulkResult | JSONResponse:
    """The batch key's rule (bulk_keys.py): same batch replays, marked; another batch is refused, storing nothing."""
    if not body:
        raise InvalidArgument("must hold at least one event", field="body")
    request = domain.BulkRequest(
        events=[domain_event(e) for e in body], idempotency_key=idempotency_key, validate_only=validate_only
    )
    try:
        # Only a stored keyed call compares batches: the fingerprint is not made for the others.
        fingerprint = bulk_keys.batch_fingerprint(body) if idempotency_key and not validate_only else None
        answer = await services.pipeline.record_bulk(request, answer_accepted=True, fingerprint=fingerprint)
    except IdempotencyKeyReused as reused:
        raise bulk_keys.named_by_header(reused) from None
    headers = {bulk_keys.REPLAYED_HEADER: "true"} if answer.replayed else {}
    response.headers.update(headers)
    result = bulk_result(answer)
    if result.failed and not result.accepted and not result.duplicates:
        refused = InvalidArgument("every event was refused; see failed_items", field="body")
        return error_response(refused, extra=result.model_dump(), headers=headers)
    return result


def bulk_result(answer: domain.BulkAnswer) -> UsageBulkResult:
    accepted: list[UsageEvent] = []
    duplicates: list[UsageEvent] = []
    failed: list[UsageBulkFailure] = []
    for item in answer.results:
        if item.error is not None:
            error = item.error
            code, message = rejection_code(error)
            failed.append(UsageBulkFailure(index=item.index, code=code, message=message, field=error.field))
        elif item.event is not None:
            (accepted if item.outcome is Outcome.ACCEPTED else duplicates).append(usage_event(item.event))
    return UsageBulkResult(
        accepted=answer.accepted,
        duplicates=answer.duplicates,
        failed=answer.rejected,
        accepted_items=accepted,
        duplicate_items=duplicates,
        failed_items=failed,
    )
