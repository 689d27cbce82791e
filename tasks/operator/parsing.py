"""Operator input: JSON, ISO times and durations, checked before any query runs.

Times without an offset are wall-clock times in the job's zone (its config's
``timezone``, else the scheduler's), converted by Postgres with the
scheduler's own DST rules (:func:`resolve_instant`).
"""

from __future__ import annotations

import argparse
import json
import math
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


# Integers beyond 2^53 lose precision in most JSON readers (RFC 7493, I-JSON).
MAX_JSON_INT = 2**53
# Ids and job types, as 006_security checks them in Postgres.
MAX_ID_CHARS = 200
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_JOB_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


def _no_duplicate_keys(name: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise ConfigError(f"{name} has the key {key!r} twice")
            found[key] = value
        return found

    return hook


def _refuse_constant(name: str) -> Any:
    def hook(constant: str) -> Any:
        raise ConfigError(f"{name}: {constant} is not a JSON number")

    return hook


def _check_values(name: str, value: Any, path: str) -> None:
    """NUL (Postgres cannot store it), non-finite or oversized numbers, named by path."""
    where = f"{name} {path}" if path else name
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{where} contains a NUL character (\\u0000)")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > MAX_JSON_INT:
            raise ConfigError(f"{where} is out of range: {value} (at most 2^53 in magnitude)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} is not a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ConfigError(f"{where} has a key with a NUL character (\\u0000)")
            _check_values(name, item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(name, item, f"{path}[{i}]")


def parse_json(name: str, text: str) -> Any:
    """``text`` as JSON, or a ConfigError naming ``name`` (e.g. ``--config``).

    Stricter than ``json.loads``: a key given twice (``{"hours": 500,
    "hours": 2}`` would silently keep the last), NaN and Infinity, numbers
    that overflow (``1e400``), integers beyond 2^53 and NUL characters are
    refused, with the field that holds them.
    """
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys(name),
            parse_constant=_refuse_constant(name),
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from exc
    _check_values(name, value, "")
    return value


def check_text_id(name: str, value: str) -> str:
    """A job id: 1-200 characters, none of them a control character."""
    if not value.strip():
        raise ConfigError(f"{name} must not be empty")
    if len(value) > MAX_ID_CHARS:
        raise ConfigError(f"{name} must be at most {MAX_ID_CHARS} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise ConfigError(f"{name} must not contain control characters, got {value!r}")
    return value


def check_job_type(name: str, value: str) -> str:
    """A job type (also a Celery task name): 1-100 of A-Z a-z 0-9 _ . : -."""
    if not _JOB_TYPE.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ConfigError(
            f"{name} must be 1-100 characters of A-Z a-z 0-9 _ . : - starting with a letter"
            f" or digit, got {shown!r}"
        )
    return value


def int_between(low: int, high: int) -> Any:
    """An argparse ``type``: an integer in [low, high]; argparse names the option."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}-{high}, got {value}")
        return value

    return parse


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
