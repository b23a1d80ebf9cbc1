"""Rows -> RecordUsages requests with stable batch keys.

Batch `i` always holds the file's data rows `i*size+1 .. (i+1)*size`, whatever
happened to earlier batches; rows the importer refuses are left out of the
request but keep their place. So batch boundaries depend only on the file and
`--batch-size`, which is what lets `--resume` skip batches by number.

The batch idempotency key is `import:<meter>:<source>:<i>:<sha256 of the
batch's events, 32 hex>`. Re-running the same file with the same options
gives the same requests and so the same keys: the server answers each
already-stored batch with its first answer without touching storage. The
content hash is in the key because the server refuses a key reused for a
different batch: after a change that alters events (a fixed row, another
--key template, another --batch-size) the batch simply gets a new key, and
its events are answered per event (DUPLICATE where already stored), so
nothing is counted twice either way.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from openspanner.importer.mapping import RowMapper, RowRejected
from openspanner.importer.source import Row, RowSource
from openspanner.v1 import usage_pb2

MAX_SOURCE_IN_KEY = 64


@dataclass(slots=True)
class Rejected:
    row: Row
    # The key the row got (None if it could not get one): written to the
    # rejects file so a fixed row is stored under the key it would have had.
    key: str | None
    field: str
    message: str


@dataclass(slots=True)
class Batch:
    index: int
    rows: int
    # Bytes of the input this batch spans (compressed bytes for .gz), for progress.
    input_bytes: int
    # The serialized request, ready for the wire; empty for a skipped batch.
    request: bytes = b""
    key: str = ""
    # The row of each event in the request, to report rejections by row.
    sent: list[Row] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Acknowledged by an earlier run (--resume): not sent again.
    skipped: bool = False


class BatchBuilder:
    def __init__(
        self,
        source: RowSource,
        mapper: RowMapper,
        meter: str,
        source_name: str,
        size: int,
        *,
        skip: frozenset[int] = frozenset(),
        validate_only: bool = False,
    ) -> None:
        self._source = source
        self._mapper = mapper
        self._key_prefix = f"import:{meter}:{source_name[:MAX_SOURCE_IN_KEY]}:"
        self._size = size
        self._skip = skip
        self._validate_only = validate_only
        self._bytes_seen = 0

    def __iter__(self) -> Iterator[Batch]:
        rows = self._source.rows()
        for index in itertools.count():
            chunk = list(itertools.islice(rows, self._size))
            if not chunk:
                return
            if index in self._skip:
                yield Batch(index, len(chunk), self._input_bytes(), skipped=True)
            else:
                yield self._build(index, chunk)

    def _build(self, index: int, chunk: list[Row]) -> Batch:
        request = usage_pb2.RecordUsagesRequest()
        events = request.events
        sent: list[Row] = []
        rejected: list[Rejected] = []
        add_event = self._mapper.add_event
        for row in chunk:
            try:
                add_event(row, events)
                sent.append(row)
            except RowRejected as refusal:
                rejected.append(Rejected(row, self._key_or_none(row), refusal.field, refusal.message))
        payload = request.SerializeToString(deterministic=True)
        if self._validate_only:
            head = usage_pb2.RecordUsagesRequest(validate_only=True)
            key = ""
        else:
            key = f"{self._key_prefix}{index}:{hashlib.sha256(payload).hexdigest()[:32]}"
            head = usage_pb2.RecordUsagesRequest(idempotency_key=key)
        # Protobuf fields may come in any order: the head's fields followed by
        # the events is the serialized request, without serializing it twice.
        wire = head.SerializeToString() + payload
        return Batch(index, len(chunk), self._input_bytes(), wire, key, sent, rejected)

    def _key_or_none(self, row: Row) -> str | None:
        try:
            return self._mapper.key_of(row)
        except RowRejected:
            return None

    def _input_bytes(self) -> int:
        position = self._source.bytes_read()
        span = max(position - self._bytes_seen, 0)
        self._bytes_seen = max(position, self._bytes_seen)
        return span
