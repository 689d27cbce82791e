"""Helpers every meal-planner handler uses: its database, its user, its time.

The reference time of a run is the occurrence it belongs to, not the moment
it happens to run: a retry of Thursday's 23:58 advisor that runs at 00:02
still reports on Thursday. ``scheduled_for`` is that occurrence for a
scheduled run; a retry moves ``scheduled_for`` (the backoff) but not the
job's ``occurrence_at``, so a retry reads that instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tasks.db import Database, Session
from tasks.errors import HandlerError, describe
from tasks.handlers import JobContext

MAX_ERROR_CHARS = 500  # per error kept in a job's output


def short_error(exc: BaseException) -> str:
    """An exception as one short line for a job's output."""
    return describe(exc, MAX_ERROR_CHARS)


def database_now(db: Database | Session) -> datetime:
    """Postgres's clock: the one time every job and function agrees on."""
    row = db.one("database_now")
    assert row is not None
    return row["now"]  # type: ignore[no-any-return]


def require_db(ctx: JobContext) -> Database:
    if ctx.db is None:
        raise HandlerError(f"{ctx.job_type}: JobContext.db is not set")
    return ctx.db


def job_user_id(ctx: JobContext) -> int:
    """The job's user: the row's user_id, else parameters["user_id"]."""
    if ctx.user_id is not None:
        return int(ctx.user_id)
    raw = ctx.parameters.get("user_id")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise HandlerError(f"{ctx.job_type} needs a user: set user_id or parameters.user_id")
    try:
        return int(raw)
    except ValueError as exc:
        raise HandlerError(f"parameters.user_id must be an integer, got {raw!r}") from exc


def reference_time(ctx: JobContext, db: Database) -> datetime:
    """The instant this run stands for (see the module docstring)."""
    if ctx.trigger_type == "retry":
        row = db.one("job_occurrence", job_id=ctx.job_id)
        occurrence = row["occurrence_at"] if row else None
        if occurrence is not None and (
            ctx.scheduled_for is None or occurrence <= ctx.scheduled_for
        ):
            return occurrence  # type: ignore[no-any-return]
    if ctx.scheduled_for is not None:
        return ctx.scheduled_for
    return database_now(db)


def planning_context(ctx: JobContext) -> tuple[Database, int, Mapping[str, Any] | None]:
    """The run's database, its user and that user's ``user_planning_context`` row
    as of the run's reference time (None: the user does not exist)."""
    db = require_db(ctx)
    user_id = job_user_id(ctx)
    return db, user_id, db.one("user_planning_context", user_id=user_id, at=reference_time(ctx, db))


def param_int(params: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise HandlerError(f"parameters.{name} must be an integer {lo}-{hi}, got {raw!r}")
    return raw


def param_date(params: Mapping[str, Any], name: str) -> date | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise HandlerError(f"parameters.{name} must be a date YYYY-MM-DD, got {raw!r}") from exc


def num(value: object) -> float:
    """A numeric column as float; NULL is 0."""
    if value is None:
        return 0.0
    if isinstance(value, Decimal | int | float):
        return float(value)
    raise TypeError(f"not a number: {value!r}")
