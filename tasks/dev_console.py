"""The dev stack's one terminal: every process's lines, each with a ``[name]`` prefix."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

from tasks.logs import KeyValueFormatter

#: Lines of each process kept to show when it fails while its output goes to a file.
TAIL_LINES = 30
#: Our own lines: always on the terminal.
OURS = ("dev", "demo")


class Console:
    """One terminal shared by every process: whole lines, each with its prefix.

    With ``log_path`` (``dev --demo``, where the results are what a person
    came for) the servers' and Celery's lines go to that file instead; the
    last of them are replayed on the terminal when that process fails.
    """

    def __init__(self, stream: TextIO, log_path: Path | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.log_path = log_path
        self._log: IO[str] | None = None
        self._tails: dict[str, deque[str]] = {}

    def write(self, name: str, line: str) -> None:
        text = f"{'[' + name + ']':<10} {line}\n"
        with self._lock, contextlib.suppress(OSError, ValueError):
            if self.log_path is None or name in OURS:
                self._stream.write(text)
                self._stream.flush()
                return
            self._tails.setdefault(name, deque(maxlen=TAIL_LINES)).append(text)
            if self._log is None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_path.open("a", encoding="utf-8")
            self._log.write(text)
            self._log.flush()

    def replay(self, name: str) -> None:
        """Show the last lines of a process whose output went to the file."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            for text in self._tails.pop(name, ()):
                self._stream.write(text)
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class ConsoleHandler(logging.Handler):
    """Our own log records, as ``[dev]`` lines in the same terminal."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(KeyValueFormatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        for line in text.splitlines():
            self.console.write("dev", line)


@contextlib.contextmanager
def logs_to(console: Console) -> Iterator[None]:
    logger = logging.getLogger("tasks")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [ConsoleHandler(console)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
