"""What the importer tells a person: a live bar on a terminal, log lines otherwise, a summary.

The bar advances by input bytes acknowledged (the only total known before
reading the whole file, compressed or not), so its ETA is honest for large
files; rows/s counts rows this run has sent, not ones skipped by --resume.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn


@dataclass
class Tally:
    rows: int = 0  # rows this run has finished: answered by the server or refused by the importer
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped_rows: int = 0  # rows of batches acknowledged by an earlier run (--resume)
    skipped_batches: int = 0
    batches: int = 0
    input_bytes: int = 0  # input bytes of finished and skipped batches
    skipped_input_bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed


@dataclass(frozen=True)
class Summary:
    source: str
    meter: str
    tally: Tally
    elapsed: float
    dry_run: bool
    rejects_path: Path | None
    rejects_total: int
    state_path: Path | None


class Reporter(Protocol):
    def start(self, total_bytes: int | None) -> None: ...
    def update(self, tally: Tally) -> None: ...
    def stop(self, tally: Tally) -> None: ...


class BarReporter:
    """rich's progress bar on stderr, for a person watching a terminal."""

    def __init__(self) -> None:
        # Fits an 80-column terminal with seven-digit counts.
        self._progress = Progress(
            BarColumn(bar_width=16),
            TaskProgressColumn(),
            TextColumn(
                "{task.fields[rows]:,} rows {task.fields[rate]:,.0f}/s [green]ok {task.fields[accepted]:,}[/]"
                " [yellow]dup {task.fields[duplicates]:,}[/] [red]rej {task.fields[rejected]:,}[/]"
            ),
            TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total_bytes: int | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            "import", total=total_bytes, rows=0, rate=0.0, accepted=0, duplicates=0, rejected=0
        )

    def update(self, tally: Tally) -> None:
        if self._task is None:
            return
        self._progress.update(
            self._task,
            completed=tally.input_bytes,
            rows=tally.rows + tally.skipped_rows,
            rate=tally.rows_per_second,
            accepted=tally.accepted,
            duplicates=tally.duplicates,
            rejected=tally.rejected,
        )

    def stop(self, tally: Tally) -> None:
        self.update(tally)
        self._progress.stop()


class LogReporter:
    """A plain line every few seconds, for CI logs and redirected output."""

    def __init__(self, stream: TextIO = sys.stderr, interval: float = 5.0) -> None:
        self._stream = stream
        self._interval = interval
        self._total: int | None = None
        self._last = 0.0

    def start(self, total_bytes: int | None) -> None:
        self._total = total_bytes
        self._last = time.monotonic()

    def update(self, tally: Tally) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            print(self.line(tally), file=self._stream, flush=True)

    def stop(self, tally: Tally) -> None:
        return None  # the summary follows

    def line(self, tally: Tally) -> str:
        text = (
            f"import: {tally.rows + tally.skipped_rows:,} rows, {tally.rows_per_second:,.0f} rows/s,"
            f" accepted {tally.accepted:,}, duplicate {tally.duplicates:,}, rejected {tally.rejected:,}"
        )
        if self._total:
            done = tally.input_bytes / self._total
            text += f", {done:.0%}"
            this_run = tally.input_bytes - tally.skipped_input_bytes
            if 0 < done < 1 and this_run:
                eta = tally.elapsed * (self._total - tally.input_bytes) / this_run
                text += f", ETA {eta:,.0f}s"
        return text


class SilentReporter:
    def start(self, total_bytes: int | None) -> None:
        return None

    def update(self, tally: Tally) -> None:
        return None

    def stop(self, tally: Tally) -> None:
        return None


def reporter_for(mode: str, stream: TextIO = sys.stderr) -> Reporter:
    """`auto`: a bar when stderr is a terminal, log lines otherwise."""
    if mode == "auto":
        mode = "bar" if stream.isatty() else "log"
    if mode == "bar":
        return BarReporter()
    if mode == "log":
        return LogReporter(stream)
    return SilentReporter()


def format_summary(summary: Summary) -> str:
    t = summary.tally
    verb = "checked (dry run, nothing stored)" if summary.dry_run else "imported"
    words = ("would be accepted", "already stored", "would be rejected") if summary.dry_run else (
        "accepted", "duplicates", "rejected"
    )
    lines = [
        f"{verb} {summary.source} into meter {summary.meter} in {summary.elapsed:.1f}s"
        f" ({t.rows / max(summary.elapsed, 1e-9):,.0f} rows/s)",
        f"  {'rows':<20}{t.rows:>14,}",
        f"  {words[0]:<20}{t.accepted:>14,}",
        f"  {words[1]:<20}{t.duplicates:>14,}",
        f"  {words[2]:<20}{t.rejected:>14,}",
    ]
    if t.skipped_batches:
        lines.append(
            f"  {'skipped (--resume)':<20}{t.skipped_rows:>14,}  rows of {t.skipped_batches:,} batches"
            " acknowledged by an earlier run"
        )
    if summary.rejects_total and summary.rejects_path:
        lines.append(f"  rejected rows and reasons: {summary.rejects_path} ({summary.rejects_total:,} rows)")
    if summary.state_path:
        lines.append(f"  resume state: {summary.state_path}")
    return "\n".join(lines)
