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

class Aggregation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_UNSPECIFIED: _ClassVar[Aggregation]
    sum: _ClassVar[Aggregation]
    count: _ClassVar[Aggregation]
    avg: _ClassVar[Aggregation]
    min: _ClassVar[Aggregation]
    max: _ClassVar[Aggregation]
    first: _ClassVar[Aggregation]
    last: _ClassVar[Aggregation]
    rate: _ClassVar[Aggregation]
    unique_count: _ClassVar[Aggregation]

class DimensionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_TYPE_UNSPECIFIED: _ClassVar[DimensionType]
    string: _ClassVar[DimensionType]
    boolean: _ClassVar[DimensionType]
    number: _ClassVar[DimensionType]
AGGREGATION_UNSPECIFIED: Aggregation
sum: Aggregation
count: Aggregation
avg: Aggregation
min: Aggregation
max: Aggregation
first: Aggregation
last: Aggregation
rate: Aggregation
unique_count: Aggregation
DIMENSION_TYPE_UNSPECIFIED: DimensionType
string: DimensionType
boolean: DimensionType
number: DimensionType

class Meter(_message.Message):
    __slots__ = ("name", "description", "unit", "aggregation", "event_retention_days", "dimensions", "create_time", "update_time", "id", "unique_dimension")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    EVENT_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    unit: str
    aggregation: Aggregation
    event_retention_days: int
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    id: str
    unique_dimension: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., unit: _Optional[str] = ..., aggregation: _Optional[_Union[Aggregation, str]] = ..., event_retention_days: _Optional[int] = ..., dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[str] = ..., unique_dimension: _Optional[str] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("name", "type", "required", "display_name", "description", "deprecated")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: DimensionType
    required: bool
    display_name: str
    description: str
    deprecated: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[DimensionType, str]] = ..., required: _Optional[bool] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., deprecated: _Optional[bool] = ...) -> None: ...

class GetMeterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMetersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMetersResponse(_message.Message):
    __slots__ = ("meters", "next_page_token")
    METERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meters: _containers.RepeatedCompositeFieldContainer[Meter]
    next_page_token: str
    def __init__(self, meters: _Optional[_Iterable[_Union[Meter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMeterRequest(_message.Message):
    __slots__ = ("meter", "update_mask")
    METER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    meter: Meter
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, meter: _Optional[_Union[Meter, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteMeterRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteMeterResponse(_message.Message):
    __slots__ = ("deleted_events",)
    DELETED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    deleted_events: int
    def __init__(self, deleted_events: _Optional[int] = ...) -> None: ...
