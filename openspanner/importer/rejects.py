"""The rejects file: refused rows, as they were, plus why; fix and import it again.

Written in the input's format (uncompressed), with every original column,
the idempotency key the row got (so a fixed row is stored under the key it
would have had, never twice), and three more columns the importer ignores on
the way back in: `_reject_row` (position in the original file),
`_reject_field` and `_reject_reason`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from openspanner.importer.batches import Rejected
from openspanner.importer.source import Format

REASON_COLUMNS = ("_reject_row", "_reject_field", "_reject_reason")


class RejectsFile:
    """Opened on the first rejected row, so a clean import leaves no empty file."""

    def __init__(self, path: Path, fmt: Format, header: list[str] | None, key_column: str) -> None:
        self.path = path
        self._format = fmt
        self._key_column = key_column
        columns = list(header or [])
        if key_column not in columns:
            columns.append(key_column)
        self._columns = [c for c in columns if c not in REASON_COLUMNS] + list(REASON_COLUMNS)
        self._stream: IO[str] | None = None
        self._csv: Any = None
        self.count = 0

    def keep_only(self, keep: Callable[[int], bool]) -> None:
        """On --resume: keep the rows of acknowledged batches, drop any a crash left of the others."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", newline="") as old:
            records: Any = (
                csv.DictReader(old) if self._format is Format.CSV else (json.loads(x) for x in old if x.strip())
            )
            kept = [record for record in records if keep(_position(record) or 0)]
        self.path.unlink()
        for record in kept:
            self._write(record)

    def add(self, rejected: Rejected) -> None:
        record = dict(rejected.row.fields)
        if rejected.key and not record.get(self._key_column):
            record[self._key_column] = rejected.key
        record["_reject_row"] = rejected.row.position
        record["_reject_field"] = rejected.field
        record["_reject_reason"] = rejected.message
        self._write(record)

    def flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()
            os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def _write(self, record: dict[str, Any]) -> None:
        if self._stream is None:
            self._open()
        assert self._stream is not None
        if self._format is Format.CSV:
            self._csv.writerow(record)
        else:
            self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def _open(self) -> None:
        self._stream = self.path.open("w", encoding="utf-8", newline="")
        if self._format is Format.CSV:
            self._csv = csv.DictWriter(self._stream, self._columns, extrasaction="ignore")
            self._csv.writeheader()


def default_rejects_path(input_path: str, stem: str, fmt: Format) -> Path:
    """`usage.jsonl.gz` -> `usage.rejects.jsonl` beside it; stdin -> `./stdin.rejects.<fmt>`."""
    folder = Path(".") if input_path == "-" else Path(input_path).parent
    return folder / f"{stem}.rejects.{fmt.value}"


def _position(record: dict[str, Any]) -> int | None:
    try:
        return int(record["_reject_row"])
    except (KeyError, TypeError, ValueError):
        return None
