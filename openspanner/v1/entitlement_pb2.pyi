import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openspanner.v1 import event_pb2 as _event_pb2
from openspanner.v1 import plan_pb2 as _plan_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_OUTCOME_UNSPECIFIED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_ACCEPTED: _ClassVar[DecisionOutcome]
    DECISION_OUTCOME_REJECTED: _ClassVar[DecisionOutcome]
DECISION_OUTCOME_UNSPECIFIED: DecisionOutcome
DECISION_OUTCOME_ACCEPTED: DecisionOutcome
DECISION_OUTCOME_REJECTED: DecisionOutcome

class Quota(_message.Message):
    __slots__ = ("allowed", "state", "subject", "meter", "quantity", "current", "projected", "limit", "remaining", "overage", "plan_id", "plan_name", "period", "enforcement", "failure_policy", "window_start", "window_end", "retry_after_seconds", "message")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_POLICY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    state: _plan_pb2.EntitlementState
    subject: str
    meter: str
    quantity: float
    current: float
    projected: float
    limit: float
    remaining: float
    overage: float
    plan_id: str
    plan_name: str
    period: _plan_pb2.Period
    enforcement: _plan_pb2.Enforcement
    failure_policy: _plan_pb2.FailurePolicy
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    retry_after_seconds: int
    message: str
    def __init__(self, allowed: _Optional[bool] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., subject: _Optional[str] = ..., meter: _Optional[str] = ..., quantity: _Optional[float] = ..., current: _Optional[float] = ..., projected: _Optional[float] = ..., limit: _Optional[float] = ..., remaining: _Optional[float] = ..., overage: _Optional[float] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., period: _Optional[_Union[_plan_pb2.Period, str]] = ..., enforcement: _Optional[_Union[_plan_pb2.Enforcement, str]] = ..., failure_policy: _Optional[_Union[_plan_pb2.FailurePolicy, str]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retry_after_seconds: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("subject", "meter", "quantity")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    quantity: float
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., quantity: _Optional[float] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class ConsumeRequest(_message.Message):
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

class ConsumeResponse(_message.Message):
    __slots__ = ("accepted", "replayed", "evaluation_failed", "event", "quota")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FAILED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    replayed: bool
    evaluation_failed: bool
    event: _event_pb2.StoredEvent
    quota: Quota
    def __init__(self, accepted: _Optional[bool] = ..., replayed: _Optional[bool] = ..., evaluation_failed: _Optional[bool] = ..., event: _Optional[_Union[_event_pb2.StoredEvent, _Mapping]] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("idempotency_key", "accepted", "evaluation_failed", "event_id", "quota", "create_time")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FAILED_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    accepted: bool
    evaluation_failed: bool
    event_id: str
    quota: Quota
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, idempotency_key: _Optional[str] = ..., accepted: _Optional[bool] = ..., evaluation_failed: _Optional[bool] = ..., event_id: _Optional[str] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("idempotency_key",)
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    def __init__(self, idempotency_key: _Optional[str] = ...) -> None: ...

class GetDecisionResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("subject", "meter", "outcome", "evaluation_failed", "enforcement", "state", "page_size", "page_token")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FAILED_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    outcome: DecisionOutcome
    evaluation_failed: bool
    enforcement: _plan_pb2.Enforcement
    state: _plan_pb2.EntitlementState
    page_size: int
    page_token: str
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., outcome: _Optional[_Union[DecisionOutcome, str]] = ..., evaluation_failed: _Optional[bool] = ..., enforcement: _Optional[_Union[_plan_pb2.Enforcement, str]] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class State(_message.Message):
    __slots__ = ("subject", "meter", "plan_id", "plan_name", "period", "state", "current", "limit", "remaining", "warning_percent", "message", "evaluate_time", "update_time")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    period: _plan_pb2.Period
    state: _plan_pb2.EntitlementState
    current: float
    limit: float
    remaining: float
    warning_percent: float
    message: str
    evaluate_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., period: _Optional[_Union[_plan_pb2.Period, str]] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., current: _Optional[float] = ..., limit: _Optional[float] = ..., remaining: _Optional[float] = ..., warning_percent: _Optional[float] = ..., message: _Optional[str] = ..., evaluate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListStatesRequest(_message.Message):
    __slots__ = ("subject", "meter", "state", "page_size")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    state: _plan_pb2.EntitlementState
    page_size: int
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListStatesResponse(_message.Message):
    __slots__ = ("states",)
    STATES_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedCompositeFieldContainer[State]
    def __init__(self, states: _Optional[_Iterable[_Union[State, _Mapping]]] = ...) -> None: ...

class EntitlementEvent(_message.Message):
    __slots__ = ("id", "subject", "meter", "plan_id", "plan_name", "period", "previous_state", "state", "type", "current", "limit", "remaining", "warning_percent", "message", "create_time")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[EntitlementEvent.Type]
        TYPE_WARNING: _ClassVar[EntitlementEvent.Type]
        TYPE_EXCEEDED: _ClassVar[EntitlementEvent.Type]
        TYPE_RECOVERED: _ClassVar[EntitlementEvent.Type]
    TYPE_UNSPECIFIED: EntitlementEvent.Type
    TYPE_WARNING: EntitlementEvent.Type
    TYPE_EXCEEDED: EntitlementEvent.Type
    TYPE_RECOVERED: EntitlementEvent.Type
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    period: _plan_pb2.Period
    previous_state: _plan_pb2.EntitlementState
    state: _plan_pb2.EntitlementState
    type: EntitlementEvent.Type
    current: float
    limit: float
    remaining: float
    warning_percent: float
    message: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., subject: _Optional[str] = ..., meter: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., period: _Optional[_Union[_plan_pb2.Period, str]] = ..., previous_state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., type: _Optional[_Union[EntitlementEvent.Type, str]] = ..., current: _Optional[float] = ..., limit: _Optional[float] = ..., remaining: _Optional[float] = ..., warning_percent: _Optional[float] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EntitlementServiceListEventsRequest(_message.Message):
    __slots__ = ("subject", "meter", "type", "page_size")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    type: EntitlementEvent.Type
    page_size: int
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., type: _Optional[_Union[EntitlementEvent.Type, str]] = ..., page_size: _Optional[int] = ...) -> None: ...

class EntitlementServiceListEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EntitlementEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[EntitlementEvent, _Mapping]]] = ...) -> None: ...

