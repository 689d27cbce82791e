"""Frozen rows that cross module boundaries (no dicts outside ``tasks.db``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.ids import DispatchId, DispatchKey, ExecutionId, JobId, Priority, TriggerType, UserId


@dataclass(frozen=True)
class ClaimedJob:
    """A job the producer moved from pending to queued, ready to publish."""

    job_id: JobId
    job_type: str
    priority: Priority
    dispatch_id: DispatchId
    trigger_type: TriggerType
    scheduled_for: datetime
    timeout_seconds: int | None = None
    # Starting, renewing and finishing the attempt need it: it travels only
    # in the message, so a worker that did not receive the message cannot.
    dispatch_key: DispatchKey | None = field(default=None, repr=False)

    @property
    def task_id(self) -> str:
        # The Celery task id is the dispatch identity: one per claim, so a
        # redelivered message carries the same id and is recognised.
        return f"dispatch-{self.dispatch_id}"


@dataclass(frozen=True)
class StartedExecution:
    execution_id: ExecutionId
    job_id: JobId
    job_type: str
    user_id: UserId | None
    parameters: Mapping[str, Any]
    attempt_number: int
    trigger_type: TriggerType
    parent_job_id: JobId | None
    timeout_seconds: int | None
    scheduled_for: datetime


@dataclass(frozen=True)
class Reaped:
    kind: str  # "abandoned" (lease or deadline ran out) or "requeued" (never started)
    job_id: JobId
    execution_id: ExecutionId | None
