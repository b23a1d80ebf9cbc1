"""Opening ClickHouse, embedded or server, behind one blocking client.

clickhouse-connect is the only storage client: `chdb://<dir>` runs the
ClickHouse engine in this process, `http(s)://host:8123/db` reaches a server.
Both speak the same SQL, so nothing above this module knows which is in use.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from openspanner.config import Settings
from openspanner.errors import ConfigError, OpenSpannerError, Unavailable
from openspanner.logging import get_logger
from openspanner.storage.errors import classify, client_error, is_storage_error

log = get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Sent with every query to a ClickHouse server. Inserts return only once the
# data is in a part (never parked in the server's async-insert buffer), so an
# acknowledged event is durable; on a replicated cluster a majority of
# replicas must have it.
SERVER_SETTINGS = {
    "async_insert": 0,
    "insert_quorum": "auto",
}


def open_client(settings: Settings) -> Client:
    """Connect, creating the database if needed, and return a client bound to it."""
    try:
        if settings.uses_embedded_engine:
            return _open_embedded(settings)
        return _open_server(settings)
    except OperationalError as exc:
        raise Unavailable(f"cannot reach ClickHouse: {exc}") from exc
    except ClickHouseError as exc:
        if "Cannot lock file" in str(exc) or "EmbeddedServer" in str(exc):
            raise ConfigError(
                f"the embedded ClickHouse data dir {settings.embedded_path} is in use by another "
                "process (one server per data dir); stop it or choose another OPENSPANNER_DATA_DIR"
            ) from exc
        raise


def open_reader(settings: Settings) -> Client:
    """One more client on the storage `open_client` opened (database in place), for a long read
    that streams: with the embedded engine a client streaming a result answers nothing else."""
    if settings.uses_embedded_engine:
        path = settings.embedded_path.resolve()
        return clickhouse_connect.get_client(dsn=f"chdb://{path}", database=settings.clickhouse_database)
    assert settings.clickhouse_url is not None
    database = urlsplit(settings.clickhouse_url).path.strip("/") or settings.clickhouse_database
    return clickhouse_connect.get_client(
        dsn=settings.clickhouse_url, database=database, connect_timeout=10, send_receive_timeout=300,
        autogenerate_session_id=False, settings=SERVER_SETTINGS,
    )


def _open_embedded(settings: Settings) -> Client:
    path = settings.embedded_path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    admin = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    admin.command(
        "CREATE DATABASE IF NOT EXISTS {db:Identifier}",
        parameters={"db": settings.clickhouse_database},
    )
    return clickhouse_connect.get_client(dsn=f"chdb://{path}", database=settings.clickhouse_database)


def _open_server(settings: Settings) -> Client:
    assert settings.clickhouse_url is not None
    database = urlsplit(settings.clickhouse_url).path.strip("/") or settings.clickhouse_database
    common: dict[str, Any] = {
        "dsn": settings.clickhouse_url,
        "connect_timeout": 10,
        "send_receive_timeout": 300,
        "autogenerate_session_id": False,
        "settings": SERVER_SETTINGS,
    }
    bootstrap = clickhouse_connect.get_client(**{**common, "database": "default"})
    bootstrap.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": database})
    bootstrap.close()
    return clickhouse_connect.get_client(**{**common, "database": database})


class Storage:
    """The client plus the thread pool that keeps its blocking calls off the event loop."""

    def __init__(self, client: Client, threads: int) -> None:
        self.client = client
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="storage")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking storage call in the pool; its storage errors become typed errors.

        A failure worth retrying (storage down, slow, full, busy) or one an
        operator must fix (a table missing, credentials) is Unavailable with a
        retry delay; a refusal of the data it carried is StorageRefused; a
        query the engine refuses (our bug) stays the engine's exception
        (storage/errors.py says which is which).
        """
        loop = asyncio.get_running_loop()
        call = functools.partial(_translated, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking storage call in the pool, its exceptions as raised: for the
        batcher, which classifies them itself to retry or split a block."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.client.close()


def _translated(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    except OpenSpannerError:
        raise
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        failure = classify(exc)
        log.warning(
            "storage call failed",
            call=getattr(fn, "__qualname__", repr(fn)),
            kind=failure.kind,
            retryable=failure.retryable,
            code=failure.code,
            error=failure.reason,
        )
        translated = client_error(failure)
        if translated is None:
            raise
        raise translated from exc
