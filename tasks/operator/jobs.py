"""Jobs as an operator changes them: list, show, add, edit, trigger, enable, remove.

A change is one statement or one transaction, so a refused change (Postgres
names the bad field, e.g. ``frequency_config.day must be an integer 0-6 (0 =
Sunday), got 9``) leaves nothing behind. Postgres validates the values; this
module only checks what needs no database (self-dependencies, empty changes)
and decides which rows to touch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from tasks.db import Database
from tasks.errors import ConfigError, Conflict, InvalidTransition, NotFound
from tasks.ids import FrequencyType, JobId, JobStatus, Priority
from tasks.operator.parsing import (
    Queries,
    check_job_type,
    check_text_id,
    resolve_instant,
    to_json,
)
from tasks.operator.rows import Job, JobDetail, Removed, execution_from_row, job_from_row

log = logging.getLogger(__name__)


def job_not_found(job_id: str) -> NotFound:
    return NotFound(f'job "{job_id}" does not exist')


def _lock(q: Queries, job_id: str) -> Job:
    row = q.one("lock_job", job_id=job_id)
    if row is None:
        raise job_not_found(job_id)
    return job_from_row(row)


def list_jobs(
    db: Database,
    status: JobStatus | None = None,
    job_type: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
) -> list[Job]:
    rows = db.many("list_jobs", status=status, job_type=job_type, user_id=user_id, limit=limit)
    return [job_from_row(r) for r in rows]


def get_job(db: Database, job_id: str) -> Job:
    row = db.one("get_job", job_id=job_id)
    if row is None:
        raise job_not_found(job_id)
    return job_from_row(row)


def show_job(db: Database, job_id: str, executions: int = 10) -> JobDetail:
    with db.transaction() as tx:  # one snapshot for the job and its history
        row = tx.one("get_job", job_id=job_id)
        if row is None:
            raise job_not_found(job_id)
        edges = tx.many("get_job_dependencies", job_id=job_id)
        runs = tx.many(
            "list_runs",
            execution_id=None,
            job_id=job_id,
            status=None,
            since=None,
            within=None,
            now=None,
            limit=executions,
        )
    return JobDetail(
        job=job_from_row(row),
        runs_after=tuple(JobId(e["parent_job_id"]) for e in edges if e["child_job_id"] == job_id),
        then=tuple(JobId(e["child_job_id"]) for e in edges if e["parent_job_id"] == job_id),
        executions=tuple(execution_from_row(r) for r in runs),
    )


@dataclass(frozen=True)
class NewJob:
    job_id: str
    job_type: str
    frequency_type: FrequencyType
    config: Any  # decoded JSON; Postgres checks it is an object with the right keys
    priority: Priority = "medium"
    at: datetime | None = None  # None: the first occurrence after now (once: now)
    user_id: int | None = None
    parameters: Any = field(default_factory=dict)
    max_retries: int | None = None
    timeout_seconds: int | None = None
    enabled: bool = True
    then: Sequence[str] = ()  # children to run after this job completes


def add_job(db: Database, spec: NewJob, now: datetime | None = None) -> Job:
    check_text_id("id", spec.job_id)
    check_job_type("--type", spec.job_type)
    children = tuple(dict.fromkeys(spec.then))
    if spec.job_id in children:
        raise ConfigError(f'job "{spec.job_id}" cannot run after itself')
    with db.transaction() as tx:
        if spec.user_id is not None and tx.one("find_user", user_id=spec.user_id) is None:
            raise NotFound(f"user_id {spec.user_id} does not exist")
        found = {r["id"] for r in tx.many("find_jobs", job_ids=list(children))}
        missing = [c for c in children if c not in found]
        if missing:
            raise NotFound(f'then: job "{missing[0]}" does not exist')
        try:
            row = tx.one(
                "add_job",
                job_id=spec.job_id,
                job_type=spec.job_type,
                frequency_type=spec.frequency_type,
                config=to_json(spec.config),
                priority=spec.priority,
                enabled=spec.enabled,
                user_id=spec.user_id,
                parameters=to_json(spec.parameters),
                max_retries=spec.max_retries,
                timeout_seconds=spec.timeout_seconds,
                scheduled_for=(
                    None if spec.at is None else resolve_instant(tx, spec.at, spec.config)
                ),
                now=now,
            )
        except Conflict as exc:
            raise Conflict(f'job "{spec.job_id}" already exists') from exc
        for child in children:
            tx.exec("add_job_dependency", parent_job_id=spec.job_id, child_job_id=child)
    assert row is not None
    log.info("job added", extra={"action": "job_added", "job_id": spec.job_id})
    return job_from_row(row)


@dataclass(frozen=True)
class JobChanges:
    """None leaves a field as it is."""

    frequency_type: FrequencyType | None = None
    config: Any = None
    priority: Priority | None = None
    parameters: Any = None
    at: datetime | None = None
    max_retries: int | None = None
    timeout_seconds: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def edit_job(db: Database, job_id: str, changes: JobChanges, now: datetime | None = None) -> Job:
    """Change a job; a new config on a pending recurring job moves its next run."""
    if changes.is_empty():
        raise ConfigError("nothing to change")
    with db.transaction() as tx:
        job = _lock(tx, job_id)
        if changes.at is not None and job.status != "pending":
            raise InvalidTransition(
                f'job "{job_id}" is {job.status}: only a pending job can be given a new time'
            )
        frequency = job.frequency_type if changes.frequency_type is None else changes.frequency_type
        new_schedule = changes.config is not None or changes.frequency_type is not None
        reschedule = changes.at is not None or (
            new_schedule and job.status == "pending" and frequency != "once"
        )
        config = job.frequency_config if changes.config is None else changes.config
        row = tx.one(
            "edit_job",
            job_id=job_id,
            frequency_type=changes.frequency_type,
            config=to_json(changes.config),
            priority=changes.priority,
            parameters=to_json(changes.parameters),
            max_retries=changes.max_retries,
            timeout_seconds=changes.timeout_seconds,
            reschedule=reschedule,
            scheduled_for=None if changes.at is None else resolve_instant(tx, changes.at, config),
            now=now,
        )
    assert row is not None
    log.info("job edited", extra={"action": "job_edited", "job_id": job_id})
    return job_from_row(row)


def trigger_job(db: Database, job_id: str, now: datetime | None = None) -> Job:
    """Run now, recorded as ``manual``; the regular schedule is unchanged."""
    with db.transaction() as tx:
        tx.exec("trigger_job", job_id=job_id, now=now)
        row = tx.one("get_job", job_id=job_id)
    assert row is not None
    log.info("job triggered", extra={"action": "job_triggered", "job_id": job_id})
    return job_from_row(row)


def set_job_enabled(db: Database, job_id: str, enabled: bool) -> Job:
    row = db.one("set_job_enabled", job_id=job_id, enabled=enabled)
    if row is None:
        raise job_not_found(job_id)
    log.info(
        "job enabled" if enabled else "job disabled",
        extra={"action": "job_enabled" if enabled else "job_disabled", "job_id": job_id},
    )
    return job_from_row(row)


def remove_job(db: Database, job_id: str) -> Removed:
    """Delete a job with its history; a running job is refused (its worker still reports)."""
    with db.transaction() as tx:
        job = _lock(tx, job_id)
        if job.status == "running":
            raise InvalidTransition(
                f'job "{job_id}" is running: wait for it to finish (disable it to stop new runs)'
            )
        count = tx.one("count_job_executions", job_id=job_id)
        tx.exec("remove_job", job_id=job_id)
    log.info("job removed", extra={"action": "job_removed", "job_id": job_id})
    return Removed(job=job, executions=int(count["executions"]) if count else 0)


def count_job_executions(db: Database, job_id: str) -> int:
    row = db.one("count_job_executions", job_id=job_id)
    return int(row["executions"]) if row else 0
