"""Log formatting: constant messages, data in ``extra``, printed as key=value.

``log.info("job completed", extra={"action": "completed", "job_id": ...})``
prints ``... job completed action=completed job_id=...``. Values are
truncated so one payload cannot flood the log, and URLs are never logged
with their passwords (use :func:`safe_url`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
MAX_VALUE = 200


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
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        if not record.name.startswith("tasks"):
            return base  # other libraries' extras are theirs to print
        pairs = []
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            text = str(value)
            if len(text) > MAX_VALUE:
                text = text[: MAX_VALUE - 3] + "..."
            pairs.append(f"{key}={text}")
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
