"""The schema's migrations on a real ClickHouse cluster, when one is given (OPENSPANNER_CLICKHOUSE_URL
and OPENSPANNER_CLICKHOUSE_CLUSTER); skipped otherwise."""

from __future__ import annotations

import os
import uuid

import clickhouse_connect
import pytest

from openspanner.storage.schema import MIGRATIONS, migrate


@pytest.mark.skipif(
    not (os.environ.get("OPENSPANNER_CLICKHOUSE_URL") and os.environ.get("OPENSPANNER_CLICKHOUSE_CLUSTER")),
    reason="needs a ClickHouse cluster: OPENSPANNER_CLICKHOUSE_URL and OPENSPANNER_CLICKHOUSE_CLUSTER",
)
def test_cluster_schema_on_a_real_cluster() -> None:
    cluster = os.environ["OPENSPANNER_CLICKHOUSE_CLUSTER"]
    database = f"test_{uuid.uuid4().hex[:12]}"
    admin = clickhouse_connect.get_client(dsn=os.environ["OPENSPANNER_CLICKHOUSE_URL"])
    admin.command(f"CREATE DATABASE {database} ON CLUSTER `{cluster}`")
    try:
        client = clickhouse_connect.get_client(dsn=os.environ["OPENSPANNER_CLICKHOUSE_URL"], database=database)
        assert migrate(client, cluster) == [m.version for m in MIGRATIONS]
        engines = dict(client.query(
            "SELECT name, engine FROM system.tables WHERE database = {db:String}", parameters={"db": database}
        ).result_rows)
        assert engines["usage_events"] == "ReplicatedReplacingMergeTree"
        assert migrate(client, cluster) == []
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database} ON CLUSTER `{cluster}` SYNC")
