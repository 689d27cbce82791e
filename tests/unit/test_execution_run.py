"""The worker's decisions in ``execution.run``, on a stub store and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks import JobContext, job_handler
from tasks.errors import DatabaseUnavailable, InvalidInput
from tasks.execution import Attempt, run
from tasks.ids import DispatchId, JobId
from tasks.leases import LeaseKeeper
from tests.unit.stubs import FakeClock, StubStore, started

ATTEMPT = Attempt(JobId("job-0"), DispatchId(100), "task-1", "w1/1", None)
DB: Any = object()  # never touched: the stub store answers for Postgres


@job_handler("unit_ok")
def ok(ctx: JobContext) -> dict[str, Any]:
    return {"job": ctx.job_id, "n": ctx.parameters.get("n")}


@job_handler("unit_boom")
def boom(ctx: JobContext) -> None:
    raise ValueError("tandoor timed out")


class Leases(LeaseKeeper):
    """The real keeper's bookkeeping, with the renewal thread left out."""

    def __init__(self) -> None:
        super().__init__(DB, 30)
        self.history: list[tuple[str, int]] = []

    def _ensure_thread(self) -> None:
        pass

    def hold(self, execution_id: Any, dispatch_key: Any) -> None:
        self.history.append(("hold", execution_id))
        super().hold(execution_id, dispatch_key)

    def release(self, execution_id: Any) -> bool:
        self.history.append(("release", execution_id))
        return super().release(execution_id)


def test_a_duplicate_message_is_a_no_op(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", None)  # not queued under this dispatch id any more
    leases = Leases()
    assert run(DB, leases, ATTEMPT) == "duplicate"
    assert stub.called("complete_execution") == stub.called("fail_execution") == []
    assert leases.history == []


def test_a_handler_result_is_completed_under_a_lease(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_ok", n=3))
    leases = Leases()
    assert run(DB, leases, ATTEMPT) == "completed"
    [(execution_id, output)] = stub.called("complete_execution")
    assert execution_id == 7 and json.loads(output) == {"job": "job-0", "n": 3}
    assert leases.history == [("hold", 7), ("release", 7)] and leases.held() == frozenset()


def test_a_raising_handler_fails_the_attempt(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_boom"))
    assert run(DB, Leases(), ATTEMPT) == "failed"
    assert stub.called("fail_execution") == [(7, "ValueError: tandoor timed out")]
    assert stub.called("complete_execution") == []


def test_output_postgres_refuses_fails_the_attempt(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_ok"))
    stub.script("complete_execution", InvalidInput("unsupported Unicode escape sequence"))
    assert run(DB, Leases(), ATTEMPT) == "failed"
    [(_, error)] = stub.called("fail_execution")
    assert error.startswith("HandlerError: output could not be stored: unsupported Unicode")


def test_a_missing_handler_fails_with_the_reason(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_nobody_handles_this"))
    assert run(DB, Leases(), ATTEMPT) == "failed"
    [(_, error)] = stub.called("fail_execution")
    assert "no handler registered for job_type 'unit_nobody_handles_this'" in error


def test_an_attempt_reaped_meanwhile_is_lost(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_ok"))
    stub.script("complete_execution", False)  # the rescuer closed it first
    assert run(DB, Leases(), ATTEMPT) == "lost"


def test_recording_waits_out_a_postgres_outage(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_ok"))
    down = DatabaseUnavailable("connection refused")
    stub.script("complete_execution", down, down, down, True)
    assert run(DB, Leases(), ATTEMPT) == "completed"
    assert clock.slept == [0.2, 0.4, 0.8]  # exponential backoff, no busy loop
    assert len(stub.called("complete_execution")) == 4


def test_recording_gives_up_after_its_deadline(stub: StubStore, clock: FakeClock) -> None:
    stub.script("start_execution", started("unit_ok"))
    stub.script("complete_execution", *[DatabaseUnavailable("down")] * 50)
    leases = Leases()
    with pytest.raises(DatabaseUnavailable):
        run(DB, leases, ATTEMPT, record_retry_for=10.0)
    assert sum(clock.slept) <= 10.0 + 5.0 and max(clock.slept) == 5.0
    assert leases.held() == frozenset()  # released: the lease runs out, the rescuer retries
