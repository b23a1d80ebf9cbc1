import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertComparator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_COMPARATOR_UNSPECIFIED: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_GT: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_GTE: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_LT: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_LTE: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_EQ: _ClassVar[AlertComparator]
    ALERT_COMPARATOR_NEQ: _ClassVar[AlertComparator]

class AlertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATUS_UNSPECIFIED: _ClassVar[AlertStatus]
    ALERT_STATUS_OK: _ClassVar[AlertStatus]
    ALERT_STATUS_ALERTING: _ClassVar[AlertStatus]
    ALERT_STATUS_NO_DATA: _ClassVar[AlertStatus]
    ALERT_STATUS_ERROR: _ClassVar[AlertStatus]

class AlertEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_EVENT_TYPE_UNSPECIFIED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_TRIGGERED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_RESOLVED: _ClassVar[AlertEventType]
    ALERT_EVENT_TYPE_EVALUATION_FAILED: _ClassVar[AlertEventType]
ALERT_COMPARATOR_UNSPECIFIED: AlertComparator
ALERT_COMPARATOR_GT: AlertComparator
ALERT_COMPARATOR_GTE: AlertComparator
ALERT_COMPARATOR_LT: AlertComparator
ALERT_COMPARATOR_LTE: AlertComparator
ALERT_COMPARATOR_EQ: AlertComparator
ALERT_COMPARATOR_NEQ: AlertComparator
ALERT_STATUS_UNSPECIFIED: AlertStatus
ALERT_STATUS_OK: AlertStatus
ALERT_STATUS_ALERTING: AlertStatus
ALERT_STATUS_NO_DATA: AlertStatus
ALERT_STATUS_ERROR: AlertStatus
ALERT_EVENT_TYPE_UNSPECIFIED: AlertEventType
ALERT_EVENT_TYPE_TRIGGERED: AlertEventType
ALERT_EVENT_TYPE_RESOLVED: AlertEventType
ALERT_EVENT_TYPE_EVALUATION_FAILED: AlertEventType

class AlertRule(_message.Message):
    __slots__ = ("id", "name", "meter", "enabled", "subject", "metadata", "window_seconds", "comparator", "threshold", "evaluation_interval_seconds", "group_by", "destination_id", "state", "states", "next_evaluate_time", "create_time", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_EVALUATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    meter: str
    enabled: bool
    subject: str
    metadata: _containers.ScalarMap[str, str]
    window_seconds: int
    comparator: AlertComparator
    threshold: float
    evaluation_interval_seconds: int
    group_by: str
    destination_id: str
    state: AlertState
    states: _containers.RepeatedCompositeFieldContainer[AlertState]
    next_evaluate_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., meter: _Optional[str] = ..., enabled: _Optional[bool] = ..., subject: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., window_seconds: _Optional[int] = ..., comparator: _Optional[_Union[AlertComparator, str]] = ..., threshold: _Optional[float] = ..., evaluation_interval_seconds: _Optional[int] = ..., group_by: _Optional[str] = ..., destination_id: _Optional[str] = ..., state: _Optional[_Union[AlertState, _Mapping]] = ..., states: _Optional[_Iterable[_Union[AlertState, _Mapping]]] = ..., next_evaluate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AlertState(_message.Message):
    __slots__ = ("status", "group_key", "group_value", "value", "message", "evaluate_time", "update_time")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    status: AlertStatus
    group_key: str
    group_value: str
    value: float
    message: str
    evaluate_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[AlertStatus, str]] = ..., group_key: _Optional[str] = ..., group_value: _Optional[str] = ..., value: _Optional[float] = ..., message: _Optional[str] = ..., evaluate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("id", "rule_id", "group_key", "group_value", "type", "value", "message", "create_time", "delivery")
    ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    id: str
    rule_id: str
    group_key: str
    group_value: str
    type: AlertEventType
    value: float
    message: str
    create_time: _timestamp_pb2.Timestamp
    delivery: AlertDelivery
    def __init__(self, id: _Optional[str] = ..., rule_id: _Optional[str] = ..., group_key: _Optional[str] = ..., group_value: _Optional[str] = ..., type: _Optional[_Union[AlertEventType, str]] = ..., value: _Optional[float] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivery: _Optional[_Union[AlertDelivery, _Mapping]] = ...) -> None: ...

class AlertDelivery(_message.Message):
    __slots__ = ("id", "status", "status_code", "error", "duration_ms", "attempt_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    status_code: int
    error: str
    duration_ms: int
    attempt_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., duration_ms: _Optional[int] = ..., attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAlertRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ...) -> None: ...

class CreateAlertRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ...) -> None: ...

class GetAlertRuleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetAlertRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ...) -> None: ...

class ListAlertRulesRequest(_message.Message):
    __slots__ = ("meter", "enabled", "limit")
    METER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    meter: str
    enabled: bool
    limit: int
    def __init__(self, meter: _Optional[str] = ..., enabled: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAlertRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class UpdateAlertRuleRequest(_message.Message):
    __slots__ = ("rule", "update_mask")
    RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAlertRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ...) -> None: ...

class DeleteAlertRuleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteAlertRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EvaluateAlertRuleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class EvaluateAlertRuleResponse(_message.Message):
    __slots__ = ("rule", "state", "events")
    RULE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    state: AlertState
    events: _containers.RepeatedCompositeFieldContainer[AlertEvent]
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ..., state: _Optional[_Union[AlertState, _Mapping]] = ..., events: _Optional[_Iterable[_Union[AlertEvent, _Mapping]]] = ...) -> None: ...

class ListAlertEventsRequest(_message.Message):
    __slots__ = ("rule_id", "limit", "page_token")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    limit: int
    page_token: str
    def __init__(self, rule_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AlertEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AlertEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
