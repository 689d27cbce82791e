"""What an operator does to jobs, runs and the scheduler; ``tasks.cli`` prints it.

Every function takes a :class:`~tasks.db.Database` and returns frozen rows.
A change is one statement or one transaction, so a refused change (Postgres
names the bad field, e.g. ``frequency_config.day must be an integer 0-6 (0 =
Sunday), got 9``) leaves nothing behind. Postgres validates the values; this
module only checks what needs no database (JSON syntax, empty changes) and
decides which rows to touch.

Times without an offset are wall-clock times in the job's zone (its config's
``timezone``, else the scheduler's), converted by Postgres with the
scheduler's own DST rules.

Trade-off: the beat lock is read from Redis on a best-effort basis (one
second timeouts). Postgres is the source of truth, so ``scheduler status``
still answers, with ``unknown`` for the beat, when Redis is unset or down.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from tasks.db import Database
from tasks.errors import ConfigError, Conflict, InvalidTransition, NotFound
from tasks.ids import (
    ExecutionStatus,
    FrequencyType,
    JobId,
    JobStatus,
    Priority,
    TriggerType,
    UserId,
)

log = logging.getLogger(__name__)

MAX_PREVIEW = 1000
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class _Queries(Protocol):
    """A Database or a Session (inside a transaction)."""

    def one(self, name: str, /, **params: Any) -> dict[str, Any] | None: ...
    def many(self, name: str, /, **params: Any) -> list[dict[str, Any]]: ...
    def exec(self, name: str, /, **params: Any) -> None: ...


# ---------------------------------------------------------------- input


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
    except ValueError:
        raise ConfigError(
            f"{name} must be an ISO time such as 2026-03-08T06:00 or "
            f"2026-03-08T06:00:00+01:00, got {text!r}"
        ) from None


def parse_since(name: str, text: str) -> datetime | timedelta:
    """``24h``, ``90m``, ``7d``, ``2w``, ``30s`` (ago), or an ISO time."""
    match = _DURATION.match(text)
    if match:
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be a duration such as 24h, 90m, 7d or an ISO time, got {text!r}"
        ) from None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _instant(q: _Queries, at: datetime, config: Any) -> datetime:
    if at.tzinfo is not None:
        return at
    row = q.one("resolve_local_time", local_at=at, config=_json(config))
    assert row is not None
    result: datetime = row["at"]
    return result


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class Job:
    id: JobId
    job_type: str
    frequency_type: FrequencyType
    frequency_config: Mapping[str, Any]
    priority: Priority
    status: JobStatus
    enabled: bool
    user_id: UserId | None
    parameters: Mapping[str, Any]
    scheduled_for: datetime
    occurrence_at: datetime
    next_trigger: TriggerType
    started_at: datetime | None
    completed_at: datetime | None
    error_count: int
    max_retries: int | None  # None: the scheduler's max_retries
    last_error: str | None
    timeout_seconds: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Execution:
    id: int
    job_id: JobId
    job_type: str
    status: ExecutionStatus
    trigger_type: TriggerType
    attempt_number: int
    parent_job_id: JobId | None
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    worker: str | None
    error_message: str | None
    output: Mapping[str, Any] | None
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class JobDetail:
    job: Job
    runs_after: tuple[JobId, ...]  # parents: their completion makes this job due
    then: tuple[JobId, ...]  # children: made due when this job completes
    executions: tuple[Execution, ...]  # newest first


@dataclass(frozen=True)
class Removed:
    job: Job
    executions: int  # history deleted with it


@dataclass(frozen=True)
class Fire:
    n: int
    at: datetime  # the instant (UTC)
    local: datetime  # wall-clock time in the zone, with its UTC offset
    utc_offset: timedelta
    note: str  # DST shifts, offset changes, a retry/manual run


@dataclass(frozen=True)
class Preview:
    zone: str
    fires: tuple[Fire, ...]


@dataclass(frozen=True)
class SchedulerConfig:
    enabled: bool
    max_concurrent_jobs: int
    timezone: str
    max_retries: int
    retry_base_seconds: int
    queue_timeout_seconds: int
    updated_at: datetime


@dataclass(frozen=True)
class ConfigUpdate:
    config: SchedulerConfig
    rescheduled: int  # pending daily/weekly jobs moved to the new zone


@dataclass(frozen=True)
class BeatLock:
    state: Literal["held", "free", "unknown"]
    ttl: timedelta | None  # time left on the lock while held
    detail: str


@dataclass(frozen=True)
class SchedulerStatus:
    checked_at: datetime
    config: SchedulerConfig
    queued: int
    running: int
    due: int  # pending, enabled, scheduled_for <= now: waiting for a slot or a tick
    oldest_due_at: datetime | None
    oldest_due_lag: timedelta | None
    failures_24h: int  # failed + abandoned executions
    expired_leases: int  # running executions the reaper should close
    beat: BeatLock

    @property
    def active(self) -> int:
        return self.queued + self.running


def _pick(cls: type[Any], row: Mapping[str, Any]) -> Any:
    return cls(**{f.name: row[f.name] for f in fields(cls)})


def _job(row: Mapping[str, Any]) -> Job:
    job: Job = _pick(Job, row)
    return job


def _execution(row: Mapping[str, Any]) -> Execution:
    execution: Execution = _pick(Execution, row)
    return execution


def _config(row: Mapping[str, Any]) -> SchedulerConfig:
    config: SchedulerConfig = _pick(SchedulerConfig, row)
    return config


def _not_found(job_id: str) -> NotFound:
    return NotFound(f'job "{job_id}" does not exist')


def _lock(q: _Queries, job_id: str) -> Job:
    row = q.one("lock_job", job_id=job_id)
    if row is None:
        raise _not_found(job_id)
    return _job(row)


# ---------------------------------------------------------------- jobs


def list_jobs(
    db: Database,
    status: JobStatus | None = None,
    job_type: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
) -> list[Job]:
    rows = db.many("list_jobs", status=status, job_type=job_type, user_id=user_id, limit=limit)
    return [_job(r) for r in rows]


def get_job(db: Database, job_id: str) -> Job:
    row = db.one("get_job", job_id=job_id)
    if row is None:
        raise _not_found(job_id)
    return _job(row)


def show_job(db: Database, job_id: str, executions: int = 10) -> JobDetail:
    with db.transaction() as tx:  # one snapshot for the job and its history
        row = tx.one("get_job", job_id=job_id)
        if row is None:
            raise _not_found(job_id)
        edges = tx.many("get_job_dependencies", job_id=job_id)
        runs = tx.many(
            "list_runs",
            job_id=job_id,
            status=None,
            since=None,
            within=None,
            now=None,
            limit=executions,
        )
    return JobDetail(
        job=_job(row),
        runs_after=tuple(JobId(e["parent_job_id"]) for e in edges if e["child_job_id"] == job_id),
        then=tuple(JobId(e["child_job_id"]) for e in edges if e["parent_job_id"] == job_id),
        executions=tuple(_execution(r) for r in runs),
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
                config=_json(spec.config),
                priority=spec.priority,
                enabled=spec.enabled,
                user_id=spec.user_id,
                parameters=_json(spec.parameters),
                max_retries=spec.max_retries,
                timeout_seconds=spec.timeout_seconds,
                scheduled_for=None if spec.at is None else _instant(tx, spec.at, spec.config),
                now=now,
            )
        except Conflict as exc:
            raise Conflict(f'job "{spec.job_id}" already exists') from exc
        for child in children:
            tx.exec("add_job_dependency", parent_job_id=spec.job_id, child_job_id=child)
    assert row is not None
    log.info("job added", extra={"action": "job_added", "job_id": spec.job_id})
    return _job(row)


@dataclass(frozen=True)
class JobChanges:
    """None leaves a field as it is."""

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
        reschedule = changes.at is not None or (
            changes.config is not None and job.status == "pending" and job.frequency_type != "once"
        )
        config = job.frequency_config if changes.config is None else changes.config
        row = tx.one(
            "edit_job",
            job_id=job_id,
            config=_json(changes.config),
            priority=changes.priority,
            parameters=_json(changes.parameters),
            max_retries=changes.max_retries,
            timeout_seconds=changes.timeout_seconds,
            reschedule=reschedule,
            scheduled_for=None if changes.at is None else _instant(tx, changes.at, config),
            now=now,
        )
    assert row is not None
    log.info("job edited", extra={"action": "job_edited", "job_id": job_id})
    return _job(row)


def trigger_job(db: Database, job_id: str, now: datetime | None = None) -> Job:
    """Run now, recorded as ``manual``; the regular schedule is unchanged."""
    with db.transaction() as tx:
        tx.exec("trigger_job", job_id=job_id, now=now)
        row = tx.one("get_job", job_id=job_id)
    assert row is not None
    log.info("job triggered", extra={"action": "job_triggered", "job_id": job_id})
    return _job(row)


def set_job_enabled(db: Database, job_id: str, enabled: bool) -> Job:
    row = db.one("set_job_enabled", job_id=job_id, enabled=enabled)
    if row is None:
        raise _not_found(job_id)
    log.info(
        "job enabled" if enabled else "job disabled",
        extra={"action": "job_enabled" if enabled else "job_disabled", "job_id": job_id},
    )
    return _job(row)


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


# ---------------------------------------------------------------- schedule preview


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _preview(
    db: Database,
    frequency_type: str,
    config: Any,
    count: int,
    first_at: datetime | None,
    occurrence_at: datetime | None,
    first_note: str,
    start: datetime | None,
) -> Preview:
    if not 1 <= count <= MAX_PREVIEW:
        raise ConfigError(f"count must be 1-{MAX_PREVIEW}, got {count}")
    rows = db.many(
        "preview_schedule",
        frequency_type=frequency_type,
        config=_json(config),
        count=count,
        first_at=first_at,
        occurrence_at=occurrence_at,
        start=None if start is None else _instant(db, start, config),
    )
    zone = rows[0]["zone"] if rows else ""
    fires: list[Fire] = []
    previous: timedelta | None = rows[0]["start_offset"] if rows else None
    for row in rows:
        offset: timedelta = row["utc_offset"]
        local: datetime = row["local_at"]
        wanted: datetime | None = row["wanted_local_at"]
        notes = [first_note] if row["n"] == 1 and first_note else []
        if wanted is not None and row["in_gap"] and local != wanted:
            notes.append(f"DST: shifted by gap ({wanted:%H:%M} -> {local:%H:%M})")
        elif wanted is not None and row["ambiguous"]:
            notes.append(f"DST: {local:%H:%M} occurs twice, runs at the first")
        if previous is not None and offset != previous:
            notes.append(f"UTC offset changed {format_offset(previous)} -> {format_offset(offset)}")
        previous = offset
        fires.append(
            Fire(
                n=row["n"],
                at=row["fire_at"].astimezone(UTC),
                local=local.replace(tzinfo=timezone(offset)),
                utc_offset=offset,
                note="; ".join(notes),
            )
        )
    return Preview(zone=zone, fires=tuple(fires))


def preview_schedule(
    db: Database,
    frequency_type: FrequencyType,
    config: Any,
    count: int = 5,
    start: datetime | None = None,
) -> Preview:
    """The next ``count`` fire times of a schedule after ``start`` (default now)."""
    return _preview(db, frequency_type, config, count, None, None, "", start)


def preview_job(
    db: Database, job_id: str, count: int = 5, start: datetime | None = None
) -> Preview:
    """A job's next ``count`` runs: its pending run (which may be a retry or a
    manual run), then its regular occurrences. With ``start``: the regular
    occurrences after ``start`` ("what happens around the March change")."""
    job = get_job(db, job_id)
    first_at = job.scheduled_for if job.status == "pending" and start is None else None
    notes = []
    if first_at is not None and job.next_trigger != "scheduled":
        notes.append(f"{job.next_trigger} run")
    if not job.enabled:
        notes.append("job is disabled")
    return _preview(
        db,
        job.frequency_type,
        job.frequency_config,
        count,
        first_at,
        job.occurrence_at,
        "; ".join(notes),
        start,
    )


# ---------------------------------------------------------------- runs


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
        raise _not_found(job_id)
    after = since if isinstance(since, datetime) else None
    if after is not None:
        after = _instant(db, after, None)
    rows = db.many(
        "list_runs",
        job_id=job_id,
        status=status,
        since=after,
        within=since if isinstance(since, timedelta) else None,
        now=now,
        limit=limit,
    )
    return [_execution(r) for r in rows]


# ---------------------------------------------------------------- scheduler


def get_scheduler_config(db: Database) -> SchedulerConfig:
    row = db.one("get_scheduler_config")
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    return _config(row)


def set_scheduler_enabled(db: Database, enabled: bool) -> SchedulerConfig:
    """Pause or resume dispatch; Postgres NOTIFYs the beat, so it acts at once."""
    row = db.one("set_scheduler_enabled", enabled=enabled)
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    log.info(
        "scheduler resumed" if enabled else "scheduler paused",
        extra={"action": "scheduler_resumed" if enabled else "scheduler_paused"},
    )
    return _config(row)


@dataclass(frozen=True)
class ConfigChanges:
    """None leaves a setting as it is."""

    max_concurrent_jobs: int | None = None
    timezone: str | None = None
    max_retries: int | None = None
    retry_base_seconds: int | None = None
    queue_timeout_seconds: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def update_scheduler_config(
    db: Database, changes: ConfigChanges, now: datetime | None = None
) -> ConfigUpdate:
    """Change settings. A new time zone also moves the future runs of pending
    daily/weekly jobs that follow the scheduler's zone, in the same transaction."""
    if changes.is_empty():
        raise ConfigError("nothing to change")
    with db.transaction() as tx:
        before = tx.one("get_scheduler_config")
        row = tx.one(
            "update_scheduler_config",
            max_concurrent_jobs=changes.max_concurrent_jobs,
            timezone=changes.timezone,
            max_retries=changes.max_retries,
            retry_base_seconds=changes.retry_base_seconds,
            queue_timeout_seconds=changes.queue_timeout_seconds,
        )
        if row is None or before is None:
            raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
        moved = 0
        if row["timezone"] != before["timezone"]:
            result = tx.one("reschedule_zone_jobs", now=now)
            moved = int(result["rescheduled"]) if result else 0
    log.info("scheduler config changed", extra={"action": "config_changed", "rescheduled": moved})
    return ConfigUpdate(config=_config(row), rescheduled=moved)


