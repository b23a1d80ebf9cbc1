"""The one map from our typed errors to gRPC status, and the rich error model's trailer.

Every gRPC answer to an error is built here (grpc/handlers.abort sends it):
the status code of the error's canonical name, the message `str(error)`, and
a google.rpc.Status trailer whose BadRequest and RetryInfo details let
clients act on the field and the retry delay without parsing the message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from openspanner.errors import OpenSpannerError

# Trailer of gRPC's rich error model: a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def grpc_status(error: OpenSpannerError) -> grpc.StatusCode:
    """The status code of an error (its canonical code name); the message is `str(error)`."""
    status: grpc.StatusCode = getattr(grpc.StatusCode, error.code, grpc.StatusCode.INTERNAL)
    return status


def rich_status(error: OpenSpannerError, details: Sequence[Message] = ()) -> status_pb2.Status:
    """google.rpc.Status of an error; a `field` travels as a BadRequest detail
    and a retry delay as a RetryInfo detail, so clients (the HTTP layer among
    them) need not parse the message. `details` are added as they are: an
    answer the refusal carries (a refused Consume's decision)."""
    status = status_pb2.Status(code=grpc_status(error).value[0], message=str(error))
    if error.field:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
                ]
            )
        )
        status.details.append(detail)
    if error.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(math.ceil(error.retry_after_seconds * 1000))
        detail = any_pb2.Any()
        detail.Pack(retry)
        status.details.append(detail)
    for message in details:
        detail = any_pb2.Any()
        detail.Pack(message)
        status.details.append(detail)
    return status


def status_trailer(error: OpenSpannerError, details: Sequence[Message] = ()) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying `rich_status(error, details)`, or none when it adds nothing."""
    if not error.field and error.retry_after_seconds is None and not details:
        return ()
    return ((STATUS_DETAILS_KEY, rich_status(error, details).SerializeToString()),)
