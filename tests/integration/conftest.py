"""Integration ring: real servers over gRPC and HTTP on the embedded engine."""

from tests.support.server_fixtures import client, make_meter, shared_server

__all__ = ["client", "make_meter", "shared_server"]
