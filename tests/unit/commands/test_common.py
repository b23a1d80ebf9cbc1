"""The command line's relative and absolute times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openspanner.commands.common import join_relative_times, parse_time
from openspanner.errors import ConfigError


def test_times_on_the_command_line() -> None:
    now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    assert parse_time("now", now, "--to") == now
    assert parse_time("-90m", now, "--from") == now - timedelta(minutes=90)
    assert parse_time("-7d", now, "--from") == now - timedelta(days=7)
    assert parse_time("2026-06-01T00:00:00+02:00", now, "--from") == datetime(2026, 5, 31, 22, tzinfo=UTC)
    with pytest.raises(ConfigError, match="no offset"):
        parse_time("2026-06-01T00:00:00", now, "--from")
    assert join_relative_times(["usage", "m", "--from", "-24h", "--to", "-1h", "--subject", "-x"]) == [
        "usage", "m", "--from=-24h", "--to=-1h", "--subject", "-x"
    ]
