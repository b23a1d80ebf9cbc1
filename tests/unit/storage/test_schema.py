"""The schema's two forms: one server (embedded or not), and a replicated cluster.

The single-server form runs in every other test. The cluster form needs a
ClickHouse cluster with Keeper, which our machines do not have: these tests
check the statements it sends, and `test_cluster_schema_on_a_real_cluster`
runs it when OPENSPANNER_CLICKHOUSE_URL and OPENSPANNER_CLICKHOUSE_CLUSTER
name one.
"""

from __future__ import annotations

import re

import pytest

from openspanner.config import load_settings
from openspanner.errors import ConfigError
from openspanner.storage.schema import MIGRATIONS, MIGRATIONS_TABLE_DDL, render

STATEMENTS = [MIGRATIONS_TABLE_DDL, *(s for m in MIGRATIONS for s in m.statements)]


def test_single_server_statements_have_no_cluster_parts() -> None:
    for statement in STATEMENTS:
        rendered = render(statement, None)
        assert "<" not in rendered and "ON CLUSTER" not in rendered and "Replicated" not in rendered, rendered


def test_cluster_statements_create_every_table_on_the_cluster_replicated() -> None:
    for statement in STATEMENTS:
        rendered = render(statement, "metering")
        assert "<" not in rendered, rendered
        on_cluster = re.search(
            r"(CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS|ALTER TABLE|DROP (TABLE|VIEW) IF EXISTS)"
            r" \w+ ON CLUSTER `metering`(\s|$)",
            rendered,
        )
        # Rows a migration copies are inserted on one replica; ClickHouse replicates them.
        assert on_cluster or rendered.lstrip().startswith("INSERT INTO"), rendered
        engine = re.search(r"ENGINE = (\w+)", rendered)
        assert engine is None or engine.group(1) == "ReplicatedReplacingMergeTree", rendered


def test_cluster_needs_a_clickhouse_server() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(clickhouse_cluster="metering")
    assert "OPENSPANNER_CLICKHOUSE_CLUSTER needs OPENSPANNER_CLICKHOUSE_URL" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_settings(clickhouse_url="http://localhost:8123", clickhouse_cluster="a b")
    assert "OPENSPANNER_CLICKHOUSE_CLUSTER: must contain only letters, digits, _ and -" in str(caught.value)
