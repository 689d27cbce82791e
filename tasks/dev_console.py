"""The dev stack's one terminal: every process's lines, each with a ``[name]`` prefix."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TextIO

from tasks.logs import KeyValueFormatter


class Console:
    """One terminal shared by every process: whole lines, each with its prefix."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, name: str, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.write(f"{'[' + name + ']':<10} {line}\n")
            self._stream.flush()


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
