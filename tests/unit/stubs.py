"""A stub store and a fake clock for the fast tier.

``StubStore`` answers the calls of :mod:`tasks.store` that the beat and the
worker make, with what the test scripted, and records every call. It is not
an SQL fake: it keeps no job state and decides nothing, so a test says what
Postgres answered and checks what the code under test did with it.
``install`` swaps it in for the module's functions (the code looks them up
as ``store.name`` at call time) after checking that each stub takes the
same parameters as the function it replaces, so the stub cannot drift from
the real store unnoticed.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks import store
from tasks.ids import DispatchId, DispatchKey, ExecutionId, JobId
from tasks.models import ClaimedJob, Reaped, StartedExecution

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # a Friday, 06:00 UTC


@dataclass
class FakeClock:
    """``time.monotonic`` / ``perf_counter`` / ``sleep``: sleeping advances it."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def claimed(n: int, job_type: str = "unit_noop") -> list[ClaimedJob]:
    return [
        ClaimedJob(
            job_id=JobId(f"job-{i}"),
            job_type=job_type,
            priority="medium",
            dispatch_id=DispatchId(100 + i),
            trigger_type="scheduled",
            scheduled_for=T0,
        )
        for i in range(n)
    ]


def started(job_type: str, execution_id: int = 7, **params: Any) -> StartedExecution:
    return StartedExecution(
        execution_id=ExecutionId(execution_id),
        job_id=JobId("job-0"),
        job_type=job_type,
        user_id=None,
        parameters=params,
        attempt_number=1,
        trigger_type="scheduled",
        parent_job_id=None,
        timeout_seconds=None,
        scheduled_for=T0,
    )


class StubStore:
    """Scripted answers: a queue per call; an exception in a queue is raised, a
    function is called (with the call's recorded arguments) for its answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: dict[str, deque[Any]] = {}
        self.defaults: dict[str, Any] = {
            "claim_due_jobs": [],
            "release_claims": 0,
            "start_execution": None,
            "complete_execution": True,
            "fail_execution": True,
            "renew_leases": [],
            "reap_expired": [],
            "next_due_at": (None, T0),
            "database_uptime": timedelta(days=1),
        }

    def script(self, name: str, *answers: Any) -> None:
        """The next calls of ``name`` answer these, in order; then the default."""
        self.answers.setdefault(name, deque()).extend(answers)

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]

    def _answer(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        queue = self.answers.get(name)
        answer = queue.popleft() if queue else self.defaults[name]
        if isinstance(answer, BaseException):
            raise answer
        return answer(*args) if callable(answer) else answer

    # One method per store function, with its parameters (checked by install).

    def claim_due_jobs(self, db: Any, limit: int, now: datetime | None = None) -> Any:
        return self._answer("claim_due_jobs", limit)

    def release_claims(self, db: Any, dispatch_ids: Sequence[DispatchId]) -> Any:
        return self._answer("release_claims", list(dispatch_ids))

    def start_execution(
        self,
        db: Any,
        job_id: JobId,
        dispatch_id: DispatchId,
        dispatch_key: DispatchKey | None,
        worker: str,
        celery_task_id: str,
        lease_seconds: int,
        now: datetime | None = None,
        timeout_seconds: int | None = None,
    ) -> Any:
        return self._answer("start_execution", job_id, dispatch_id, timeout_seconds)

    def complete_execution(
        self,
        db: Any,
        execution_id: ExecutionId,
        dispatch_key: DispatchKey | None,
        output_json: str | None,
        now: Any = None,
    ) -> Any:
        return self._answer("complete_execution", execution_id, output_json)

    def fail_execution(
        self,
        db: Any,
        execution_id: ExecutionId,
        dispatch_key: DispatchKey | None,
        error: str,
        final: bool = False,
        now: datetime | None = None,
    ) -> Any:
        return self._answer("fail_execution", execution_id, error)

    def renew_leases(
        self,
        db: Any,
        held: Mapping[ExecutionId, DispatchKey | None],
        lease_seconds: int,
        now: datetime | None = None,
    ) -> Any:
        return self._answer("renew_leases", sorted(held))

    def reap_expired(self, db: Any, limit: int = 500, now: datetime | None = None) -> Any:
        return self._answer("reap_expired")

    def next_due_at(self, db: Any) -> Any:
        return self._answer("next_due_at")

    def database_uptime(self, db: Any) -> Any:
        return self._answer("database_uptime")


def _params(func: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p != "self"]


def install(monkeypatch: pytest.MonkeyPatch, stub: StubStore) -> StubStore:
    for name in stub.defaults:
        real = getattr(store, name)
        ours = getattr(stub, name)
        assert _params(ours) == _params(real), f"stub {name} drifted from tasks.store.{name}"
        monkeypatch.setattr(store, name, ours)
    return stub


def reaped(kind: str, job: str = "job-9") -> Reaped:
    return Reaped(kind=kind, job_id=JobId(job), execution_id=ExecutionId(9))


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
