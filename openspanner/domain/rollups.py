"""Which part of a usage query the hourly rollups may answer, and which part raw events must.

Pure code. Storage keeps three hourly rollups of events (docs/storage.md,
"Rollups"): per meter and UTC hour (totals), per subject and hour, and per
combination of dimension values and hour. A query may read them only where
that is exact:

- its aggregation is one of the eight the rollups keep (anything else, such
  as a distinct count, is never added up from hours: raw events answer it);
- every UTC hour lies inside one of its windows: window boundaries inside
  the range fall on whole UTC hours (so not for minute windows, nor for
  days or months of a zone 30 or 45 minutes off UTC);
- its filters and groups name only the subject and dimensions, and not both
  (no rollup keeps subjects and dimensions together);
- the hour is built, has not changed since (storage says which hours are),
  and none of its events can have expired: hours older than the meter's
  retention are read from raw events, which TTL deletes row by row.

The rest of the range (ragged ends, hours not built yet, the current hour)
is read from raw events and combined with the rollup rows in one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openspanner.domain.filters import Condition, FilterNode, Group
from openspanner.domain.meters import Aggregation
from openspanner.domain.queries import UsageQuery
from openspanner.domain.values import SUBJECT

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US

# The aggregations a rollup row can answer and combine (sum, count, min,
# max, and the first and last quantity with their time and key).
ROLLUP_AGGREGATIONS = frozenset({
    Aggregation.SUM,
    Aggregation.COUNT,
    Aggregation.AVG,
    Aggregation.MIN,
    Aggregation.MAX,
    Aggregation.FIRST,
    Aggregation.LAST,
    Aggregation.RATE,
})


class RollupLevel(StrEnum):
    """The rollup a query reads: the smallest one holding what it filters and groups by."""

    TOTALS = "totals"
    SUBJECTS = "subjects"
    DIMENSIONS = "dimensions"


@dataclass(frozen=True)
class RollupPlan:
    """The rollup to read and the hours [first_hour_us, end_hour_us) it may cover."""

    level: RollupLevel
    first_hour_us: int
    end_hour_us: int


@dataclass(frozen=True)
class Build:
    """An hour the rollups answer, and the build whose rows hold it."""

    hour_us: int
    built_as_of_ms: int


def plan_rollup(query: UsageQuery, now_us: int) -> RollupPlan | None:
    """The rollup this query may read and its span of whole hours, or None: raw events only."""
    if query.meter.aggregation not in ROLLUP_AGGREGATIONS or not _windows_hold_whole_hours(query):
        return None
    level = _level(query)
    if level is None:
        return None
    # Hours whose events none can have expired yet (an event lives
    # `event_retention_days` from its timestamp), and have ended.
    oldest = now_us - query.meter.event_retention_days * DAY_US + HOUR_US
    first = _ceil_hour(max(query.start_us, oldest))
    end = min(query.end_us, now_us) // HOUR_US * HOUR_US
    if first >= end:
        return None
    return RollupPlan(level, first, end)


def raw_ranges(query: UsageQuery, builds: list[Build]) -> list[tuple[int, int]]:
    """The parts of the query's range [start, end) that no build covers, merged, in order."""
    ranges: list[tuple[int, int]] = []
    at = query.start_us
    for build in sorted(builds, key=lambda b: b.hour_us):
        if build.hour_us > at:
            ranges.append((at, build.hour_us))
        at = max(at, build.hour_us + HOUR_US)
    if at < query.end_us:
        ranges.append((at, query.end_us))
    return ranges


def covered_ranges(builds: list[Build]) -> list[tuple[int, int]]:
    """The hours the builds cover as merged ranges [start, end), in order."""
    ranges: list[tuple[int, int]] = []
    for hour in sorted(b.hour_us for b in builds):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR_US)
        else:
            ranges.append((hour, hour + HOUR_US))
    return ranges


def _ceil_hour(us: int) -> int:
    return -(-us // HOUR_US) * HOUR_US


def _windows_hold_whole_hours(query: UsageQuery) -> bool:
    """Whether every boundary between two windows falls on a whole UTC hour."""
    for window in query.windows:
        for edge in (window.start_us, window.end_us):
            if edge not in (query.start_us, query.end_us) and edge % HOUR_US:
                return False
    return True


def _level(query: UsageQuery) -> RollupLevel | None:
    kinds = {_SUBJECT if name == SUBJECT else _DIMENSION for name in query.group_by}
    kinds.update(_SUBJECT if f.dimension == SUBJECT else _DIMENSION for f in query.filters)
    if query.subjects:
        kinds.add(_SUBJECT)
    if query.filter_tree is not None:
        kinds |= _tree_kinds(query.filter_tree)
    if _RAW_ONLY in kinds or {_SUBJECT, _DIMENSION} <= kinds:
        return None
    if _SUBJECT in kinds:
        return RollupLevel.SUBJECTS
    return RollupLevel.DIMENSIONS if _DIMENSION in kinds else RollupLevel.TOTALS


# What a filter or group reads: the subject, a dimension, or a field no rollup keeps.
_SUBJECT, _DIMENSION, _RAW_ONLY = "subject", "dimension", "raw"


def _tree_kinds(node: FilterNode) -> set[str]:
    if isinstance(node, Group):
        found: set[str] = set()
        for rule in node.rules:
            found |= _tree_kinds(rule)
        return found
    assert isinstance(node, Condition)
    if node.field.dimension is not None:
        return {_DIMENSION}
    if node.field.name == SUBJECT:
        return {_SUBJECT}
    return set() if node.field.name == "meter" else {_RAW_ONLY}
