"""Server reflection that carries the API's comments, for `grpcurl describe`.

grpcio's reflection service serializes files from a descriptor pool, and the
pool built from the generated stubs has no source info: grpcurl would show
every message and method bare. `make proto` also writes the descriptor set
with source info (openspanner/v1/descriptors.binpb); this module serves those
files instead, falling back to the stubs' pool for files outside our protos
(health, reflection itself). It also resolves a method's full name to its
file, which the stubs' pool does not, so `grpcurl describe pkg.Service.Method`
works.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection

DESCRIPTOR_SET = "descriptors.binpb"


def enable(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    names = (*service_names, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server, pool=SourceInfoPool(_load_descriptor_set()))


def _load_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """The set `make proto` wrote, without the json_name protoc puts on every field.

    The stubs' descriptors (what reflection served before) carry no json_name,
    and grpcurl then prints answers with the fields' own names, as the product
    documents and our docs spell them (`"window_start"`, not `"windowStart"`).
    """
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(resources.files("openspanner.v1").joinpath(DESCRIPTOR_SET).read_bytes())
    for file in files.file:
        for message in _messages(file.message_type):
            for field in message.field:
                field.ClearField("json_name")
    return files


def _messages(messages: Iterable[descriptor_pb2.DescriptorProto]) -> Iterator[descriptor_pb2.DescriptorProto]:
    for message in messages:
        yield message
        yield from _messages(message.nested_type)


class _File:
    """What the reflection service reads of a file: its name, its imports, and its proto."""

    def __init__(self, pool: SourceInfoPool, proto: descriptor_pb2.FileDescriptorProto) -> None:
        self._pool = pool
        self._proto = proto
        self.name = proto.name

    @property
    def dependencies(self) -> list[_File]:
        return [self._pool.FindFileByName(name) for name in self._proto.dependency]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        proto.CopyFrom(self._proto)


class SourceInfoPool:
    """The subset of DescriptorPool's API that grpc_reflection calls."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self._stubs = descriptor_pool.Default()
        self._protos = {file.name: file for file in files.file}

    def FindFileByName(self, name: str) -> _File:
        proto = self._protos.get(name)
        if proto is None:
            proto = descriptor_pb2.FileDescriptorProto()
            self._stubs.FindFileByName(name).CopyToProto(proto)  # KeyError when unknown, as reflection expects
        return _File(self, proto)

    def FindFileContainingSymbol(self, symbol: str) -> _File:
        try:
            return self.FindFileByName(self._stubs.FindFileContainingSymbol(symbol).name)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            service = self._stubs.FindServiceByName(service_name)  # KeyError when not a method either
            if method not in service.methods_by_name:
                raise
            return self.FindFileByName(service.file.name)

    def FindMessageTypeByName(self, name: str) -> Any:
        return self._stubs.FindMessageTypeByName(name)

    def FindExtensionByNumber(self, message: Any, number: int) -> Any:
        return self._stubs.FindExtensionByNumber(message, number)

    def FindAllExtensions(self, message: Any) -> Any:
        return self._stubs.FindAllExtensions(message)
