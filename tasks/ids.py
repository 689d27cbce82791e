"""Typed identifiers and the literal sets that mirror the SQL enums."""

from __future__ import annotations

from typing import Literal, NewType

JobId = NewType("JobId", str)
ExecutionId = NewType("ExecutionId", int)
DispatchId = NewType("DispatchId", int)
# The per-claim secret only the broker message carries (64 hex digits).
DispatchKey = NewType("DispatchKey", str)
UserId = NewType("UserId", int)

Priority = Literal["low", "medium", "high", "critical"]
JobStatus = Literal["pending", "queued", "running", "completed", "failed"]
FrequencyType = Literal["weekly", "daily", "every_n_hours", "once"]
TriggerType = Literal["scheduled", "manual", "retry", "dependent"]
ExecutionStatus = Literal["running", "completed", "failed", "abandoned"]

PRIORITIES: tuple[Priority, ...] = ("critical", "high", "medium", "low")
FREQUENCY_TYPES: tuple[FrequencyType, ...] = ("weekly", "daily", "every_n_hours", "once")
EXECUTION_STATUSES: tuple[ExecutionStatus, ...] = ("running", "completed", "failed", "abandoned")

# Redis priorities: kombu's Redis transport serves the lowest number first.
BROKER_PRIORITY: dict[str, int] = {"critical": 0, "high": 3, "medium": 6, "low": 9}
