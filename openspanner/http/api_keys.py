"""/v1/api-keys and /v1/session: key management for the dashboard and operators.

The same ApiKeys service as gRPC's ApiKeyService and `openspanner keys`. A
secret is answered once, when its key is created; only its hash is stored.
/v1/session tells a client (the dashboard) which key it holds and what it
may do, so it can hide what the API would refuse anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from openspanner.auth import parse_scope
from openspanner.http.context import Deps, authorized, services_of
from openspanner.http.json_body import JsonBodyRoute
from openspanner.http.wire import Strict, rfc3339
from openspanner.storage.api_keys import ApiKeyRecord

router = APIRouter(tags=["api keys"], route_class=JsonBodyRoute)
_SERVICE = "/openspanner.v1.ApiKeyService"
ScopeName = Literal["ingest", "read", "admin"]


class ApiKey(BaseModel):
    id: str
    name: str
    scope: ScopeName
    created_at: str
    revoked_at: str | None


class ApiKeyList(BaseModel):
    items: list[ApiKey]


class ApiKeyCreateRequest(Strict):
    name: str = Field("", description="What the key is for, for people.")
    scope: str = Field(description="ingest (record usage), read (meters and queries) or admin (everything).")


class CreatedApiKey(BaseModel):
    api_key: ApiKey
    secret: str = Field(description="The key to send as `Authorization: Bearer <secret>`; shown only now.")


class Session(BaseModel):
    key_id: str = Field(description="The key's id; `admin` for the server's OPENSPANNER_ADMIN_API_KEY.")
    scope: ScopeName


def _stored(moment: datetime) -> str:
    """To the millisecond, as storage keeps it, so a key reads the same when created and when listed."""
    return rfc3339(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def api_key_json(record: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        scope=record.scope,  # type: ignore[arg-type]
        created_at=_stored(record.create_time),
        revoked_at=_stored(record.revoke_time) if record.revoke_time else None,
    )


@router.get("/v1/session", response_model=Session, summary="The key this request carries and its scope")
async def session(request: Request) -> Session:
    key_id, scope = await services_of(request).keys.identify(request.headers.get("authorization"))
    return Session(key_id=key_id, scope=scope.value)


@router.get(
    "/v1/api-keys", response_model=ApiKeyList, summary="List API keys",
    dependencies=[Depends(authorized(f"{_SERVICE}/ListApiKeys"))],
)
async def list_api_keys(
    services: Deps, include_revoked: Annotated[bool, Query(description="Also the revoked ones.")] = False
) -> ApiKeyList:
    return ApiKeyList(items=[api_key_json(r) for r in await services.keys.list(include_revoked)])


@router.post(
    "/v1/api-keys", status_code=201, response_model=CreatedApiKey, summary="Create an API key",
    dependencies=[Depends(authorized(f"{_SERVICE}/CreateApiKey"))],
)
async def create_api_key(body: ApiKeyCreateRequest, services: Deps) -> CreatedApiKey:
    record, secret = await services.keys.create(parse_scope(body.scope), body.name)
    return CreatedApiKey(api_key=api_key_json(record), secret=secret)


@router.delete(
    "/v1/api-keys/{id}", response_model=ApiKey, summary="Revoke an API key",
    dependencies=[Depends(authorized(f"{_SERVICE}/RevokeApiKey"))],
)
async def revoke_api_key(id: str, services: Deps) -> ApiKey:
    return api_key_json(await services.keys.revoke(id))
