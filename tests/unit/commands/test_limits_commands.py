"""`plans create --limit` specs, `consume --metadata` values and how a quota is printed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openspanner.commands.entitlements import format_quota, parse_metadata
from openspanner.commands.plans import parse_limit
from openspanner.errors import ConfigError


def test_limit_specs() -> None:
    assert parse_limit("api:1000") == {"meter": "api", "limit": 1000.0}
    assert parse_limit("api:2.5:week") == {"meter": "api", "limit": 2.5, "period": "week"}
    assert parse_limit("api:10::hard") == {"meter": "api", "limit": 10.0, "enforcement": "hard"}
    for wrong in ("api", ":10", "api:ten", "api:1:day:hard:extra"):
        with pytest.raises(ConfigError, match="--limit"):
            parse_limit(wrong)


def test_metadata_values_keep_their_type() -> None:
    assert parse_metadata(["region=eu", "cached=true", "tokens=12.5", "tag=nan", "empty="]) == {
        "region": "eu", "cached": True, "tokens": 12.5, "tag": "nan", "empty": "",
    }
    with pytest.raises(ConfigError, match="--metadata"):
        parse_metadata(["region"])


def test_a_quota_prints_as_one_row_and_its_message() -> None:
    quota = {
        "allowed": False, "state": "exceeded", "current": 10.0, "quantity": 1.0, "limit": 10.0, "remaining": 0.0,
        "plan_name": "pro", "period": "month", "window_end": datetime(2026, 7, 1, 0, 0, 0, 500, tzinfo=UTC),
        "message": "quota would be exceeded",
    }
    header, row, message = format_quota(quota).splitlines()
    assert header.split() == [
        "ALLOWED", "STATE", "CURRENT", "QUANTITY", "LIMIT", "REMAINING", "PLAN", "PERIOD", "RESETS",
    ]
    assert row.split() == ["false", "exceeded", "10", "1", "10", "0", "pro", "month", "2026-07-01T00:00:00Z"]
    assert message == "quota would be exceeded"
    no_plan = format_quota({**quota, "state": "no_plan", "plan_name": "", "period": None, "window_end": None})
    assert no_plan.splitlines()[1].split()[-3:] == ["-", "-", "-"]
