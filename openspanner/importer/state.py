"""The resume state: which batches of a file the server has acknowledged.

Kept beside the input as `<file>.import-state`, one JSON line per
acknowledged batch after a header line that pins what the batches mean (the
file's SHA-256, the meter, the batch size, the mapping options). A line is
appended and flushed only after the batch's answer arrived and its rejected
rows were written, so a batch named here is acknowledged; a crash can at most
lose the last line, and that batch is then sent again and answered from the
server's first answer. Appending never rewrites what a crash could damage.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from openspanner.errors import ConfigError

STATE_SUFFIX = ".import-state"
VERSION = 1


@dataclass(frozen=True)
class StateHeader:
    file_sha256: str
    meter: str
    batch_size: int
    # Hash of everything else that shapes the events (columns, key template, source, ...).
    options_sha256: str
    version: int = VERSION


@dataclass(frozen=True)
class BatchCounts:
    rows: int
    accepted: int
    duplicates: int
    rejected: int


class ImportState:
    def __init__(self, path: Path, stream: TextIO, acknowledged: dict[int, BatchCounts]) -> None:
        self.path = path
        self._stream = stream
        self.acknowledged = acknowledged

    @classmethod
    def open(cls, path: Path, header: StateHeader, resume: bool) -> ImportState:
        """Start a new state, or with `resume` continue the one at `path` if it is for the same import."""
        acknowledged: dict[int, BatchCounts] = {}
        if resume and path.exists():
            acknowledged = _read(path, header)
            stream = path.open("a", encoding="utf-8")
        else:
            stream = path.open("w", encoding="utf-8")
            stream.write(json.dumps(asdict(header)) + "\n")
            stream.flush()
        return cls(path, stream, acknowledged)

    def record(self, index: int, counts: BatchCounts) -> None:
        self.acknowledged[index] = counts
        self._stream.write(json.dumps({"batch": index, **asdict(counts)}) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def options_sha256(options: dict[str, Any]) -> str:
    """Hash of JSON-able options; anything else is refused rather than hashed by an unstable repr."""
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()


def _read(path: Path, expected: StateHeader) -> dict[int, BatchCounts]:
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = StateHeader(**json.loads(lines[0]))
    except (IndexError, ValueError, TypeError):
        raise ConfigError(f"{path}: not an import state file; remove it to start over") from None
    if header != expected:
        changed = [name for name, value in asdict(expected).items() if asdict(header)[name] != value]
        raise ConfigError(
            f"{path} is for another import ({', '.join(changed)} differ): run without --resume"
            " to start over (already stored events are answered DUPLICATE)"
        )
    acknowledged: dict[int, BatchCounts] = {}
    for line in lines[1:]:
        try:
            item = json.loads(line)
            index = int(item.pop("batch"))
            acknowledged[index] = BatchCounts(**item)
        except (ValueError, TypeError, KeyError):
            continue  # a line cut short by a crash: that batch is simply sent again
    return acknowledged
