import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openspanner.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    ACCEPTED: _ClassVar[Outcome]
    DUPLICATE: _ClassVar[Outcome]
    REJECTED: _ClassVar[Outcome]
    RETRY: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
ACCEPTED: Outcome
DUPLICATE: Outcome
REJECTED: Outcome
RETRY: Outcome

class UsageEvent(_message.Message):
    __slots__ = ("idempotency_key", "subject", "meter", "quantity", "timestamp", "metadata")
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
    metadata: _struct_pb2.Struct
    def __init__(self, idempotency_key: _Optional[str] = ..., subject: _Optional[str] = ..., meter: _Optional[str] = ..., quantity: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("code", "field", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    field: str
    message: str
    def __init__(self, code: _Optional[str] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("idempotency_key", "outcome", "event", "conflicting_fields")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    outcome: Outcome
    event: _event_pb2.StoredEvent
    conflicting_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, idempotency_key: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., event: _Optional[_Union[_event_pb2.StoredEvent, _Mapping]] = ..., conflicting_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordUsagesRequest(_message.Message):
    __slots__ = ("idempotency_key", "events", "validate_only")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    events: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    validate_only: bool
    def __init__(self, idempotency_key: _Optional[str] = ..., events: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("index", "idempotency_key", "outcome", "rejection", "event", "conflicting_fields")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    index: int
    idempotency_key: str
    outcome: Outcome
    rejection: Rejection
    event: _event_pb2.StoredEvent
    conflicting_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., rejection: _Optional[_Union[Rejection, _Mapping]] = ..., event: _Optional[_Union[_event_pb2.StoredEvent, _Mapping]] = ..., conflicting_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordUsagesResponse(_message.Message):
    __slots__ = ("results", "accepted", "duplicates", "rejected")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    accepted: int
    duplicates: int
    rejected: int
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ..., accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class AckRange(_message.Message):
    __slots__ = ("first_sequence", "last_sequence", "outcome", "rejection")
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    first_sequence: int
    last_sequence: int
    outcome: Outcome
    rejection: Rejection
    def __init__(self, first_sequence: _Optional[int] = ..., last_sequence: _Optional[int] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., rejection: _Optional[_Union[Rejection, _Mapping]] = ...) -> None: ...

class StreamAck(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[AckRange]
    def __init__(self, acks: _Optional[_Iterable[_Union[AckRange, _Mapping]]] = ...) -> None: ...

class UsageEventBatch(_message.Message):
    __slots__ = ("first_sequence", "events")
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    first_sequence: int
    events: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    def __init__(self, first_sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ...) -> None: ...

class StreamUsageStart(_message.Message):
    __slots__ = ("meters",)
    METERS_FIELD_NUMBER: _ClassVar[int]
    meters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meters: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamUsageRequest(_message.Message):
    __slots__ = ("start", "batch")
    START_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    start: StreamUsageStart
    batch: UsageEventBatch
    def __init__(self, start: _Optional[_Union[StreamUsageStart, _Mapping]] = ..., batch: _Optional[_Union[UsageEventBatch, _Mapping]] = ...) -> None: ...

class DeviceReading(_message.Message):
    __slots__ = ("idempotency_key", "device_id", "fleet", "region", "value", "timestamp", "subject")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FLEET_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    device_id: str
    fleet: str
    region: str
    value: float
    timestamp: _timestamp_pb2.Timestamp
    subject: str
    def __init__(self, idempotency_key: _Optional[str] = ..., device_id: _Optional[str] = ..., fleet: _Optional[str] = ..., region: _Optional[str] = ..., value: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ...) -> None: ...

class DeviceTelemetryStart(_message.Message):
    __slots__ = ("meter", "subject")
    METER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    meter: str
    subject: str
    def __init__(self, meter: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class DeviceReadingBatch(_message.Message):
    __slots__ = ("first_sequence", "readings")
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    first_sequence: int
    readings: _containers.RepeatedCompositeFieldContainer[DeviceReading]
    def __init__(self, first_sequence: _Optional[int] = ..., readings: _Optional[_Iterable[_Union[DeviceReading, _Mapping]]] = ...) -> None: ...

class DeviceTelemetryRequest(_message.Message):
    __slots__ = ("start", "batch")
    START_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    start: DeviceTelemetryStart
    batch: DeviceReadingBatch
    def __init__(self, start: _Optional[_Union[DeviceTelemetryStart, _Mapping]] = ..., batch: _Optional[_Union[DeviceReadingBatch, _Mapping]] = ...) -> None: ...

class WebSocketSessionEvent(_message.Message):
    __slots__ = ("session_id", "subject", "kind", "timestamp", "opened_at", "metadata")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[WebSocketSessionEvent.Kind]
        open: _ClassVar[WebSocketSessionEvent.Kind]
        close: _ClassVar[WebSocketSessionEvent.Kind]
    KIND_UNSPECIFIED: WebSocketSessionEvent.Kind
    open: WebSocketSessionEvent.Kind
    close: WebSocketSessionEvent.Kind
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    subject: str
    kind: WebSocketSessionEvent.Kind
    timestamp: _timestamp_pb2.Timestamp
    opened_at: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    def __init__(self, session_id: _Optional[str] = ..., subject: _Optional[str] = ..., kind: _Optional[_Union[WebSocketSessionEvent.Kind, str]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WebSocketSessionStart(_message.Message):
    __slots__ = ("connections_meter", "duration_meter")
    CONNECTIONS_METER_FIELD_NUMBER: _ClassVar[int]
    DURATION_METER_FIELD_NUMBER: _ClassVar[int]
    connections_meter: str
    duration_meter: str
    def __init__(self, connections_meter: _Optional[str] = ..., duration_meter: _Optional[str] = ...) -> None: ...

class WebSocketSessionBatch(_message.Message):
    __slots__ = ("first_sequence", "events")
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    first_sequence: int
    events: _containers.RepeatedCompositeFieldContainer[WebSocketSessionEvent]
    def __init__(self, first_sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[WebSocketSessionEvent, _Mapping]]] = ...) -> None: ...

class WebSocketSessionRequest(_message.Message):
    __slots__ = ("start", "batch")
    START_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    start: WebSocketSessionStart
    batch: WebSocketSessionBatch
    def __init__(self, start: _Optional[_Union[WebSocketSessionStart, _Mapping]] = ..., batch: _Optional[_Union[WebSocketSessionBatch, _Mapping]] = ...) -> None: ...

class QueueThroughputEvent(_message.Message):
    __slots__ = ("idempotency_key", "queue", "outcome", "worker_region", "count", "timestamp", "subject")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    WORKER_REGION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    queue: str
    outcome: str
    worker_region: str
    count: float
    timestamp: _timestamp_pb2.Timestamp
    subject: str
    def __init__(self, idempotency_key: _Optional[str] = ..., queue: _Optional[str] = ..., outcome: _Optional[str] = ..., worker_region: _Optional[str] = ..., count: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ...) -> None: ...

class QueueThroughputStart(_message.Message):
    __slots__ = ("meter", "subject")
    METER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    meter: str
    subject: str
    def __init__(self, meter: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class QueueThroughputBatch(_message.Message):
    __slots__ = ("first_sequence", "events")
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    first_sequence: int
    events: _containers.RepeatedCompositeFieldContainer[QueueThroughputEvent]
    def __init__(self, first_sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[QueueThroughputEvent, _Mapping]]] = ...) -> None: ...

class QueueThroughputRequest(_message.Message):
    __slots__ = ("start", "batch")
    START_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    start: QueueThroughputStart
    batch: QueueThroughputBatch
    def __init__(self, start: _Optional[_Union[QueueThroughputStart, _Mapping]] = ..., batch: _Optional[_Union[QueueThroughputBatch, _Mapping]] = ...) -> None: ...
