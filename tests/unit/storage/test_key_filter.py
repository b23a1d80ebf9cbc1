"""The key filter never calls a stored key new, and rules out nearly every new one.

A false "surely new" would double count, so that property is tested with
hypothesis over arbitrary hashes and layer growth; the false-positive rate
only costs look-ups, and is checked against its documented bound.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openspanner.storage.key_filter import MIN_CAPACITY, CoveredBlocks, KeyFilter

hashes_64 = st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=500)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(hashes_64, max_size=8), expected=st.integers(min_value=0, max_value=5000))
def test_every_added_hash_may_be_contained(batches: list[list[int]], expected: int) -> None:
    key_filter = KeyFilter(expected_keys=expected)
    added: list[int] = []
    for batch in batches:
        key_filter.add(np.array(batch, dtype=np.uint64))
        added.extend(batch)
        assert key_filter.might_contain(np.array(added, dtype=np.uint64)).all()
    assert key_filter.keys == len(added)


def test_growing_past_its_capacity_keeps_every_key_and_a_low_false_positive_rate() -> None:
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 2**64, size=4 * MIN_CAPACITY, dtype=np.uint64, endpoint=False)
    key_filter = KeyFilter()
    for chunk in np.array_split(stored, 40):
        key_filter.add(chunk)
    assert key_filter.might_contain(stored).all()
    new = rng.integers(0, 2**64, size=200_000, dtype=np.uint64, endpoint=False)
    assert key_filter.might_contain(new).mean() < 0.003  # three layers, each ~0.04% at capacity
    sized = KeyFilter(expected_keys=len(stored))
    sized.add(stored)
    assert sized.might_contain(stored).all()
    assert sized.might_contain(new).mean() < 0.004


def test_memory_is_a_few_bytes_per_key() -> None:
    key_filter = KeyFilter(expected_keys=1_000_000)
    assert key_filter.nbytes <= 1_000_000 * 2 * 64 // 8  # at most 64 bits per expected key, rounding up to 2^n


def test_covered_blocks_join_ranges_and_see_a_late_lower_block() -> None:
    covered = CoveredBlocks()
    covered.add("all", 1, 5)
    covered.add("all", 7, 7)
    assert covered.covers("all", 1, 5) and covered.covers("all", 7, 7)
    assert not covered.covers("all", 1, 7), "block 6 committed late has not been read"
    assert not covered.covers("other", 1, 1)
    covered.add("all", 6, 6)
    assert covered.covers("all", 1, 7)  # a merge of blocks 1-7 is skipped
    assert not covered.covers("all", 1, 8)
