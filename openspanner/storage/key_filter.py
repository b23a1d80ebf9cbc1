"""A Bloom filter of a meter's stored idempotency keys: "surely new" without a look-up.

Deciding DUPLICATE means finding a key among every key the meter retains,
which for a key sorted table costs one read per key (docs/storage.md, "Exactly
once"). Most keys of a batch are new, and the filter answers "surely not
stored" for them from memory; only the few it cannot rule out (real
resends, and ~0.03% false positives) are looked up. It works on the keys'
xxHash64, the same hash the key table sorts by.

The filter never forgets a key (expired or deleted keys only cost false
positives, which the look-up then rules out), and it grows as a scalable
Bloom filter: when a layer holds its capacity, a layer twice as large is
added. A full layer has BITS_PER_KEY bits per key (~0.03% false positives),
so memory is 4-5 bytes per key.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.uint64]

BITS_PER_KEY = 32
HASH_FUNCTIONS = 8
# A new meter's first layer (~1 MB): a growing meter adds few layers, each adding false positives.
MIN_CAPACITY = 1 << 18
# Mixes a key's hash into a second one for the bit positions (Fibonacci hashing).
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SIX_BITS = np.uint64(63)
_ONE = np.uint64(1)
_THIRTY_TWO = np.uint64(32)


class _Layer:
    """A register-blocked Bloom filter: all of a key's bits lie in one 64-bit word.

    One memory access per key to test and one to set, so testing a batch of
    20,000 keys and loading millions at start-up stay vectorized numpy work;
    it needs more bits per key than a classic Bloom filter for the same
    false-positive rate (~0.03% when full, at BITS_PER_KEY). Each false
    positive costs a point look-up in every part of the key table, which is
    what grows with history, so the filter spends memory to keep them rare.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self._word_count = np.uint64(max(1, -(-capacity * BITS_PER_KEY // 64)))
        self._words = np.zeros(int(self._word_count), dtype=np.uint64)

    def _words_of(self, hashes: Hashes) -> npt.NDArray[np.uint64]:
        """Each hash's word: its top 32 bits scaled to the word count (no rounding of the size to a power of two)."""
        return ((hashes >> _THIRTY_TWO) * self._word_count) >> _THIRTY_TWO

    def add(self, hashes: Hashes, masks: npt.NDArray[np.uint64]) -> None:
        np.bitwise_or.at(self._words, self._words_of(hashes), masks)
        self.count += len(hashes)

    def might_contain(self, hashes: Hashes, masks: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = (self._words[self._words_of(hashes)] & masks) == masks
        return result

    @property
    def nbytes(self) -> int:
        return int(self._words.nbytes)


def _bit_masks(hashes: Hashes) -> npt.NDArray[np.uint64]:
    """Each hash's HASH_FUNCTIONS bits within its word, from a remix of the hash; the same in every layer."""
    mixed = hashes * _MIX
    masks = np.zeros(len(hashes), dtype=np.uint64)
    for function in range(HASH_FUNCTIONS):
        masks |= _ONE << ((mixed >> np.uint64(6 * function)) & _SIX_BITS)
    return masks


class KeyFilter:
    """The stored keys of one meter, as a scalable Bloom filter of their hashes."""

    def __init__(self, expected_keys: int = 0) -> None:
        """Sized for `expected_keys` plus an eighth more, so keys added after loading fit in the first layer."""
        self._layers = [_Layer(max(MIN_CAPACITY, expected_keys + expected_keys // 8))]

    def add(self, hashes: Hashes) -> None:
        masks = _bit_masks(hashes)
        while len(hashes):
            layer = self._layers[-1]
            room = layer.capacity - layer.count
            if room <= 0:
                self._layers.append(_Layer(2 * layer.capacity))
                continue
            layer.add(hashes[:room], masks[:room])
            hashes, masks = hashes[room:], masks[room:]

    def might_contain(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        """False where the key is surely not stored; True where it may be."""
        masks = _bit_masks(hashes)
        found = self._layers[0].might_contain(hashes, masks)
        for layer in self._layers[1:]:
            found |= layer.might_contain(hashes, masks)
        return found

    @property
    def keys(self) -> int:
        return sum(layer.count for layer in self._layers)

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self._layers)


class CoveredBlocks:
    """The insert blocks of a table whose keys a filter already holds, per partition.

    Every INSERT into a MergeTree table gets a block number, increasing per
    partition (on a replicated table, from Keeper, the same on every
    replica), and each part names the range of blocks it holds. A filter
    that other servers' inserts may have outdated catches up by reading only
    the parts with a block it has not read: new inserts, not the merges that
    rewrite old ones. Ranges, not a maximum, because a block allocated
    earlier may commit later than a higher one.
    """

    def __init__(self) -> None:
        self._ranges: dict[str, list[tuple[int, int]]] = {}

    def covers(self, partition: str, first: int, last: int) -> bool:
        return any(lo <= first and last <= hi for lo, hi in self._ranges.get(partition, ()))

    def add(self, partition: str, first: int, last: int) -> None:
        """Mark [first, last] read, joining it with the ranges it touches."""
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted([*self._ranges.get(partition, ()), (first, last)]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._ranges[partition] = merged
