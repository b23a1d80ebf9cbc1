"""The calls of DestinationService and DeliveryService, as Client and AsyncClient make them.

Answers are plain dicts in the proto's JSON form (field names as in
proto/openspanner/v1/webhook.proto, timestamps as RFC 3339 strings, every
field present), so what the command line prints as JSON is the API's own.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from openspanner.client.calls import Call, Rpc
from openspanner.v1 import webhook_pb2

Answer = dict[str, Any]

CREATE_DESTINATION = Rpc(
    "DestinationService", "CreateDestination", webhook_pb2.CreateDestinationResponse, repeatable=False
)
LIST_DESTINATIONS = Rpc("DestinationService", "ListDestinations", webhook_pb2.ListDestinationsResponse, repeatable=True)
GET_DESTINATION = Rpc("DestinationService", "GetDestination", webhook_pb2.GetDestinationResponse, repeatable=True)
UPDATE_DESTINATION = Rpc(
    "DestinationService", "UpdateDestination", webhook_pb2.UpdateDestinationResponse, repeatable=True
)
DELETE_DESTINATION = Rpc(
    "DestinationService", "DeleteDestination", webhook_pb2.DeleteDestinationResponse, repeatable=False
)
ROTATE_DESTINATION_SECRET = Rpc(
    "DestinationService", "RotateDestinationSecret", webhook_pb2.RotateDestinationSecretResponse, repeatable=False
)
TEST_DESTINATION = Rpc("DestinationService", "TestDestination", webhook_pb2.TestDestinationResponse, repeatable=False)
LIST_DELIVERY_JOBS = Rpc("DeliveryService", "ListDeliveryJobs", webhook_pb2.ListDeliveryJobsResponse, repeatable=True)
GET_DELIVERY_JOB = Rpc("DeliveryService", "GetDeliveryJob", webhook_pb2.GetDeliveryJobResponse, repeatable=True)
RETRY_DELIVERY_JOB = Rpc("DeliveryService", "RetryDeliveryJob", webhook_pb2.RetryDeliveryJobResponse, repeatable=False)


def as_dict(message: Message) -> Answer:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _field(name: str) -> Any:
    return lambda response: as_dict(getattr(response, name))


def _items(name: str) -> Any:
    return lambda response: [as_dict(item) for item in getattr(response, name)]


def create_destination(name: str, webhook_url: str, enabled: bool) -> Call[Answer]:
    request = webhook_pb2.CreateDestinationRequest(name=name, webhook_url=webhook_url, enabled=enabled)
    return Call(CREATE_DESTINATION, request, as_dict)


def list_destinations(enabled: bool | None, limit: int) -> Call[list[Answer]]:
    request = webhook_pb2.ListDestinationsRequest(limit=limit)
    if enabled is not None:
        request.enabled = enabled
    return Call(LIST_DESTINATIONS, request, _items("destinations"))


def get_destination(destination_id: str) -> Call[Answer]:
    return Call(GET_DESTINATION, webhook_pb2.GetDestinationRequest(id=destination_id), _field("destination"))


def update_destination(
    destination_id: str, name: str | None, webhook_url: str | None, enabled: bool | None
) -> Call[Answer]:
    request = webhook_pb2.UpdateDestinationRequest(id=destination_id)
    if name is not None:
        request.name = name
    if webhook_url is not None:
        request.webhook_url = webhook_url
    if enabled is not None:
        request.enabled = enabled
    return Call(UPDATE_DESTINATION, request, _field("destination"))


def delete_destination(destination_id: str) -> Call[None]:
    return Call(DELETE_DESTINATION, webhook_pb2.DeleteDestinationRequest(id=destination_id), lambda _: None)


def rotate_destination_secret(destination_id: str) -> Call[Answer]:
    request = webhook_pb2.RotateDestinationSecretRequest(id=destination_id)
    return Call(ROTATE_DESTINATION_SECRET, request, as_dict)


def test_destination(destination_id: str) -> Call[Answer]:
    request = webhook_pb2.TestDestinationRequest(id=destination_id)
    return Call(TEST_DESTINATION, request, _field("delivery_job"))


def list_delivery_jobs(
    status: str, destination_id: str, event_id: str, event_kind: str, limit: int
) -> Call[list[Answer]]:
    request = webhook_pb2.ListDeliveryJobsRequest(
        status=status, destination_id=destination_id, event_id=event_id, event_kind=event_kind, limit=limit
    )
    return Call(LIST_DELIVERY_JOBS, request, _items("delivery_jobs"))


def get_delivery_job(job_id: str) -> Call[Answer]:
    return Call(GET_DELIVERY_JOB, webhook_pb2.GetDeliveryJobRequest(id=job_id), as_dict)


def retry_delivery_job(job_id: str) -> Call[Answer]:
    return Call(RETRY_DELIVERY_JOB, webhook_pb2.RetryDeliveryJobRequest(id=job_id), _field("delivery_job"))
