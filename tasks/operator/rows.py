"""The frozen rows the operator's functions return, and their making from query rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from tasks.ids import (
    ExecutionStatus,
    FrequencyType,
    JobId,
    JobStatus,
    Priority,
    TriggerType,
    UserId,
)


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
    #: job type -> how many live workers handle it (worker_heartbeats)
    live_job_types: Mapping[str, int] = field(default_factory=dict)
    live_workers: int = 0
    #: job type -> jobs waiting (due or queued) that no live worker handles
    unhandled_job_types: Mapping[str, int] = field(default_factory=dict)

    @property
    def active(self) -> int:
        return self.queued + self.running


def _pick(cls: type[Any], row: Mapping[str, Any]) -> Any:
    return cls(**{f.name: row[f.name] for f in fields(cls)})


def job_from_row(row: Mapping[str, Any]) -> Job:
    job: Job = _pick(Job, row)
    return job


def execution_from_row(row: Mapping[str, Any]) -> Execution:
    execution: Execution = _pick(Execution, row)
    return execution


def config_from_row(row: Mapping[str, Any]) -> SchedulerConfig:
    config: SchedulerConfig = _pick(SchedulerConfig, row)
    return config
