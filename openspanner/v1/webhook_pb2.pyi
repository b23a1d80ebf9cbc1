import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Destination(_message.Message):
    __slots__ = ("id", "name", "type", "enabled", "webhook_url", "create_time", "update_time", "event_types")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    enabled: bool
    webhook_url: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., enabled: _Optional[bool] = ..., webhook_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class EventTypes(_message.Message):
    __slots__ = ("event_types",)
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class SigningSecret(_message.Message):
    __slots__ = ("secret", "standard_webhooks_secret")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    STANDARD_WEBHOOKS_SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: str
    standard_webhooks_secret: str
    def __init__(self, secret: _Optional[str] = ..., standard_webhooks_secret: _Optional[str] = ...) -> None: ...

class CreateDestinationRequest(_message.Message):
    __slots__ = ("name", "type", "enabled", "webhook_url", "event_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    enabled: bool
    webhook_url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., enabled: _Optional[bool] = ..., webhook_url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateDestinationResponse(_message.Message):
    __slots__ = ("destination", "signing_secret")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    destination: Destination
    signing_secret: SigningSecret
    def __init__(self, destination: _Optional[_Union[Destination, _Mapping]] = ..., signing_secret: _Optional[_Union[SigningSecret, _Mapping]] = ...) -> None: ...

class ListDestinationsRequest(_message.Message):
    __slots__ = ("type", "enabled", "limit")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    type: str
    enabled: bool
    limit: int
    def __init__(self, type: _Optional[str] = ..., enabled: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDestinationsResponse(_message.Message):
    __slots__ = ("destinations",)
    DESTINATIONS_FIELD_NUMBER: _ClassVar[int]
    destinations: _containers.RepeatedCompositeFieldContainer[Destination]
    def __init__(self, destinations: _Optional[_Iterable[_Union[Destination, _Mapping]]] = ...) -> None: ...

class GetDestinationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDestinationResponse(_message.Message):
    __slots__ = ("destination",)
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    destination: Destination
    def __init__(self, destination: _Optional[_Union[Destination, _Mapping]] = ...) -> None: ...

class UpdateDestinationRequest(_message.Message):
    __slots__ = ("id", "name", "type", "enabled", "webhook_url", "event_types")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    enabled: bool
    webhook_url: str
    event_types: EventTypes
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., enabled: _Optional[bool] = ..., webhook_url: _Optional[str] = ..., event_types: _Optional[_Union[EventTypes, _Mapping]] = ...) -> None: ...

class UpdateDestinationResponse(_message.Message):
    __slots__ = ("destination",)
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    destination: Destination
    def __init__(self, destination: _Optional[_Union[Destination, _Mapping]] = ...) -> None: ...

class DeleteDestinationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteDestinationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateDestinationSecretRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RotateDestinationSecretResponse(_message.Message):
    __slots__ = ("destination", "signing_secret")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    destination: Destination
    signing_secret: SigningSecret
    def __init__(self, destination: _Optional[_Union[Destination, _Mapping]] = ..., signing_secret: _Optional[_Union[SigningSecret, _Mapping]] = ...) -> None: ...

class TestDestinationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class TestDestinationResponse(_message.Message):
    __slots__ = ("delivery_job",)
    DELIVERY_JOB_FIELD_NUMBER: _ClassVar[int]
    delivery_job: DeliveryJob
    def __init__(self, delivery_job: _Optional[_Union[DeliveryJob, _Mapping]] = ...) -> None: ...

class DeliveryJob(_message.Message):
    __slots__ = ("id", "event_kind", "event_id", "destination_id", "status", "attempts", "next_attempt_time", "last_status_code", "last_error", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_kind: str
    event_id: str
    destination_id: str
    status: str
    attempts: int
    next_attempt_time: _timestamp_pb2.Timestamp
    last_status_code: int
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., event_kind: _Optional[str] = ..., event_id: _Optional[str] = ..., destination_id: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_status_code: _Optional[int] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeliveryAttempt(_message.Message):
    __slots__ = ("attempt", "event_id", "status", "status_code", "error", "duration_ms", "attempt_time")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    event_id: str
    status: str
    status_code: int
    error: str
    duration_ms: int
    attempt_time: _timestamp_pb2.Timestamp
    def __init__(self, attempt: _Optional[int] = ..., event_id: _Optional[str] = ..., status: _Optional[str] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., duration_ms: _Optional[int] = ..., attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeliveryJobsRequest(_message.Message):
    __slots__ = ("status", "destination_id", "event_id", "event_kind", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    destination_id: str
    event_id: str
    event_kind: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., destination_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_kind: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDeliveryJobsResponse(_message.Message):
    __slots__ = ("delivery_jobs",)
    DELIVERY_JOBS_FIELD_NUMBER: _ClassVar[int]
    delivery_jobs: _containers.RepeatedCompositeFieldContainer[DeliveryJob]
    def __init__(self, delivery_jobs: _Optional[_Iterable[_Union[DeliveryJob, _Mapping]]] = ...) -> None: ...

class GetDeliveryJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDeliveryJobResponse(_message.Message):
    __slots__ = ("delivery_job", "attempts")
    DELIVERY_JOB_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    delivery_job: DeliveryJob
    attempts: _containers.RepeatedCompositeFieldContainer[DeliveryAttempt]
    def __init__(self, delivery_job: _Optional[_Union[DeliveryJob, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[DeliveryAttempt, _Mapping]]] = ...) -> None: ...

class RetryDeliveryJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RetryDeliveryJobResponse(_message.Message):
    __slots__ = ("delivery_job",)
    DELIVERY_JOB_FIELD_NUMBER: _ClassVar[int]
    delivery_job: DeliveryJob
    def __init__(self, delivery_job: _Optional[_Union[DeliveryJob, _Mapping]] = ...) -> None: ...
