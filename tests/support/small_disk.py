"""A small tmpfs for storage to fill up, so the embedded engine itself fails inserts.

Mounting needs root (as on our machines and CI); elsewhere the tests that take
the fixture are skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self._filler = root / "filler"

    def fill(self) -> None:
        """Take every free byte, so ClickHouse cannot reserve space for a part."""
        with open(self._filler, "ab", buffering=0) as filler:
            for chunk in (1 << 20, 4096):
                try:
                    while True:
                        filler.write(b"\0" * chunk)
                except OSError:
                    continue

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
