"""Log formatting: constant messages, data in ``extra``, printed as key=value.

``log.info("job completed", extra={"action": "completed", "job_id": ...})``
prints ``... job completed action=completed job_id=...``. Values are
truncated so one payload cannot flood the log, and URLs are never logged
with their passwords (use :func:`safe_url`).

Values come from outside (job ids, job types, handler errors): a newline or
a terminal escape in one would forge a log line or recolour a terminal. So
control and format characters are escaped (``\n``, ``\x1b``, ``\u202e``)
in values and in the message, and a value with a space, ``=`` or ``"`` is
quoted, logfmt style. Tracebacks keep their lines.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
MAX_VALUE = 200
# C0, DEL, C1, line/paragraph separators, bidi controls and marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NEEDS_QUOTES = re.compile(r'[\s="\\]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with control and format characters written as escapes."""
    return _UNSAFE.sub(_escape_char, text)


def log_value(value: object) -> str:
    """One ``key=value`` value: escaped, truncated, quoted when needed."""
    text = str(value)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 3] + "..."
    if text == "" or _NEEDS_QUOTES.search(text) or _UNSAFE.search(text):
        text = '"' + escape(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return text


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class KeyValueFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message's arguments (a handler's error text) are outside data too.
        record.message = escape(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        if not record.name.startswith("tasks"):
            return base  # other libraries' extras are theirs to print
        pairs = []
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            pairs.append(f"{key}={log_value(value)}")
        return f"{base} {' '.join(pairs)}" if pairs else base


def configure(level: str = "INFO") -> None:
    """Attach the key=value formatter to the ``tasks`` loggers."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        KeyValueFormatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    logger = logging.getLogger("tasks")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
