"""EntitlementService: decode the request, ask the limits service, encode the answer.

A Consume the limit refuses is no error of the request: the decision is
stored and is the answer. It still fails the call, as RESOURCE_EXHAUSTED,
so that callers that only look at the status stop; the status details carry
a google.rpc.RetryInfo (seconds until the window resets) and the
ConsumeResponse itself, which the Python client raises as
QuotaExceededError (docs/grpc.md, "Plans and entitlements").
"""

from __future__ import annotations

import grpc

from openspanner.errors import QuotaExceeded
from openspanner.grpc.entitlements_convert import (
    consume_event_from_proto,
    consume_response,
    decision_filter_from_proto,
    decision_to_proto,
    entitlement_event_to_proto,
    page_size,
    period_snapshot_to_proto,
    quota_to_proto,
    state_to_proto,
    state_word,
)
from openspanner.grpc.handlers import abort
from openspanner.grpc.plans_convert import enum_word
from openspanner.grpc.rpc import rpc
from openspanner.limits.service import LimitsService
from openspanner.logging import get_logger
from openspanner.v1 import entitlement_pb2, entitlement_pb2_grpc

log = get_logger(__name__)


class EntitlementService(entitlement_pb2_grpc.EntitlementServiceServicer):
    def __init__(self, limits: LimitsService) -> None:
        self._limits = limits

    @rpc
    async def Check(
        self, request: entitlement_pb2.CheckRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.CheckResponse:
        quota = await self._limits.check(request.subject, request.meter, request.quantity)
        return entitlement_pb2.CheckResponse(quota=quota_to_proto(quota))

    @rpc
    async def Consume(
        self, request: entitlement_pb2.ConsumeRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.ConsumeResponse:
        answer = await self._limits.consume(consume_event_from_proto(request))
        response = consume_response(answer)
        if not answer.decision.accepted:
            quota = answer.decision.quota
            log.info(
                "consume refused over grpc", idempotency_key=request.idempotency_key, subject=request.subject,
                meter=request.meter, replayed=answer.replayed, evaluation_failed=answer.decision.evaluation_failed,
            )
            refusal = QuotaExceeded(quota.message, retry_after_seconds=quota.retry_after_seconds)
            await abort(context, refusal, details=(response,))
        return response

    @rpc
    async def GetDecision(
        self, request: entitlement_pb2.GetDecisionRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.GetDecisionResponse:
        decision = await self._limits.get_decision(request.idempotency_key)
        return entitlement_pb2.GetDecisionResponse(decision=decision_to_proto(decision))

    @rpc
    async def ListDecisions(
        self, request: entitlement_pb2.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.ListDecisionsResponse:
        where = decision_filter_from_proto(request)
        decisions, cursor = await self._limits.list_decisions(where, page_size(request.page_size), request.page_token)
        return entitlement_pb2.ListDecisionsResponse(
            decisions=[decision_to_proto(d) for d in decisions], next_page_token=cursor
        )

    @rpc
    async def ListStates(
        self, request: entitlement_pb2.ListStatesRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.ListStatesResponse:
        states = await self._limits.list_states(
            request.subject, request.meter, state_word(request.state), page_size(request.page_size)
        )
        return entitlement_pb2.ListStatesResponse(states=[state_to_proto(s) for s in states])

    @rpc
    async def ListEvents(
        self, request: entitlement_pb2.EntitlementServiceListEventsRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.EntitlementServiceListEventsResponse:
        event_type = enum_word(entitlement_pb2.EntitlementEvent.Type, "TYPE_", request.type, "type")
        limit = page_size(request.page_size)
        events = await self._limits.list_events(request.subject, request.meter, event_type, limit)
        return entitlement_pb2.EntitlementServiceListEventsResponse(
            events=[entitlement_event_to_proto(e) for e in events]
        )

    @rpc
    async def ListPeriods(
        self, request: entitlement_pb2.ListPeriodsRequest, context: grpc.aio.ServicerContext
    ) -> entitlement_pb2.ListPeriodsResponse:
        periods = await self._limits.list_periods(request.subject, request.meter, page_size(request.page_size))
        return entitlement_pb2.ListPeriodsResponse(periods=[period_snapshot_to_proto(p) for p in periods])
