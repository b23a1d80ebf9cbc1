"""unique_count in plain Python: the value an event adds to a distinct count. Pure code.

Queries count distinct values in SQL (storage/queries.py `aggregate_sql`);
code that keeps usage in memory instead, such as a limit's ledger, counts
with these functions so that both agree:

- the counted value is the stored text of the meter's `unique_dimension`
  (ingest's canonical text, so the numbers 1 and 1.0 are one value);
- an event without the dimension (possible only when it is optional) counts
  among the events but adds no value;
- a window's count is the size of the set of its events' values, never a
  sum of smaller windows' counts: a user active on two days of a month is
  one user of that month. A ledger therefore keeps the set per window
  (loaded with storage's QueryStore.unique_values), and an event raises
  the count by one only when its value is not in it yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from openspanner.domain.meters import Meter


def counted_value(meter: Meter, metadata: Mapping[str, str]) -> str | None:
    """The value a stored event (dimension texts as ingest stores them) adds to its meter's distinct count."""
    return metadata.get(meter.unique_dimension) if meter.unique_dimension else None


def distinct_count(meter: Meter, events_metadata: Iterable[Mapping[str, str]]) -> float:
    """The meter's unique_count over these events: how many distinct values they carry."""
    values = {counted_value(meter, metadata) for metadata in events_metadata}
    values.discard(None)
    return float(len(values))
