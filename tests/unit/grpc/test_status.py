"""The one map from typed errors to gRPC status and the rich error model (grpc/status.py)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from openspanner.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    NotImplementedYet,
    OpenSpannerError,
    PermissionDenied,
    RequestTooLarge,
    ResourceExhausted,
    StorageRefused,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    status_name,
)
from openspanner.grpc.status import STATUS_DETAILS_KEY, grpc_status, rich_status, status_trailer

StatusCode = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidArgument("x"), StatusCode.INVALID_ARGUMENT),
        (StorageRefused("x"), StatusCode.INVALID_ARGUMENT),
        (InvalidJson("x"), StatusCode.INVALID_ARGUMENT),
        (UnsupportedMediaType("x"), StatusCode.INVALID_ARGUMENT),
        (NotFound("x"), StatusCode.NOT_FOUND),
        (AlreadyExists("x"), StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("x"), StatusCode.FAILED_PRECONDITION),
        (Unauthenticated("x"), StatusCode.UNAUTHENTICATED),
        (PermissionDenied("x"), StatusCode.PERMISSION_DENIED),
        (Unavailable("x"), StatusCode.UNAVAILABLE),
        (ResourceExhausted("x"), StatusCode.RESOURCE_EXHAUSTED),
        (RequestTooLarge("x"), StatusCode.RESOURCE_EXHAUSTED),
        (MethodNotAllowed("x"), StatusCode.UNIMPLEMENTED),
        (NotImplementedYet("x"), StatusCode.UNIMPLEMENTED),
        (OpenSpannerError("x"), StatusCode.INTERNAL),
    ],
)
def test_each_error_has_one_status_and_its_name(error: OpenSpannerError, status: StatusCode) -> None:
    assert grpc_status(error) is status
    assert status_name(error) == status.name



def test_the_trailer_carries_the_field_and_the_retry_delay() -> None:
    assert status_trailer(NotFound("gone")) == ()
    ((key, value),) = status_trailer(Unavailable("storage down", field="meter", retry_after_seconds=1.5))
    assert key == STATUS_DETAILS_KEY
    status = status_pb2.Status.FromString(value)
    assert status == rich_status(Unavailable("storage down", field="meter", retry_after_seconds=1.5))
    assert (status.code, status.message) == (StatusCode.UNAVAILABLE.value[0], "meter: storage down")
    bad, retry = error_details_pb2.BadRequest(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(bad) and status.details[1].Unpack(retry)
    assert [(v.field, v.description) for v in bad.field_violations] == [("meter", "storage down")]
    assert retry.retry_delay.ToMilliseconds() == 1500
