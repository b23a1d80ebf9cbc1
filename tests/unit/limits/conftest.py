from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.limits.in_process import storage_client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Storage of a limits service in this process (in_process.run)."""
    yield from storage_client(tmp_path_factory)
