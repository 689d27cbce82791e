"""Log formatting: constant messages, data in ``extra``, printed as key=value or JSON.

``log.info("job completed", extra={"action": "completed", "job_id": ...})``
prints ``... job completed action=completed job_id=...``. Values are
truncated so one payload cannot flood the log, and URLs are never logged
with their passwords (use :func:`safe_url`).

Values come from outside (job ids, job types, handler errors): a newline or
a terminal escape in one would forge a log line or recolour a terminal. So
control and format characters are escaped (``\n``, ``\x1b``, ``\u202e``)
in values and in the message, and a value with a space, ``=`` or ``"`` is
quoted, logfmt style. Tracebacks keep their lines.
``TASKS_LOG_FORMAT=json`` prints one JSON object per line instead, Celery's
own lines included. While a worker runs an attempt, every line it logs
(ours, the handler's, Celery's "Task ... succeeded") carries the attempt's
``job_id``, ``dispatch_id``, ``job_type`` and, once started,
``execution_id``: :func:`bind_job` puts them in a context variable that
:class:`JobContextFilter` copies onto each record.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
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


JOB_FIELDS = ("job_id", "execution_id", "job_type", "dispatch_id", "task_id")
_UNNAMED_BY_CELERY = ("job_id", "execution_id")  # its task lines show type and dispatch
_DISPATCH_TASK_ID = re.compile(r"^dispatch-(\d+)$")
# Celery's task names that are not a job type (the unshadowed task, maintenance).
_NOT_JOB_TYPES = ("meal_scheduler.", "celery.")

_job: ContextVar[dict[str, Any] | None] = ContextVar("meal_scheduler_job", default=None)


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


def bind_job(**fields: Any) -> None:
    """Add attempt fields (``job_id``, ``execution_id``, ...) to every later log line."""
    current = _job.get()
    _job.set({**(current or {}), **{k: v for k, v in fields.items() if v is not None}})


def clear_job() -> None:
    _job.set(None)


def _truncate(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


class JobContextFilter(logging.Filter):
    """Copies the bound attempt fields onto each record (on a handler: every logger).

    Celery's own task lines carry the task in ``record.data``; their task id
    (``dispatch-<id>``) and shadow name (the job type) are used when no
    attempt is bound, as in the worker's main process ("Task ... received").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_job.get() or {})
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            task_id = data.get("id")
            if isinstance(task_id, str):
                fields.setdefault("task_id", task_id)
                match = _DISPATCH_TASK_ID.match(task_id)
                if match:
                    fields.setdefault("dispatch_id", int(match[1]))
            name = data.get("name")
            if isinstance(name, str) and not name.startswith(_NOT_JOB_TYPES):
                fields.setdefault("job_type", name)
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class KeyValueFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message's arguments (a handler's error text) are outside data too.
        record.message = escape(record.message)
        line = super().formatMessage(record)
        # On the message's line, before any traceback. Other libraries'
        # extras are theirs to print; their lines written while an attempt
        # runs (Celery's "Task ... succeeded") get the ids their message
        # does not name.
        ours = record.name.startswith("tasks")
        pairs = [
            f"{key}={log_value(value)}"
            for key, value in vars(record).items()
            if not (key in _STANDARD or key.startswith("_")) and (ours or key in _UNNAMED_BY_CELERY)
        ]
        return f"{line} {' '.join(pairs)}" if pairs else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, fields.

    Fields are our ``extra`` values and the attempt's (see
    :class:`JobContextFilter`); other libraries' extras are left out, except
    the attempt fields derived from them. A traceback is one string.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        ours = record.name.startswith("tasks")
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key in entry:
                continue
            if key in JOB_FIELDS:
                entry[key] = value if isinstance(value, int) else _truncate(value)
            elif ours:
                entry[key] = (
                    value
                    if isinstance(value, (int, float, bool)) or value is None
                    else _truncate(value)
                )
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        return json.dumps(entry, default=str)


def formatter(log_format: str, fmt: str | None = None) -> logging.Formatter:
    """The formatter for ``TASKS_LOG_FORMAT`` (``text`` uses ``fmt``)."""
    return JsonFormatter() if log_format == "json" else KeyValueFormatter(fmt)


def use_format(logger: logging.Logger, log_format: str, fmt: str | None = None) -> None:
    """Format every handler of ``logger`` and add the attempt fields to its records."""
    for handler in logger.handlers:
        handler.setFormatter(formatter(log_format, fmt))
        if not any(isinstance(f, JobContextFilter) for f in handler.filters):
            handler.addFilter(JobContextFilter())


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Attach the key=value (or JSON) formatter to the ``tasks`` loggers."""
    handler = logging.StreamHandler()
    logger = logging.getLogger("tasks")
    logger.handlers[:] = [handler]
    use_format(
        logger, log_format, "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    logger.setLevel(level)
    logger.propagate = False
