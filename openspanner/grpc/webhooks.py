"""DestinationService and DeliveryService: webhook destinations and deliveries over gRPC, the same
core calls as REST /v1/alerts/destinations and /v1/alerts/delivery-jobs."""

from __future__ import annotations

import grpc

from openspanner.grpc.convert import timestamp
from openspanner.grpc.rpc import rpc
from openspanner.v1 import webhook_pb2, webhook_pb2_grpc
from openspanner.webhooks.destinations import DestinationChanges, Destinations
from openspanner.webhooks.fanout import Fanout
from openspanner.webhooks.model import Attempt, DeliveryJob, Destination, JobStatus
from openspanner.webhooks.outbox import Outbox
from openspanner.webhooks.signing import standard_webhooks_secret


class DestinationService(webhook_pb2_grpc.DestinationServiceServicer):
    def __init__(self, destinations: Destinations, outbox: Outbox) -> None:
        self._destinations = destinations
        self._outbox = outbox

    @rpc
    async def CreateDestination(
        self, request: webhook_pb2.CreateDestinationRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.CreateDestinationResponse:
        enabled = request.enabled if request.HasField("enabled") else True
        created = await self._destinations.create(
            request.name, request.type, enabled, request.webhook_url, list(request.event_types)
        )
        return webhook_pb2.CreateDestinationResponse(
            destination=destination_to_proto(created), signing_secret=secret_to_proto(created)
        )

    @rpc
    async def ListDestinations(
        self, request: webhook_pb2.ListDestinationsRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.ListDestinationsResponse:
        enabled = request.enabled if request.HasField("enabled") else None
        found = await self._destinations.list_destinations(request.type or None, enabled, request.limit or None)
        return webhook_pb2.ListDestinationsResponse(destinations=[destination_to_proto(d) for d in found])

    @rpc
    async def GetDestination(
        self, request: webhook_pb2.GetDestinationRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.GetDestinationResponse:
        return webhook_pb2.GetDestinationResponse(
            destination=destination_to_proto(await self._destinations.get(request.id))
        )

    @rpc
    async def UpdateDestination(
        self, request: webhook_pb2.UpdateDestinationRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.UpdateDestinationResponse:
        changes = DestinationChanges(
            name=request.name if request.HasField("name") else None,
            type=request.type if request.HasField("type") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            webhook_url=request.webhook_url if request.HasField("webhook_url") else None,
            event_types=list(request.event_types.event_types) if request.HasField("event_types") else None,
        )
        updated = await self._destinations.update(request.id, changes)
        return webhook_pb2.UpdateDestinationResponse(destination=destination_to_proto(updated))

    @rpc
    async def DeleteDestination(
        self, request: webhook_pb2.DeleteDestinationRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.DeleteDestinationResponse:
        await self._destinations.delete(request.id)
        return webhook_pb2.DeleteDestinationResponse()

    @rpc
    async def RotateDestinationSecret(
        self, request: webhook_pb2.RotateDestinationSecretRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.RotateDestinationSecretResponse:
        rotated = await self._destinations.rotate_secret(request.id)
        return webhook_pb2.RotateDestinationSecretResponse(
            destination=destination_to_proto(rotated), signing_secret=secret_to_proto(rotated)
        )

    @rpc
    async def TestDestination(
        self, request: webhook_pb2.TestDestinationRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.TestDestinationResponse:
        job = await Fanout(self._destinations, self._outbox).send_test(request.id)
        return webhook_pb2.TestDestinationResponse(delivery_job=job_to_proto(job))


class DeliveryService(webhook_pb2_grpc.DeliveryServiceServicer):
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    @rpc
    async def ListDeliveryJobs(
        self, request: webhook_pb2.ListDeliveryJobsRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.ListDeliveryJobsResponse:
        jobs = await self._outbox.list_jobs(
            request.status or None, request.destination_id or None, request.event_id or None,
            request.event_kind or None, request.limit or None,
        )
        return webhook_pb2.ListDeliveryJobsResponse(delivery_jobs=[job_to_proto(job) for job in jobs])

    @rpc
    async def GetDeliveryJob(
        self, request: webhook_pb2.GetDeliveryJobRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.GetDeliveryJobResponse:
        job = await self._outbox.get(request.id)
        attempts = await self._outbox.attempts(job.id)
        return webhook_pb2.GetDeliveryJobResponse(
            delivery_job=job_to_proto(job), attempts=[attempt_to_proto(a) for a in attempts]
        )

    @rpc
    async def RetryDeliveryJob(
        self, request: webhook_pb2.RetryDeliveryJobRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.RetryDeliveryJobResponse:
        return webhook_pb2.RetryDeliveryJobResponse(delivery_job=job_to_proto(await self._outbox.retry(request.id)))


def destination_to_proto(destination: Destination) -> webhook_pb2.Destination:
    return webhook_pb2.Destination(
        id=destination.id, name=destination.name, type=destination.type, enabled=destination.enabled,
        webhook_url=destination.webhook_url, create_time=timestamp(destination.created_at),
        update_time=timestamp(destination.updated_at), event_types=list(destination.event_types),
    )


def secret_to_proto(destination: Destination) -> webhook_pb2.SigningSecret:
    return webhook_pb2.SigningSecret(
        secret=destination.secret, standard_webhooks_secret=standard_webhooks_secret(destination.secret)
    )


def job_to_proto(job: DeliveryJob) -> webhook_pb2.DeliveryJob:
    message = webhook_pb2.DeliveryJob(
        id=job.id, event_kind=job.event_kind, event_id=job.event_id, destination_id=job.destination_id,
        status=job.status.value, attempts=job.attempts, last_status_code=job.last_status_code,
        last_error=job.last_error, create_time=timestamp(job.created_at), update_time=timestamp(job.updated_at),
    )
    if job.status is JobStatus.PENDING:
        message.next_attempt_time.CopyFrom(timestamp(job.next_attempt_at))
    return message


def attempt_to_proto(attempt: Attempt) -> webhook_pb2.DeliveryAttempt:
    return webhook_pb2.DeliveryAttempt(
        attempt=attempt.attempt, event_id=attempt.event_id, status=attempt.status.value,
        status_code=attempt.status_code, error=attempt.error, duration_ms=attempt.duration_ms,
        attempt_time=timestamp(attempt.attempted_at),
    )
