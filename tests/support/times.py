"""Times the storage tests build their rows around."""

from __future__ import annotations

import time

HOUR_US = 3600 * 1_000_000


def start_of_this_hour_us() -> int:
    """Rows at this hour fall inside any meter's retention and one partition."""
    return time.time_ns() // 1000 // HOUR_US * HOUR_US
