"""Execution history as an operator reads it (``runs list``, ``runs show``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tasks.db import Database
from tasks.errors import NotFound
from tasks.ids import ExecutionStatus
from tasks.operator.jobs import job_not_found
from tasks.operator.parsing import resolve_instant
from tasks.operator.rows import Execution, execution_from_row


def list_runs(
    db: Database,
    job_id: str | None = None,
    status: ExecutionStatus | None = None,
    since: datetime | timedelta | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Execution]:
    """Execution history, newest first; ``since`` is an instant or a time ago."""
    if job_id is not None and db.one("get_job", job_id=job_id) is None:
        raise job_not_found(job_id)
    after = since if isinstance(since, datetime) else None
    if after is not None:
        after = resolve_instant(db, after, None)
    rows = db.many(
        "list_runs",
        execution_id=None,
        job_id=job_id,
        status=status,
        since=after,
        within=since if isinstance(since, timedelta) else None,
        now=now,
        limit=limit,
    )
    return [execution_from_row(r) for r in rows]


def get_run(db: Database, execution_id: int) -> Execution:
    """One execution, with its output (a completed run) or its error."""
    rows = db.many(
        "list_runs",
        execution_id=execution_id,
        job_id=None,
        status=None,
        since=None,
        within=None,
        now=None,
        limit=1,
    )
    row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no execution {execution_id} (see python -m tasks runs list)")
    return execution_from_row(row)
