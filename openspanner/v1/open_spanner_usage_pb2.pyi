import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageEventInput(_message.Message):
    __slots__ = ("idempotency_key", "subject", "meter", "quantity", "timestamp", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp: _timestamp_pb2.Timestamp
    metadata: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, idempotency_key: _Optional[str] = ..., subject: _Optional[str] = ..., meter: _Optional[str] = ..., quantity: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class UsageEvent(_message.Message):
    __slots__ = ("id", "idempotency_key", "subject", "meter", "quantity", "timestamp", "received_at", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    idempotency_key: str
    subject: str
    meter: str
    quantity: float
    timestamp: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    metadata: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., subject: _Optional[str] = ..., meter: _Optional[str] = ..., quantity: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class BulkFailure(_message.Message):
    __slots__ = ("index", "code", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    code: str
    message: str
    def __init__(self, index: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CreateUsageRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: UsageEventInput
    def __init__(self, event: _Optional[_Union[UsageEventInput, _Mapping]] = ...) -> None: ...

class CreateUsageResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: UsageEvent
    def __init__(self, event: _Optional[_Union[UsageEvent, _Mapping]] = ...) -> None: ...

class CreateUsageBulkRequest(_message.Message):
    __slots__ = ("idempotency_key", "events")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    events: _containers.RepeatedCompositeFieldContainer[UsageEventInput]
    def __init__(self, idempotency_key: _Optional[str] = ..., events: _Optional[_Iterable[_Union[UsageEventInput, _Mapping]]] = ...) -> None: ...

class CreateUsageBulkResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "failed_count", "accepted", "duplicates", "failed")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    failed_count: int
    accepted: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    duplicates: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    failed: _containers.RepeatedCompositeFieldContainer[BulkFailure]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., accepted: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., duplicates: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., failed: _Optional[_Iterable[_Union[BulkFailure, _Mapping]]] = ...) -> None: ...

class StreamUsageRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: UsageEventInput
    def __init__(self, event: _Optional[_Union[UsageEventInput, _Mapping]] = ...) -> None: ...

class StreamUsageResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "failed_count", "accepted", "duplicates", "failed")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    failed_count: int
    accepted: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    duplicates: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    failed: _containers.RepeatedCompositeFieldContainer[BulkFailure]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., accepted: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., duplicates: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., failed: _Optional[_Iterable[_Union[BulkFailure, _Mapping]]] = ...) -> None: ...
