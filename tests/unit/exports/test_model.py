"""The version of an export job's row decides which of two racing writes holds (exports/model.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openspanner.exports.model import Rank, version_of

AT = datetime(2026, 6, 19, 12, tzinfo=UTC)


def test_a_cancel_outranks_progress_written_after_it() -> None:
    canceled = version_of(1, Rank.CANCELED, AT)
    late_progress = version_of(1, Rank.PROGRESS, AT + timedelta(hours=1))
    late_completion = version_of(1, Rank.FINAL, AT + timedelta(hours=1))
    assert canceled > late_completion > late_progress


def test_a_retry_outranks_every_row_of_the_runs_before() -> None:
    retried = version_of(2, Rank.PROGRESS, AT)
    assert retried > version_of(1, Rank.CANCELED, AT + timedelta(days=365))


def test_within_a_rank_the_later_write_wins() -> None:
    assert version_of(3, Rank.PROGRESS, AT + timedelta(milliseconds=1)) > version_of(3, Rank.PROGRESS, AT)


def test_a_run_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        version_of(0, Rank.PROGRESS, AT)
    with pytest.raises(ValueError):
        version_of(1 << 21, Rank.PROGRESS, AT)
