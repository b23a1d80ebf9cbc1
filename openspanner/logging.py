"""structlog setup: readable on a terminal, JSON lines in production.

Data-path code binds context (meter, batch_id, stream) to its logger so every
line of one event's journey can be found with one filter.

Lines are written to stderr by a thread of their own (LogLines): written
where they are logged, each was a system call on the event loop, and the
access log writes one per call served.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from typing import TextIO

import structlog

# The writer thread writes at most this often: the first line after a write wakes it (a
# system call), the lines logged while it waits out the pause only join the queue.
WRITE_PAUSE_SECONDS = 0.005
# Lines queued past this are written by the caller itself: a stalled stderr holds the
# callers back, as a direct write would, instead of growing the queue without bound.
MAX_QUEUED_LINES = 10_000


class LogLines:
    """Log lines on their way to a stream, in the order they were logged.

    `write` queues a line; a writer thread writes what has queued, in one
    call, within a few milliseconds. `flush` writes what is queued from the
    caller's thread: at exit, and before the process writes to the stream
    itself (an error message after the lines that led to it). A line
    logged is written unless the process is killed outright.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._queued: list[str] = []
        self._queue_lock = threading.Lock()
        # Held while writing, so two flushes never write out of order.
        self._write_lock = threading.Lock()
        self._ready = threading.Event()
        threading.Thread(target=self._write_forever, name="log-writer", daemon=True).start()

    def write(self, text: str) -> int:
        with self._queue_lock:
            self._queued.append(text)
            backlog = len(self._queued)
        if backlog > MAX_QUEUED_LINES:
            self.flush()
        elif not self._ready.is_set():
            self._ready.set()
        return len(text)

    def flush(self) -> None:
        with self._write_lock:
            with self._queue_lock:
                if not self._queued:
                    return
                text = "".join(self._queued)
                self._queued.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or gone: there is nowhere left to tell

    def _write_forever(self) -> None:
        while True:
            self._ready.wait()
            time.sleep(WRITE_PAUSE_SECONDS)  # still set meanwhile: lines logged now wake no one
            self._ready.clear()
            self.flush()


class _QueuedLogger:
    """structlog's logger: each rendered line goes to LogLines, whatever its level."""

    def __init__(self, lines: LogLines) -> None:
        self._lines = lines

    def msg(self, message: str) -> None:
        self._lines.write(message + "\n")

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


_lines: LogLines | None = None


def log_lines() -> LogLines:
    """The process's queue of lines to stderr (made on first use, again if stderr was replaced)."""
    global _lines
    if _lines is None or _lines.stream is not sys.stderr:
        if _lines is not None:
            _lines.flush()
        _lines = LogLines(sys.stderr)
    return _lines


def flush_logs() -> None:
    """Write every line logged so far; call before writing to stderr directly, or exiting at once."""
    if _lines is not None:
        _lines.flush()


atexit.register(flush_logs)


def configure_logging(log_format: str = "auto", level: str = "info") -> None:
    """Configure structlog and route stdlib logging through it."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    lines = log_lines()
    logger = _QueuedLogger(lines)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if use_json else _keep_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_: logger,
        cache_logger_on_first_use=False,
    )
    # The standard library's records (other libraries') join the same queue, in order.
    handler = logging.StreamHandler(lines)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ], foreign_pre_chain=shared)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Third-party libraries speak only when something is wrong.
    root.setLevel(logging.WARNING)


def _keep_exc_info(
    logger: object, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The console renderer prints tracebacks itself; leave exc_info to it."""
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
