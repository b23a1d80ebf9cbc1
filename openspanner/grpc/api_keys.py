"""ApiKeyService: key management for operators (`openspanner keys ...`)."""

from __future__ import annotations

import grpc

from openspanner.auth import ApiKeys, Scope
from openspanner.errors import InvalidArgument
from openspanner.grpc.convert import enum_name, timestamp
from openspanner.grpc.rpc import rpc
from openspanner.storage.api_keys import ApiKeyRecord
from openspanner.v1 import api_key_pb2, api_key_pb2_grpc


class ApiKeyService(api_key_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    @rpc
    async def CreateApiKey(
        self, request: api_key_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api_key_pb2.CreateApiKeyResponse:
        if request.scope == api_key_pb2.SCOPE_UNSPECIFIED:
            raise InvalidArgument("is required: INGEST, READ or ADMIN", field="scope")
        scope = Scope(enum_name(api_key_pb2.Scope, request.scope, "scope").lower())
        record, secret = await self._keys.create(scope, request.name)
        return api_key_pb2.CreateApiKeyResponse(api_key=api_key_to_proto(record), secret=secret)

    @rpc
    async def ListApiKeys(
        self, request: api_key_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> api_key_pb2.ListApiKeysResponse:
        records = await self._keys.list(request.include_revoked)
        return api_key_pb2.ListApiKeysResponse(api_keys=[api_key_to_proto(r) for r in records])

    @rpc
    async def RevokeApiKey(
        self, request: api_key_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api_key_pb2.ApiKey:
        return api_key_to_proto(await self._keys.revoke(request.id))


def api_key_to_proto(record: ApiKeyRecord) -> api_key_pb2.ApiKey:
    message = api_key_pb2.ApiKey(
        id=record.id,
        name=record.name,
        scope=record.scope.upper(),
        create_time=timestamp(record.create_time),
    )
    if record.revoke_time is not None:
        message.revoke_time.CopyFrom(timestamp(record.revoke_time))
    return message
