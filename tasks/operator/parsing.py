"""Operator input: JSON, ISO times and durations, checked before any query runs.

Times without an offset are wall-clock times in the job's zone (its config's
``timezone``, else the scheduler's), converted by Postgres with the
scheduler's own DST rules (:func:`resolve_instant`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Protocol

from tasks.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Queries(Protocol):
    """A Database or a Session (inside a transaction)."""

    def one(self, name: str, /, **params: Any) -> dict[str, Any] | None: ...
    def many(self, name: str, /, **params: Any) -> list[dict[str, Any]]: ...
    def exec(self, name: str, /, **params: Any) -> None: ...


def parse_json(name: str, text: str) -> Any:
    """``text`` as JSON, or a ConfigError naming ``name`` (e.g. ``--config``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from exc


def parse_time(name: str, text: str) -> datetime:
    """An ISO 8601 time; without an offset it is a wall-clock time (see module doc)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be an ISO time such as 2026-03-08T06:00 or "
            f"2026-03-08T06:00:00+01:00, got {text!r}"
        ) from exc


def parse_since(name: str, text: str) -> datetime | timedelta:
    """``24h``, ``90m``, ``7d``, ``2w``, ``30s`` (ago), or an ISO time."""
    match = _DURATION.match(text)
    if match:
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be a duration such as 24h, 90m, 7d or an ISO time, got {text!r}"
        ) from exc


def to_json(value: Any) -> str | None:
    """A query parameter: ``value`` as JSON text, None kept as SQL NULL."""
    return None if value is None else json.dumps(value)


def resolve_instant(q: Queries, at: datetime, config: Any) -> datetime:
    """``at`` as an instant; a wall-clock time is placed in ``config``'s zone by Postgres."""
    if at.tzinfo is not None:
        return at
    row = q.one("resolve_local_time", local_at=at, config=to_json(config))
    assert row is not None
    result: datetime = row["at"]
    return result
