"""The time ranges a duplicate look-up reads cover every event of the batch, split at the widest gaps.

`_time_ranges` is the look-up's only guard against reading a month of history
for a batch that spans it, and it must never leave an event outside every
range (a stored event outside would be counted twice). Hypothesis draws
batches of times in batch order: ascending runs (one per message), repeated
times, and gaps just under, at and over a second, plus far backfills.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.storage.events import MAX_LOOKUP_RANGES, MIN_LOOKUP_GAP_US, _time_ranges

STEPS = st.sampled_from([0, 1, 14, MIN_LOOKUP_GAP_US - 1, MIN_LOOKUP_GAP_US, MIN_LOOKUP_GAP_US + 1, 86_400_000_000])


@st.composite
def batches(draw: st.DrawFn) -> list[int]:
    """Times as a batch holds them: one ascending run per message, messages in any order."""
    runs = []
    for _ in range(draw(st.integers(1, 12))):
        start = draw(st.integers(1_700_000_000_000_000, 1_800_000_000_000_000))
        steps = draw(st.lists(STEPS, max_size=30))
        runs.append(list(itertools.accumulate(steps, initial=start)))
    return [time for run in draw(st.permutations(runs)) for time in run]


@settings(max_examples=400, deadline=None)
@given(batches())
def test_ranges_cover_every_time_and_split_only_at_the_widest_gaps(times: list[int]) -> None:
    ranges = _time_ranges(times)

    assert 1 <= len(ranges) <= MAX_LOOKUP_RANGES
    assert all(first <= last for first, last in ranges)
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(ranges))
    distinct = set(times)
    assert all(first in distinct and last in distinct for first, last in ranges)
    assert all(any(first <= time <= last for first, last in ranges) for time in times)

    ordered = sorted(distinct)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    split = [later[0] - earlier[1] for earlier, later in itertools.pairwise(ranges)]
    kept = sorted(gaps)[: len(gaps) - len(split)]  # the gaps inside ranges, if the splits are the widest
    assert sorted(split) == sorted(gaps)[len(gaps) - len(split) :]
    assert all(gap > MIN_LOOKUP_GAP_US for gap in split)
    if len(ranges) < MAX_LOOKUP_RANGES:
        assert all(gap <= MIN_LOOKUP_GAP_US for gap in kept)


def test_a_batch_within_a_second_is_one_range_from_its_first_to_its_last_time() -> None:
    assert _time_ranges([5_000_123, 4_000_200, 4_500_000, 5_000_123]) == [(4_000_200, 5_000_123)]
