"""The schema's two forms: one server (embedded or not), and a replicated cluster.

The single-server form runs in every other test. The cluster form needs a
ClickHouse cluster with Keeper, which our machines do not have: these tests
check the statements it sends, and `test_cluster_schema_on_a_real_cluster`
runs it when OPENSPANNER_CLICKHOUSE_URL and OPENSPANNER_CLICKHOUSE_CLUSTER
name one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openspanner.config import load_settings
from openspanner.errors import ConfigError
from openspanner.storage import schema
from openspanner.storage.schema import MIGRATIONS, MIGRATIONS_TABLE_DDL, Migration, migrate, render
from tests.harness import storage_at

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


def test_small_event_parts_are_packed_and_an_optional_migration_this_engine_refuses_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lacking = Migration(98, "a setting this engine lacks", ("ALTER TABLE usage_events MODIFY SETTING no_such = 1",),
                        optional_merge_tree_setting="no_such_setting")
    refused = Migration(99, "a statement this engine refuses",
                        ("ALTER TABLE no_such_table MODIFY SETTING min_bytes_for_full_part_storage = 1",),
                        optional_merge_tree_setting="min_bytes_for_full_part_storage")
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS, lacking, refused))
    with storage_at(tmp_path, "schema") as client:
        assert migrate(client) == [m.version for m in MIGRATIONS]
        assert migrate(client) == []  # tried again, skipped again, never recorded
        recorded = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
        assert {98, 99}.isdisjoint(recorded) and 6 in recorded
        client.command(
            "INSERT INTO usage_events (meter, idempotency_key, subject, timestamp) VALUES ('m', 'k', 's', now())"
        )
        storage = client.query(
            "SELECT table, part_storage_type FROM system.parts WHERE database = currentDatabase() AND active"
            " AND table IN ('usage_events', 'event_identities', 'idempotency_keys') ORDER BY table"
        ).result_rows
        assert storage == [("event_identities", "Packed"), ("idempotency_keys", "Packed"), ("usage_events", "Packed")]
