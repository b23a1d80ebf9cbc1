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

class WindowSize(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WINDOW_SIZE_UNSPECIFIED: _ClassVar[WindowSize]
    minute: _ClassVar[WindowSize]
    hour: _ClassVar[WindowSize]
    day: _ClassVar[WindowSize]
    month: _ClassVar[WindowSize]
WINDOW_SIZE_UNSPECIFIED: WindowSize
minute: WindowSize
hour: WindowSize
day: WindowSize
month: WindowSize

class DimensionFilter(_message.Message):
    __slots__ = ("dimension", "values")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    values: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    def __init__(self, dimension: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ...) -> None: ...

class QueryUsageRequest(_message.Message):
    __slots__ = ("meter", "start_time", "end_time", "window_size", "time_zone", "subjects", "filters", "group_by", "fill")
    METER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SIZE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    meter: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    window_size: WindowSize
    time_zone: str
    subjects: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.RepeatedCompositeFieldContainer[DimensionFilter]
    group_by: _containers.RepeatedScalarFieldContainer[str]
    fill: bool
    def __init__(self, meter: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_size: _Optional[_Union[WindowSize, str]] = ..., time_zone: _Optional[str] = ..., subjects: _Optional[_Iterable[str]] = ..., filters: _Optional[_Iterable[_Union[DimensionFilter, _Mapping]]] = ..., group_by: _Optional[_Iterable[str]] = ..., fill: _Optional[bool] = ...) -> None: ...

class UsageRow(_message.Message):
    __slots__ = ("window_start", "window_end", "subject", "group", "value", "event_count")
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    subject: str
    group: _struct_pb2.Struct
    value: float
    event_count: int
    def __init__(self, window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., group: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., value: _Optional[float] = ..., event_count: _Optional[int] = ...) -> None: ...

class QueryUsageResponse(_message.Message):
    __slots__ = ("rows", "aggregation", "time_zone")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[UsageRow]
    aggregation: str
    time_zone: str
    def __init__(self, rows: _Optional[_Iterable[_Union[UsageRow, _Mapping]]] = ..., aggregation: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("meter", "start_time", "end_time", "subjects", "filters", "page_size", "page_token")
    METER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meter: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    subjects: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.RepeatedCompositeFieldContainer[DimensionFilter]
    page_size: int
    page_token: str
    def __init__(self, meter: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subjects: _Optional[_Iterable[str]] = ..., filters: _Optional[_Iterable[_Union[DimensionFilter, _Mapping]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_event_pb2.StoredEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_event_pb2.StoredEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