class PeriodSnapshot(_message.Message):
    __slots__ = ("subject", "meter", "plan_id", "plan_name", "plan_version", "period", "window_start", "window_end", "state", "current", "limit", "included", "overage", "remaining", "warning_percent", "event_count", "update_time")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    plan_id: str
    plan_name: str
    plan_version: int
    period: _plan_pb2.Period
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    state: _plan_pb2.EntitlementState
    current: float
    limit: float
    included: float
    overage: float
    remaining: float
    warning_percent: float
    event_count: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., plan_version: _Optional[int] = ..., period: _Optional[_Union[_plan_pb2.Period, str]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[_plan_pb2.EntitlementState, str]] = ..., current: _Optional[float] = ..., limit: _Optional[float] = ..., included: _Optional[float] = ..., overage: _Optional[float] = ..., remaining: _Optional[float] = ..., warning_percent: _Optional[float] = ..., event_count: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPeriodsRequest(_message.Message):
    __slots__ = ("subject", "meter", "page_size")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    meter: str
    page_size: int
    def __init__(self, subject: _Optional[str] = ..., meter: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListPeriodsResponse(_message.Message):
    __slots__ = ("periods",)
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    periods: _containers.RepeatedCompositeFieldContainer[PeriodSnapshot]
    def __init__(self, periods: _Optional[_Iterable[_Union[PeriodSnapshot, _Mapping]]] = ...) -> None: ...