def read_beat_lock(redis_url: str | None, key_prefix: str) -> BeatLock:
    """Who holds redbeat's lock (``<prefix>:lock``): the active beat, if any."""
    if redis_url is None or redis_url == "":
        return BeatLock("unknown", None, "REDIS_URL is not set")
    import redis  # only this command talks to Redis: the others do not pay for the import

    key = f"{key_prefix}:lock"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        pttl: Any = client.pttl(key)
    except redis.RedisError as exc:
        return BeatLock("unknown", None, f"Redis unreachable: {type(exc).__name__}")
    finally:
        client.close()
    millis = int(pttl)
    if millis == -2:
        return BeatLock("free", None, f"no beat holds {key}")
    if millis == -1:
        return BeatLock("held", None, f"{key} is held with no expiry")
    return BeatLock("held", timedelta(milliseconds=millis), f"{key} is held")


def scheduler_status(
    db: Database,
    redis_url: str | None = None,
    key_prefix: str = "meal-scheduler",
    now: datetime | None = None,
) -> SchedulerStatus:
    row = db.one("scheduler_status", now=now)
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    oldest: datetime | None = row["oldest_due_at"]
    checked: datetime = row["checked_at"]
    return SchedulerStatus(
        checked_at=checked,
        config=_config(row),
        queued=int(row["queued"]),
        running=int(row["running"]),
        due=int(row["due"]),
        oldest_due_at=oldest,
        oldest_due_lag=None if oldest is None else max(checked - oldest, timedelta(0)),
        failures_24h=int(row["failures_24h"]),
        expired_leases=int(row["expired_leases"]),
        beat=read_beat_lock(redis_url, key_prefix),
    )
