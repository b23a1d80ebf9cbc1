from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
HTTP_QUERY_FIELD_NUMBER: _ClassVar[int]
http_query: _descriptor.FieldDescriptor

class HttpQuery(_message.Message):
    __slots__ = ("name", "key_field", "value_field")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_field: str
    value_field: str
    def __init__(self, name: _Optional[str] = ..., key_field: _Optional[str] = ..., value_field: _Optional[str] = ...) -> None: ...
