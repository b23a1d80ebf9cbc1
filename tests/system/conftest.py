"""System ring: the browser, the Node and buf toolchains, the product's client, packaging."""

from tests.support.server_fixtures import client, make_meter, shared_server

__all__ = ["client", "make_meter", "shared_server"]
