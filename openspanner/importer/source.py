"""Reading rows: JSON Lines or CSV, plain or gzip, from a file or stdin.

A row is a dict of column name -> value (CSV values are text; JSON values
keep their JSON type) and a position: the row's number among the file's data
rows, starting at 1 (a CSV header and blank JSONL lines are not counted).
The position is what `{row_id}` means in key templates, so it depends only
on the file's content, never on how the import ran.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from openspanner.errors import ConfigError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
# Column under which a line that is not a JSON object is kept in the rejects file.
RAW_LINE_COLUMN = "_reject_line"


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(slots=True)
class Row:
    position: int
    fields: dict[str, Any]
    # Set when the row could not be read at all (bad JSON, wrong column count).
    error: str = ""


class RowSource:
    """An open input: its format, its CSV header (if any), and its rows."""

    def __init__(self, name: str, raw: BinaryIO, fmt: Format, compressed: bool) -> None:
        self.name = name
        self.format = fmt
        self.compressed = compressed
        self._raw = raw
        self._data: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        self._text: io.TextIOWrapper | None = None
        self.header: list[str] | None = None
        if fmt is Format.CSV:
            self._text = io.TextIOWrapper(self._data, encoding="utf-8-sig", newline="")
            self._csv = csv.reader(self._text)
            self.header = next(self._csv, None)
            if not self.header:
                raise ConfigError(f"{name}: a CSV file needs a header row naming its columns")
        self._pending: list[Row] = []
        self._rows = self._csv_rows() if fmt is Format.CSV else self._jsonl_rows()

    def bytes_read(self) -> int:
        """How far into the input (compressed bytes for .gz) reading has got; for progress."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def rows(self) -> Iterator[Row]:
        """Every row once, in file order (the one `first_row` looked at included)."""
        yield from self._pending
        self._pending = []
        yield from self._rows

    def first_row(self) -> Row | None:
        """The first row, without consuming it: to refuse a bad import before sending anything."""
        if not self._pending:
            row = next(self._rows, None)
            if row is None:
                return None
            self._pending.append(row)
        return self._pending[0]

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def _jsonl_rows(self) -> Iterator[Row]:
        position = 0
        loads = json.loads
        for line in self._data:
            if not line.strip():
                continue
            position += 1
            try:
                fields = loads(line)
            except ValueError as error:
                yield Row(position, {RAW_LINE_COLUMN: _text(line)}, f"is not valid JSON: {error}")
                continue
            if isinstance(fields, dict):
                yield Row(position, fields)
            else:
                yield Row(position, {RAW_LINE_COLUMN: _text(line)}, "is not a JSON object")

    def _csv_rows(self) -> Iterator[Row]:
        assert self.header is not None
        header = self.header
        width = len(header)
        position = 0
        values_read = iter(self._csv)
        while True:
            try:
                values = next(values_read, None)
            except (UnicodeDecodeError, csv.Error) as error:
                # The reader cannot go on past such a spot, so the import stops
                # here, after the batches already sent are answered.
                raise ConfigError(f"{self.name}: unreadable CSV after data row {position}: {error}") from None
            if values is None:
                return
            if not values:
                continue
            position += 1
            if len(values) != width:
                yield Row(position, dict(zip(header, values, strict=False)),
                          f"has {len(values)} columns, the header has {width}")
            else:
                yield Row(position, dict(zip(header, values, strict=True)))


def open_source(path: str, fmt: Format | None) -> RowSource:
    """Open `path` (or stdin for "-"); gzip is recognised by its magic bytes, the format by suffix or content."""
    if path == STDIN:
        raw: BinaryIO = sys.stdin.buffer
        name = "stdin"
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by RowSource.close
        except OSError as error:
            raise ConfigError(f"{path}: {error.strerror}") from None
        name = path
    head = _peek(raw, 2)
    compressed = head[:2] == GZIP_MAGIC
    chosen = fmt or _format_from_suffix(path) or _format_from_content(raw, compressed)
    return RowSource(name, raw, chosen, compressed)


def source_stem(path: str) -> str:
    """The file name without folders and without .gz/.jsonl/.csv: the default `{source}`."""
    if path == STDIN:
        return "stdin"
    name = Path(path).name
    for suffix in (".gz", *JSONL_SUFFIXES, ".csv"):
        name = name.removesuffix(suffix)
    return name or "import"


def _format_from_suffix(path: str) -> Format | None:
    name = path.lower().removesuffix(".gz")
    if name.endswith(JSONL_SUFFIXES):
        return Format.JSONL
    if name.endswith(".csv"):
        return Format.CSV
    return None


def _format_from_content(raw: BinaryIO, compressed: bool) -> Format:
    """JSON Lines if the first non-blank character is '{', else CSV (stdin, unknown suffixes)."""
    head = _peek(raw, 4096)
    if compressed:
        try:
            head = zlib.decompressobj(wbits=31).decompress(head)
        except zlib.error:
            head = b""
    return Format.JSONL if head.lstrip().startswith(b"{") else Format.CSV


def _peek(raw: BinaryIO, size: int) -> bytes:
    peek = getattr(raw, "peek", None)
    if peek is None:
        raise ConfigError("input must be a readable file or pipe")
    data: bytes = peek(size)
    return data[:size]


def _text(line: bytes) -> str:
    return codecs.decode(line, "utf-8", "replace").rstrip("\r\n")
