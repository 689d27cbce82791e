"""Typed calls to the SQL functions; each has the name of the query it runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.db import Database, Row
from tasks.errors import HandlerError
from tasks.ids import DispatchId, DispatchKey, ExecutionId, JobId, UserId
from tasks.models import ClaimedJob, Reaped, StartedExecution


def _claimed(rows: list[Any]) -> list[ClaimedJob]:
    return [
        ClaimedJob(
            job_id=JobId(r["job_id"]),
            job_type=r["job_type"],
            priority=r["priority"],
            dispatch_id=DispatchId(r["dispatch_id"]),
            dispatch_key=DispatchKey(r["dispatch_key"]),
            trigger_type=r["trigger_type"],
            scheduled_for=r["scheduled_for"],
            timeout_seconds=r["timeout_seconds"],
        )
        for r in rows
    ]


def claim_due_jobs(db: Database, limit: int, now: datetime | None = None) -> list[ClaimedJob]:
    return _claimed(db.many("claim_due_jobs", limit=limit, now=now))


def republish_queued(db: Database, now: datetime | None = None) -> list[ClaimedJob]:
    """Every queued claim, under its existing dispatch id (Redis lost the messages)."""
    return _claimed(db.many("republish_queued", now=now))


def database_uptime(db: Database) -> timedelta:
    row = db.one("database_uptime")
    assert row is not None
    uptime: timedelta = row["uptime"]
    return uptime


def release_claims(db: Database, dispatch_ids: Sequence[DispatchId]) -> int:
    row = db.one("release_claims", dispatch_ids=list(dispatch_ids))
    return int(row["released"]) if row else 0


def start_execution(
    db: Database,
    job_id: JobId,
    dispatch_id: DispatchId,
    dispatch_key: DispatchKey | None,
    worker: str,
    celery_task_id: str,
    lease_seconds: int,
    now: datetime | None = None,
    timeout_seconds: int | None = None,
) -> StartedExecution | None:
    """Start the attempt if the job is still queued under ``dispatch_id`` and
    ``dispatch_key`` is that claim's key.

    ``timeout_seconds`` is the time limit the worker enforces (from the
    message), recorded as the execution's deadline.
    """
    row = db.one(
        "start_execution",
        job_id=job_id,
        dispatch_id=dispatch_id,
        dispatch_key=dispatch_key,
        worker=worker,
        celery_task_id=celery_task_id,
        lease_seconds=lease_seconds,
        now=now,
        timeout_seconds=timeout_seconds,
    )
    return None if row is None else _started(job_id, row)


def complete_and_start(
    db: Database,
    done_execution_id: ExecutionId,
    done_dispatch_key: DispatchKey | None,
    output_json: str | None,
    job_id: JobId,
    dispatch_id: DispatchId,
    dispatch_key: DispatchKey | None,
    worker: str,
    celery_task_id: str,
    lease_seconds: int,
    timeout_seconds: int | None = None,
) -> tuple[bool, StartedExecution | None]:
    """complete_execution, then start_execution, in one statement and one commit.

    Returns whether the completion was recorded and the started execution
    (None: a duplicate or stale message), as the two calls alone would.
    """
    row = db.one(
        "complete_and_start",
        done_execution_id=done_execution_id,
        done_dispatch_key=done_dispatch_key,
        output=output_json,
        job_id=job_id,
        dispatch_id=dispatch_id,
        dispatch_key=dispatch_key,
        worker=worker,
        celery_task_id=celery_task_id,
        lease_seconds=lease_seconds,
        timeout_seconds=timeout_seconds,
    )
    assert row is not None  # the completion's row is always there
    started = None if row["execution_id"] is None else _started(job_id, row)
    return bool(row["recorded"]), started


def _started(job_id: JobId, row: Row) -> StartedExecution:
    return StartedExecution(
        execution_id=ExecutionId(row["execution_id"]),
        job_id=job_id,
        job_type=row["job_type"],
        user_id=None if row["user_id"] is None else UserId(row["user_id"]),
        parameters=row["parameters"] or {},
        attempt_number=row["attempt_number"],
        trigger_type=row["trigger_type"],
        parent_job_id=row["parent_job_id"],
        timeout_seconds=row["timeout_seconds"],
        scheduled_for=row["scheduled_for"],
    )


def encode_output(output: Any) -> str | None:
    """JSON text of a handler's output; anything else is a HandlerError."""
    if output is None:
        return None
    if not isinstance(output, dict):
        raise HandlerError(f"handler output must be a dict or None, got {type(output).__name__}")
    try:
        return json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HandlerError(f"handler output is not JSON: {exc}") from exc


def complete_execution(
    db: Database,
    execution_id: ExecutionId,
    dispatch_key: DispatchKey | None,
    output_json: str | None,
    now: datetime | None = None,
) -> bool:
    row = db.one(
        "complete_execution",
        execution_id=execution_id,
        dispatch_key=dispatch_key,
        output=output_json,
        now=now,
    )
    return bool(row and row["recorded"])


def fail_execution(
    db: Database,
    execution_id: ExecutionId,
    dispatch_key: DispatchKey | None,
    error: str,
    final: bool = False,
    now: datetime | None = None,
) -> bool:
    row = db.one(
        "fail_execution",
        execution_id=execution_id,
        dispatch_key=dispatch_key,
        error=error,
        final=final,
        now=now,
    )
    return bool(row and row["recorded"])


def renew_leases(
    db: Database,
    held: Mapping[ExecutionId, DispatchKey | None],
    lease_seconds: int,
    now: datetime | None = None,
) -> list[ExecutionId]:
    """Renew each held execution's lease (with its message's dispatch key)."""
    ids = sorted(held)
    rows = db.many(
        "renew_leases",
        execution_ids=ids,
        dispatch_keys=[held[i] for i in ids],
        lease_seconds=lease_seconds,
        now=now,
    )
    return [ExecutionId(r["lost"]) for r in rows]


def reap_expired(db: Database, limit: int = 500, now: datetime | None = None) -> list[Reaped]:
    rows = db.many("reap_expired", now=now, limit=limit)
    return [Reaped(r["kind"], JobId(r["job_id"]), r["execution_id"]) for r in rows]


def prune_executions(
    db: Database,
    older_than_days: int,
    keep_per_job: int,
    batch: int,
    after: tuple[datetime, int] | None = None,
    now: datetime | None = None,
) -> tuple[int, tuple[datetime, int] | None]:
    """One bounded pruning step: (rows deleted, cursor to continue from or None)."""
    after_at, after_id = after if after is not None else (None, 0)
    row = db.one(
        "prune_executions",
        older_than_days=older_than_days,
        keep_per_job=keep_per_job,
        batch=batch,
        after_at=after_at or datetime.min.replace(tzinfo=UTC),
        after_id=after_id,
        now=now,
    )
    if row is None:
        return 0, None
    cursor = None if row["next_id"] is None else (row["next_at"], int(row["next_id"]))
    return int(row["deleted"]), cursor


def next_due_at(db: Database) -> tuple[datetime | None, datetime]:
    """(earliest pending job's scheduled_for or None, the database's now)."""
    row = db.one("next_due_at")
    assert row is not None
    return row["next_due_at"], row["db_now"]
