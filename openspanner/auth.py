"""API keys, their scopes, and the one decision which key may call which method.

The transports ask `authorize` before a call runs: the gRPC interceptor
(grpc/auth.py) and the REST dependency (http/context.py), so one scope table
decides for both APIs.

A key looks like `osk_<id>_<secret>`. The id finds the record; only the
SHA-256 of the secret is stored, and it is compared in constant time. Keys
carry one scope: ingest (record usage), read (meters and queries) or admin
(everything). Health checks and reflection need no key, so that load
balancers and grpcurl can use them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

from openspanner.access_log import note_key
from openspanner.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from openspanner.logging import get_logger
from openspanner.refresh import RefreshingTable
from openspanner.storage.api_keys import ApiKeyRecord, ApiKeyStore
from openspanner.storage.client import Storage

log = get_logger(__name__)

KEY_PREFIX = "osk"
# The id /v1/session names the server's own OPENSPANNER_ADMIN_API_KEY by.
ADMIN_KEY_ID = "admin"


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


# The scopes that may call each method (admin may call everything). Methods of
# our services not listed need admin, so a new RPC is closed until someone
# decides otherwise. Ingest keys may read the meter they write to (clients
# and the importer check its dimensions); listing and queries stay with read.
_READ = frozenset({Scope.READ})
_INGEST = frozenset({Scope.INGEST})
METHOD_SCOPES: dict[str, frozenset[Scope]] = {
    "/openspanner.v1.MeterService/GetMeter": frozenset({Scope.READ, Scope.INGEST}),
    "/openspanner.v1.MeterService/ListMeters": _READ,
    "/openspanner.v1.UsageService/RecordUsage": _INGEST,
    "/openspanner.v1.UsageService/RecordUsages": _INGEST,
    "/openspanner.v1.UsageService/StreamUsage": _INGEST,
    "/openspanner.v1.UsageService/StreamDeviceTelemetry": _INGEST,
    "/openspanner.v1.UsageService/StreamWebSocketSessions": _INGEST,
    "/openspanner.v1.UsageService/StreamQueueThroughput": _INGEST,
    # The product's API for its official client (grpc/product/usage.py).
    "/open_spanner.v1.UsageService/CreateUsage": _INGEST,
    "/open_spanner.v1.UsageService/CreateUsageBulk": _INGEST,
    "/open_spanner.v1.UsageService/StreamUsage": _INGEST,
    "/openspanner.v1.QueryService/QueryUsage": _READ,
    "/openspanner.v1.QueryService/ListEvents": _READ,
    # Webhook destinations and deliveries (REST /v1/alerts/...): read keys list them, never
    # seeing a secret; changes, secrets, tests and retries need admin.
    "/openspanner.v1.DestinationService/ListDestinations": _READ,
    "/openspanner.v1.DestinationService/GetDestination": _READ,
    "/openspanner.v1.DeliveryService/ListDeliveryJobs": _READ,
    "/openspanner.v1.DeliveryService/GetDeliveryJob": _READ,
    # Alert rules: read keys may look; changing and evaluating them needs admin.
    "/openspanner.v1.AlertService/GetAlertRule": _READ,
    "/openspanner.v1.AlertService/ListAlertRules": _READ,
    "/openspanner.v1.AlertService/ListAlertEvents": _READ,
    # Plans: reading is read; creating, changing and assigning them is admin (not listed).
    "/openspanner.v1.PlanService/GetPlan": _READ,
    "/openspanner.v1.PlanService/ListPlans": _READ,
    "/openspanner.v1.PlanService/PreviewPlan": _READ,
    "/openspanner.v1.PlanService/ListAssignments": _READ,
    "/openspanner.v1.PlanService/GetSubjectProgress": _READ,
    # A service enforcing quotas checks and consumes with the key it records usage with.
    "/openspanner.v1.EntitlementService/Check": frozenset({Scope.READ, Scope.INGEST}),
    "/openspanner.v1.EntitlementService/Consume": _INGEST,
    "/openspanner.v1.EntitlementService/GetDecision": frozenset({Scope.READ, Scope.INGEST}),
    "/openspanner.v1.EntitlementService/ListDecisions": _READ,
    "/openspanner.v1.EntitlementService/ListStates": _READ,
    "/openspanner.v1.EntitlementService/ListEvents": _READ,
    "/openspanner.v1.EntitlementService/ListPeriods": _READ,
    # Export jobs (REST /v1/exports): whoever may read usage may export it.
    "/openspanner.v1.ExportService/CreateExport": _READ,
    "/openspanner.v1.ExportService/ListExports": _READ,
    "/openspanner.v1.ExportService/GetExport": _READ,
    "/openspanner.v1.ExportService/CancelExport": _READ,
    "/openspanner.v1.ExportService/RetryExport": _READ,
    "/openspanner.v1.ExportService/DownloadExport": _READ,
}
_ADMIN_ONLY = frozenset({Scope.ADMIN})
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
)


def required_scopes(method: str) -> frozenset[Scope] | None:
    """The scopes that may call a method, or None for public methods."""
    if method.startswith(PUBLIC_SERVICES):
        return None
    return METHOD_SCOPES.get(method, _ADMIN_ONLY)


def allows(granted: Scope, needed: frozenset[Scope]) -> bool:
    return granted is Scope.ADMIN or granted in needed


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    """Creates, lists, revokes and verifies keys; verification reads memory only."""

    def __init__(self, storage: Storage, admin_key: str | None, refresh_seconds: float) -> None:
        self._storage = storage
        self._store = ApiKeyStore(storage.client)
        self._admin_key = admin_key
        self._table = RefreshingTable("api_keys", self._load, refresh_seconds)

    async def _load(self) -> dict[str, ApiKeyRecord]:
        return {r.id: r for r in await self._storage.run(self._store.load_all)}

    async def start(self) -> None:
        await self._table.start()
        if not self._admin_key and not self._table.items:
            log.warning(
                "no API keys exist, so every call will be refused: set OPENSPANNER_ADMIN_API_KEY, or stop"
                " the server and run `openspanner keys create --scope admin --offline`"
            )

    def stop(self) -> None:
        self._table.stop()

    async def create(self, scope: Scope, name: str) -> tuple[ApiKeyRecord, str]:
        """A new key and its secret token; the token is not stored and cannot be shown again."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=key_id,
            name=name,
            scope=scope.value,
            secret_sha256=_sha256(secret),
            create_time=datetime.now(UTC),
        )
        await self._storage.run(self._store.save, record)
        self._table.put(key_id, record)
        log.info("api key created", key_id=key_id, scope=scope.value)
        return record, f"{KEY_PREFIX}_{key_id}_{secret}"

    async def list(self, include_revoked: bool) -> list[ApiKeyRecord]:
        await self._table.reload()
        records = sorted(self._table.items.values(), key=lambda r: (r.create_time, r.id))
        return [r for r in records if include_revoked or r.revoke_time is None]

    async def revoke(self, key_id: str) -> ApiKeyRecord:
        record = await self._table.lookup(key_id)
        if record is None:
            raise NotFound(f"api key {key_id!r} does not exist", field="id")
        if record.revoke_time is None:
            record = replace(record, revoke_time=datetime.now(UTC))
            await self._storage.run(self._store.save, record)
            self._table.put(key_id, record)
            log.info("api key revoked", key_id=key_id)
        return record

    async def authenticate(self, authorization: str | None) -> Scope:
        """The scope of the bearer token in an `authorization` header value."""
        return (await self.identify(authorization))[1]

    async def identify(self, authorization: str | None) -> tuple[str, Scope]:
        """The key id and scope of the bearer token; `admin` is the id of OPENSPANNER_ADMIN_API_KEY.

        A key whose secret matches is noted for the access log of the call in
        progress (a revoked one too: its refusal then names it).
        """
        if not authorization:
            raise Unauthenticated("missing 'authorization: Bearer <api key>' metadata")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization metadata must be 'Bearer <api key>'")
        if self._admin_key and hmac.compare_digest(_sha256(token), _sha256(self._admin_key)):
            note_key(ADMIN_KEY_ID)
            return ADMIN_KEY_ID, Scope.ADMIN
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        record = await self._table.lookup(key_id) if prefix == KEY_PREFIX and key_id else None
        if record is None or not hmac.compare_digest(record.secret_sha256, _sha256(secret)):
            raise Unauthenticated("unknown api key")
        note_key(record.id)
        if record.revoke_time is not None:
            raise Unauthenticated("api key has been revoked")
        return record.id, Scope(record.scope)


def parse_scope(value: str, field: str = "scope") -> Scope:
    try:
        return Scope(value.lower())
    except ValueError:
        raise InvalidArgument(
            f"must be one of {', '.join(s.value for s in Scope)}, got {value!r}", field=field
        ) from None


async def authorize(keys: ApiKeys, method: str, authorization: str | None) -> Scope | None:
    """The scope that lets the bearer token in `authorization` call `method`
    (a gRPC method path), or None for a public method, which needs no key.

    The one decision for every transport: the gRPC interceptor and the
    REST API both ask here, so a key is let in, and a refusal worded,
    alike. Raises Unauthenticated or PermissionDenied.
    """
    needed = required_scopes(method)
    if needed is None:
        return None
    granted = await keys.authenticate(authorization)
    if not allows(granted, needed):
        raise PermissionDenied(
            f"this api key has scope {granted.value}; {method} needs"
            f" {' or '.join(sorted(scope.value for scope in needed))}"
        )
    return granted
