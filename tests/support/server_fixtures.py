"""The shared-server fixtures, imported by the conftest of each ring that starts servers.

Each ring's conftest imports them, so a session-scoped server is one per ring
(integration and system), never one for a unit run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from google.protobuf import json_format

from openspanner.v1 import meter_pb2
from tests.harness import Client, ServerProcess, running_server


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that only need meters of their own."""
    with running_server(tmp_path_factory.mktemp("shared")) as server:
        yield server


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[Client]:
    c = Client(shared_server.address)
    yield c
    c.close()


@pytest.fixture
def make_meter(client: Client) -> Callable[..., meter_pb2.Meter]:
    """Create a meter with a unique name on the shared server."""

    def create(**fields: object) -> meter_pb2.Meter:
        definition = {
            "name": f"m_{uuid.uuid4().hex[:10]}",
            "aggregation": "sum",
            "unit": "request",
            "dimensions": [
                {"name": "region", "type": "string", "required": True},
                {"name": "cached", "type": "boolean", "required": False},
                {"name": "tokens.in", "type": "number", "required": False},
            ],
        }
        definition.update(fields)
        request = json_format.ParseDict(definition, meter_pb2.Meter())
        return client.call(client.meters.CreateMeter, request)

    return create
