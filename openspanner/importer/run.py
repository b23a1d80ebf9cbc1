"""One import, assembled: read -> map -> batch -> send (several in flight) -> record.

Batches are built in a worker thread (parsing is the importer's CPU work)
while up to `concurrency` earlier batches are on the wire. A batch counts as
done only after its answer arrived, its rejected rows are in the rejects
file, and the state file names it, in that order: so --resume never skips a
batch whose rejects could be missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from openspanner.errors import ConfigError
from openspanner.importer.batches import Batch, BatchBuilder, Rejected
from openspanner.importer.keys import KeyTemplate
from openspanner.importer.mapping import ColumnMap, RowMapper
from openspanner.importer.progress import Reporter, Summary, Tally
from openspanner.importer.rejects import RejectsFile, default_rejects_path
from openspanner.importer.send import UsageSender
from openspanner.importer.source import STDIN, Format, RowSource, open_source, source_stem
from openspanner.importer.state import (
    STATE_SUFFIX,
    BatchCounts,
    ImportState,
    StateHeader,
    file_sha256,
    options_sha256,
)
from openspanner.v1 import meter_pb2, usage_pb2

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class ImportOptions:
    path: str
    meter: str
    server: str
    api_key: str
    key_template: str | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    format: Format | None = None
    source: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    resume: bool = False
    dry_run: bool = False
    rejects_path: Path | None = None

    def check(self) -> None:
        """Refuse combinations that cannot work, before connecting."""
        if self.resume and self.path == STDIN:
            raise ConfigError("--resume needs a file: its state is kept beside the file")
        if self.resume and self.dry_run:
            raise ConfigError("--dry-run stores nothing, so there is nothing to resume")
        if not 1 <= self.batch_size <= 50_000:
            raise ConfigError("--batch-size must be 1..50000 (the server's max_bulk_events)")
        if not 1 <= self.concurrency <= 64:
            raise ConfigError("--concurrency must be 1..64")


async def run_import(options: ImportOptions, reporter: Reporter) -> Summary:
    options.check()
    template = KeyTemplate(options.key_template) if options.key_template else None
    sender = UsageSender(options.server, options.api_key)
    try:
        meter = await sender.get_meter(options.meter)
        source = open_source(options.path, options.format)
        try:
            return await _Import(options, meter, template, sender, source, reporter).run()
        finally:
            source.close()
    finally:
        await sender.close()


class _Import:
    def __init__(
        self,
        options: ImportOptions,
        meter: meter_pb2.Meter,
        template: KeyTemplate | None,
        sender: UsageSender,
        source: RowSource,
        reporter: Reporter,
    ) -> None:
        self._options = options
        self._sender = sender
        self._source = source
        self._reporter = reporter
        self._stem = options.source or source_stem(options.path)
        self._mapper = RowMapper(meter, options.columns, template, self._stem, source.format is Format.CSV)
        self._check_keys(template)
        self._state = self._open_state()
        self._rejects = self._open_rejects()
        self._tally = Tally()

    def _check_keys(self, template: KeyTemplate | None) -> None:
        """Refuse to start when rows cannot get an idempotency key."""
        if self._source.header is not None:
            self._mapper.check_header(self._source.header)
            return
        first = self._source.first_row()
        key_column = self._options.columns.key
        if template is None and first is not None and not first.error and not first.fields.get(key_column):
            raise ConfigError(
                f"the first row has no {key_column!r}: pass --key TEMPLATE"
                " (e.g. --key '{source}:{subject}:{meter}:{row_id}') or --key-column NAME"
            )

    def _open_state(self) -> ImportState | None:
        options = self._options
        if options.dry_run or options.path == STDIN:
            return None
        header = StateHeader(
            file_sha256=file_sha256(Path(options.path)),
            meter=options.meter,
            batch_size=options.batch_size,
            options_sha256=options_sha256({
                # Sets sorted: their order changes between processes (hash randomization).
                "columns": {**options.columns.__dict__, "ignore": sorted(options.columns.ignore)},
                "key": options.key_template,
                "source": self._stem,
                "format": self._source.format.value,
            }),
        )
        return ImportState.open(Path(options.path + STATE_SUFFIX), header, options.resume)

    def _open_rejects(self) -> RejectsFile:
        options = self._options
        path = options.rejects_path or default_rejects_path(options.path, self._stem, self._source.format)
        rejects = RejectsFile(path, self._source.format, self._source.header, options.columns.key)
        if self._state is not None and options.resume:
            done = self._state.acknowledged
            rejects.keep_only(lambda position: (position - 1) // options.batch_size in done)
        elif path.exists():
            path.unlink()  # rejects of an earlier run would mislead
        return rejects

    async def run(self) -> Summary:
        skip = frozenset(self._state.acknowledged) if self._state else frozenset()
        builder = BatchBuilder(
            self._source, self._mapper, self._options.meter, self._stem, self._options.batch_size,
            skip=skip, validate_only=self._options.dry_run,
        )
        total = None if self._options.path == STDIN else Path(self._options.path).stat().st_size
        self._reporter.start(total)
        try:
            await self._send_all(builder)
        finally:
            self._reporter.stop(self._tally)
            self._rejects.close()
            if self._state:
                self._state.close()
        return Summary(
            source=self._source.name,
            meter=self._options.meter,
            tally=self._tally,
            elapsed=self._tally.elapsed,
            dry_run=self._options.dry_run,
            rejects_path=self._rejects.path if self._rejects.count else None,
            rejects_total=self._rejects.count,
            state_path=self._state.path if self._state else None,
        )

    async def _send_all(self, builder: BatchBuilder) -> None:
        batches = iter(builder)
        in_flight = asyncio.Semaphore(self._options.concurrency)
        unreadable: ConfigError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    try:
                        batch = await asyncio.to_thread(next, batches, None)
                    except (ConfigError, OSError, EOFError) as error:
                        # Stop reading, but let the batches on the wire be answered
                        # and recorded, so --resume after the fix skips them.
                        unreadable = error if isinstance(error, ConfigError) else ConfigError(
                            f"{self._source.name}: cannot read on: {error}"
                        )
                        break
                    if batch is None:
                        break
                    if batch.skipped:
                        self._count_skipped(batch)
                        continue
                    await in_flight.acquire()
                    group.create_task(self._send(batch, in_flight))
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        if unreadable is not None:
            raise unreadable

    async def _send(self, batch: Batch, in_flight: asyncio.Semaphore) -> None:
        try:
            response = await self._sender.record(batch.request)
        finally:
            in_flight.release()
        rejected = batch.rejected + _server_rejections(batch, response)
        for item in sorted(rejected, key=lambda r: r.row.position):
            self._rejects.add(item)
        self._rejects.flush()
        counts = BatchCounts(batch.rows, response.accepted, response.duplicates, len(rejected))
        if self._state is not None:
            self._state.record(batch.index, counts)
        self._count(batch, counts)

    def _count(self, batch: Batch, counts: BatchCounts) -> None:
        tally = self._tally
        tally.rows += counts.rows
        tally.accepted += counts.accepted
        tally.duplicates += counts.duplicates
        tally.rejected += counts.rejected
        tally.batches += 1
        tally.input_bytes += batch.input_bytes
        self._reporter.update(tally)

    def _count_skipped(self, batch: Batch) -> None:
        tally = self._tally
        tally.skipped_rows += batch.rows
        tally.skipped_batches += 1
        tally.input_bytes += batch.input_bytes
        tally.skipped_input_bytes += batch.input_bytes
        self._reporter.update(tally)


def _server_rejections(batch: Batch, response: usage_pb2.RecordUsagesResponse) -> list[Rejected]:
    if not response.rejected:
        return []
    return [
        Rejected(batch.sent[result.index], result.idempotency_key, result.rejection.field, result.rejection.message)
        for result in response.results
        if result.outcome == usage_pb2.REJECTED
    ]
