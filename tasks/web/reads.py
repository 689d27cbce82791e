"""What the dashboard's pages show, read as ``meal_scheduler_readonly``.

Each function is one page's (or one panel's) data from the read pool.
Lists are keyset-paginated: a page asks for ``limit + 1`` rows, shows
``limit`` and turns the last one shown into the next page's cursor, so the
cost of a page does not grow with how far into the list it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasks import operator as op
from tasks.db import Database, Row
from tasks.errors import DatabaseError
from tasks.settings import Settings

PAGE = 50
DEFAULT_HEARTBEAT_SECONDS = 10.0


def live_window(settings: Settings) -> float:
    """Seconds within which a worker's heartbeat makes it live: three heartbeat
    intervals (``TASKS_HEARTBEAT_SECONDS``), so one missed beat is not a death."""
    heartbeat = getattr(settings, "heartbeat_seconds", DEFAULT_HEARTBEAT_SECONDS)
    return 3 * float(heartbeat)


@dataclass(frozen=True)
class Overview:
    status: op.SchedulerStatus
    backlog: list[Row]  # priority, due (critical first)
    workers: list[Row]
    job_types: list[str]  # of enabled jobs
    unhandled: list[str]  # job types of enabled jobs that no live worker handles
    lag: Row  # n, p50_seconds, p99_seconds, max_seconds over the last 15 minutes


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: dict[str, str] | None  # query parameters of the next page


def overview(
    db: Database,
    redis_url: str,
    key_prefix: str,
    live_seconds: float,
    now: datetime | None = None,
) -> Overview:
    status = op.scheduler_status(db, redis_url=redis_url, key_prefix=key_prefix, now=now)
    workers = db.many("dashboard_workers", now=now, live_seconds=live_seconds)
    types = job_types(db, enabled_only=True)
    handled = {t for w in workers for t in w["job_types"]}
    lag = db.one("recent_dispatch_lag", now=now, minutes=15) or {}
    return Overview(
        status=status,
        backlog=db.many("backlog_by_priority", now=now),
        workers=workers,
        job_types=types,
        unhandled=[t for t in types if t not in handled],
        lag=lag,
    )


def job_types(db: Database, enabled_only: bool = False) -> list[str]:
    return [r["job_type"] for r in db.many("list_job_types", enabled_only=enabled_only)]


def _page(rows: list[Row], limit: int, cursor: Any) -> Page:
    if len(rows) <= limit:
        return Page(rows, None)
    return Page(rows[:limit], cursor(rows[limit - 1]))


def jobs(
    db: Database,
    job_type: str | None = None,
    status: str | None = None,
    user_id: int | None = None,
    enabled: bool | None = None,
    after_id: str | None = None,
    limit: int = PAGE,
) -> Page:
    rows = db.many(
        "dashboard_jobs",
        job_type=job_type,
        status=status,
        user_id=user_id,
        enabled=enabled,
        after_id=after_id,
        limit=limit + 1,
    )
    return _page(rows, limit, lambda r: {"after": r["id"]})


def _time_cursor(column: str) -> Any:
    return lambda r: {"before_at": r[column].isoformat(), "before_id": str(r["id"])}


def runs(
    db: Database,
    job_id: str | None = None,
    job_type: str | None = None,
    status: str | None = None,
    trigger_type: str | None = None,
    since: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = PAGE,
) -> Page:
    rows = db.many(
        "dashboard_runs",
        job_id=job_id,
        job_type=job_type,
        status=status,
        trigger_type=trigger_type,
        since=since,
        before_at=None if before is None else before[0],
        before_id=None if before is None else before[1],
        limit=limit + 1,
    )
    return _page(rows, limit, _time_cursor("started_at"))


def failures(
    db: Database,
    job_id: str | None = None,
    job_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = PAGE,
) -> Page:
    rows = db.many(
        "dashboard_failures",
        job_id=job_id,
        job_type=job_type,
        status=status,
        since=since,
        before_at=None if before is None else before[0],
        before_id=None if before is None else before[1],
        limit=limit + 1,
    )
    return _page(rows, limit, _time_cursor("completed_at"))


def audit(
    db: Database, target: str | None = None, before_id: int | None = None, limit: int = PAGE
) -> Page:
    rows = db.many("list_admin_actions", target=target, before_id=before_id, limit=limit + 1)
    return _page(rows, limit, lambda r: {"before_id": str(r["id"])})


@dataclass(frozen=True)
class JobPage:
    detail: op.JobDetail
    preview: op.Preview | None
    preview_error: str | None
    runs: Page
    audit: list[Row]


def job_page(
    db: Database, job_id: str, before: tuple[datetime, int] | None = None, fires: int = 10
) -> JobPage:
    detail = op.show_job(db, job_id, executions=1)
    preview: op.Preview | None = None
    error: str | None = None
    if detail.job.frequency_type != "once" or detail.job.status == "pending":
        try:
            preview = op.preview_job(db, job_id, fires)
        except DatabaseError as exc:  # a quarantined job's config no longer computes
            error = str(exc)
    return JobPage(
        detail=detail,
        preview=preview,
        preview_error=error,
        runs=runs(db, job_id=job_id, before=before, limit=20),
        audit=audit(db, target=job_id, limit=10).rows,
    )


def outcomes_per_minute(db: Database, minutes: int = 60, now: datetime | None = None) -> list[Row]:
    return db.many("outcomes_per_minute", minutes=minutes, now=now)


def lag_series(
    db: Database,
    hours: int = 6,
    bucket: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> list[Row]:
    return db.many(
        "dispatch_lag_series", hours=hours, bucket_seconds=int(bucket.total_seconds()), now=now
    )
