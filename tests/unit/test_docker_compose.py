"""docker-compose.yml keeps ClickHouse private and has no default password."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.paths import ROOT


def test_docker_compose_publishes_no_clickhouse_port_and_has_no_default_password() -> None:
    yaml: Any = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    clickhouse, openspanner = compose["services"]["clickhouse"], compose["services"]["openspanner"]
    assert "ports" not in clickhouse
    assert clickhouse["environment"]["CLICKHOUSE_PASSWORD"] == "${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}"
    assert "${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}@clickhouse:8123" in (
        openspanner["environment"]["OPENSPANNER_CLICKHOUSE_URL"]
    )
    assert ":-" not in (ROOT / "docker-compose.yml").read_text(), "a variable with a default"
